"""Phone photos of digits are read, whatever the light and paper; photos of blank paper are refused.

The photos are synthetic (tests/photos.py): dim and uneven light, grey/beige/lined paper, blue ink and
pencil, blur, JPEG noise, tight crops. They are made with ``photos.TEST_SEED``; the preprocessing's
thresholds were chosen on photos made with another seed (``benchmarks/tune_preprocess.py``).
"""

from __future__ import annotations

import io

import numpy as np
import pytest

pytest.importorskip("PIL.Image")

from PIL import Image  # noqa: E402

import photos  # noqa: E402
from nnscratch.errors import ImageError  # noqa: E402
from nnscratch.images.preprocess import preprocess_image  # noqa: E402

SCENES = photos.scenes(photos.TEST_SEED)
BLANKS = photos.blank_scenes(photos.TEST_SEED)


def _ids(items):
    return [name for name, _, _ in items]


@pytest.fixture(scope="module")
def reader():
    """The tutorial network after one epoch on the real MNIST training set (about 97 % on its test
    set), or None when real MNIST is not available (then only the comparison with the clean digit runs)."""
    from conftest import mnist_dir
    from nnscratch.data import load_mnist
    from nnscratch.training.presets import build_network

    if mnist_dir() is None:
        return None
    ds = load_mnist(mnist_dir(), download=False)
    net = build_network("tutorial", epochs=1, seed=0, verbose=False)
    net.train(ds.x_train, ds.y_train)
    assert net.compute_accuracy(ds.x_test, ds.y_test) > 0.95
    return net


def test_the_reported_photo_is_read() -> None:
    """Issue 10, item 11: a pen stroke (ink near grey 30) on grey paper (near 120) in dim light, JPEG."""
    name, scene, seed = SCENES[0]
    data = photos.photo(scene, seed)
    grey = np.asarray(Image.open(io.BytesIO(data)).convert("L"), dtype=np.float64)
    paper, ink = np.percentile(grey, 50), np.percentile(grey, 0.5)
    assert 105 <= paper <= 135 and 20 <= ink <= 45  # the scene is what the issue describes
    out = preprocess_image(data)
    assert photos.similarity(out, preprocess_image(photos.photo(scene, seed, clean=True))) > 0.9


@pytest.mark.parametrize("name, scene, seed", SCENES, ids=_ids(SCENES))
def test_photo_is_read_as_its_digit(name, scene, seed, reader) -> None:
    """Preprocessing succeeds, gives what the same digit photographed cleanly gives, and the network
    reads the right digit (as it does on the clean photo: the drawing is a readable digit)."""
    out = preprocess_image(photos.photo(scene, seed))
    clean = preprocess_image(photos.photo(scene, seed, clean=True))
    assert out.shape == (28, 28) and out.max() == pytest.approx(1.0)
    assert photos.similarity(out, clean) > 0.75
    if reader is not None:
        assert int(reader.predict(clean.reshape(1, -1))[0]) == scene.digit
        assert int(reader.predict(out.reshape(1, -1))[0]) == scene.digit


@pytest.mark.parametrize("name, scene, seed", BLANKS, ids=_ids(BLANKS))
def test_photo_of_blank_paper_is_refused(name, scene, seed) -> None:
    with pytest.raises(ImageError, match="contains no ink"):
        preprocess_image(photos.photo(scene, seed))
