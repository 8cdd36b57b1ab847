"""nnscratch.inputs: one rule for pixels and labels; nnscratch._optional: one rule for optional imports."""

from __future__ import annotations

import sys

import numpy as np
import pytest

from nnscratch import Network
from nnscratch._optional import MissingDependency, optional, require
from nnscratch.errors import ImageError, NNScratchError
from nnscratch.inputs import (
    as_float_input,
    check_pixels,
    is_one_image,
    labels_from,
    one_hot,
    scale_pixels,
    targets_like,
)


def test_integer_pixels_are_divided_by_255_floats_pass_unchanged(rng):
    pixels = rng.integers(0, 256, (4, 10), dtype=np.uint8)
    expected = pixels.astype(np.float32) / np.float32(255)
    np.testing.assert_array_equal(scale_pixels(pixels), expected)
    np.testing.assert_array_equal(scale_pixels(pixels.astype(np.int64)), expected)  # any integer type
    floats = rng.normal(size=(4, 10))  # standardised features are floats too: taken as they are
    assert scale_pixels(floats, np.float64) is floats
    np.testing.assert_array_equal(scale_pixels(floats), floats.astype(np.float32))
    assert scale_pixels(pixels, np.float64).dtype == np.float64


def test_scaling_into_a_view_of_a_wider_buffer(rng):
    pixels = rng.integers(0, 256, (3, 2, 4), dtype=np.uint8)
    buffer = np.ones((3, 9), np.float32)
    assert scale_pixels(pixels, out=buffer[:, :8]) is not None
    np.testing.assert_array_equal(buffer[:, :8], pixels.reshape(3, 8) / np.float32(255))
    assert (buffer[:, 8] == 1).all()  # the bias column is untouched


def test_the_pixel_check_names_what_is_wrong():
    assert check_pixels(np.array([0, 255]), "x").dtype == np.int64
    with pytest.raises(ValueError, match="x: integer pixel values must lie in 0..255"):
        check_pixels(np.array([0, 256]), "x")
    with pytest.raises(ValueError, match="NaN or infinite"):
        check_pixels(np.array([0.5, np.nan]))
    with pytest.raises(ValueError, match=r"must already lie in \[0, 1\]"):
        check_pixels(np.array([0.5, 2.0]), unit_range=True)
    assert check_pixels(np.array([-3.0, 2.0])).size == 2  # features need not be in [0, 1]
    with pytest.raises(TypeError, match="uint8 pixels or floats"):
        check_pixels(np.array(["a"]))


def test_one_image_or_a_batch_without_mnist_literals(rng):
    image = rng.integers(0, 256, (16, 16), dtype=np.uint8)
    assert is_one_image(image, 256) and not is_one_image(image, 16)
    assert as_float_input(image, n_features=256).shape == (256,)
    assert as_float_input(rng.random((5, 16, 16))).shape == (5, 256)
    assert as_float_input(rng.random((1, 256)), n_features=256).shape == (1, 256)
    net = Network([256, 8, 3], seed=0)
    batch = np.stack([image, image])
    assert net.predict(image).shape == () and net.predict(batch).shape == (2,)
    np.testing.assert_allclose(net.predict_proba(image), net.predict_proba(batch)[0], rtol=1e-6)


def test_labels_and_one_hot():
    np.testing.assert_array_equal(labels_from(np.eye(4)[[2, 0]], 4), [2, 0])
    np.testing.assert_array_equal(labels_from(np.array([1.0, 3.0])), [1, 3])
    with pytest.raises(ValueError, match="0..3"):
        labels_from(np.array([4]), 4)
    with pytest.raises(ValueError, match="whole numbers"):
        labels_from(np.array([0.5]))
    np.testing.assert_array_equal(one_hot(np.array([1, 0]), 3), [[0, 1, 0], [1, 0, 0]])
    assert targets_like(np.array(2), np.zeros(3)).tolist() == [0, 0, 1]


def test_a_missing_dependency_is_one_line_naming_the_extra(monkeypatch):
    pytest.importorskip("PIL.Image")  # a submodule imported before must not hide the missing package
    monkeypatch.setitem(sys.modules, "PIL", None)
    with pytest.raises(MissingDependency) as info:
        require("PIL.Image", "plots", "reading images")
    message = str(info.value)
    assert message == "reading images needs Pillow, which is not installed: pip install 'nnscratch[plots]'"
    assert isinstance(info.value, ImportError) and isinstance(info.value, NNScratchError)
    with pytest.raises(ImageError, match="needs Pillow"):
        require("PIL.Image", "plots", "reading images", error=ImageError)
    assert optional("PIL.Image") is None
    assert optional("numpy") is np
