"""Tests of nnscratch.images.augment: exact special cases, geometry conventions, determinism, validation."""

from __future__ import annotations

import gzip

import numpy as np
import pytest

from nnscratch.errors import NNScratchError
from nnscratch.images.augment import AugmentationError, Augmenter, affine_matrices, random_affine, warp_affine

CENTRE = 13.5


def blob(row: float, col: float, sigma: float = 2.0, n: int = 1) -> np.ndarray:
    """(n, 28, 28) float32 Gaussian blobs centred at (row, col), peak 1."""
    r, c = np.mgrid[0:28, 0:28]
    img = np.exp(-((r - row) ** 2 + (c - col) ** 2) / (2 * sigma**2)).astype(np.float32)
    return np.repeat(img[None], n, axis=0)


def centre_of_mass(imgs: np.ndarray) -> np.ndarray:
    """(n, 2) centre of mass (row, col) of (n, 28, 28) images."""
    r, c = np.mgrid[0:28, 0:28]
    mass = imgs.sum(axis=(1, 2))
    return np.stack([(imgs * r).sum(axis=(1, 2)) / mass, (imgs * c).sum(axis=(1, 2)) / mass], axis=1)


def shifted_with_zeros(x: np.ndarray, dy: int, dx: int) -> np.ndarray:
    """np.roll of (n, h, w) images by (dy, dx), with zeros instead of the wrapped-around pixels."""
    y = np.roll(x, (dy, dx), axis=(1, 2))
    if dy > 0:
        y[:, :dy] = 0
    elif dy < 0:
        y[:, dy:] = 0
    if dx > 0:
        y[:, :, :dx] = 0
    elif dx < 0:
        y[:, :, dx:] = 0
    return y


@pytest.fixture
def images(rng: np.random.Generator) -> np.ndarray:
    return rng.random((6, 28, 28), dtype=np.float32)


# --- exact special cases -----------------------------------------------------------------------------


def test_identity_map_returns_input_exactly(images, rng):
    assert np.array_equal(warp_affine(images, np.eye(2), [0.0, 0.0]), images)
    off = Augmenter(max_shift=0, max_rotation=0, scale_range=(1, 1), shear=0)
    assert off.is_identity and not Augmenter().is_identity
    flat = images.reshape(6, 784)
    assert np.array_equal(off(flat, rng), flat)
    assert np.array_equal(off(images, rng), images)


@pytest.mark.parametrize("dy, dx", [(1, 0), (0, -1), (2, 3), (-3, 2), (-1, -4), (27, 0), (0, -28)])
def test_integer_shift_is_exact_roll_with_zero_fill(images, dy, dx):
    got = warp_affine(images, np.eye(2), [dy, dx])
    assert np.array_equal(got, shifted_with_zeros(images, dy, dx))


def test_each_image_gets_its_own_shift(images):
    shifts = np.array([[0, 0], [1, 0], [0, 1], [-2, -2], [3, -1], [0, 5]])
    got = warp_affine(images, np.eye(2), shifts)
    for i, (dy, dx) in enumerate(shifts):
        assert np.array_equal(got[i], shifted_with_zeros(images[i : i + 1], dy, dx)[0])


@pytest.mark.parametrize("degrees, k", [(90, 1), (-90, -1), (180, 2), (270, 3), (-270, 1)])
def test_right_angle_rotations_match_rot90_counter_clockwise(images, degrees, k):
    got = warp_affine(images, affine_matrices(degrees), [0, 0])
    assert np.array_equal(got, np.rot90(images, k, axes=(1, 2)))


def test_non_square_images_rotate_and_shift_with_zero_fill(rng):
    x = rng.random((3, 5, 8), dtype=np.float32)
    got = warp_affine(x, affine_matrices(180), [0, 0])
    assert np.array_equal(got, x[:, ::-1, ::-1])
    assert np.array_equal(warp_affine(x, np.eye(2), [1, -2]), shifted_with_zeros(x, 1, -2))


# --- geometry: centre of mass, mass, scale, direction conventions ------------------------------------


def test_rotation_and_scaling_about_the_centre_keep_a_centred_blob_in_place():
    x = blob(CENTRE, CENTRE, n=4)
    mats = affine_matrices([7.0, -33.0, 45.0, 120.0], scale=[1.0, 1.1, 0.9, 1.0], shear=[0, 5, 0, -8])
    com = centre_of_mass(warp_affine(x, mats, [0, 0]))
    np.testing.assert_allclose(com, CENTRE, atol=0.05)


def test_off_centre_blob_follows_the_forward_map():
    # A blob 6 px above the centre, turned 30 degrees counter-clockwise: it moves up-left on screen.
    x = blob(CENTRE - 6, CENTRE, sigma=1.5)
    mat = affine_matrices(30.0)[0]
    expected = mat @ np.array([-6.0, 0.0]) + CENTRE + np.array([0.5, -1.0])
    com = centre_of_mass(warp_affine(x, mat, [0.5, -1.0]))[0]
    np.testing.assert_allclose(com, expected, atol=0.05)
    assert com[0] < CENTRE - 4 and com[1] < CENTRE - 2.5  # counter-clockwise: from the top towards the left


def test_subpixel_shift_moves_centre_of_mass_and_keeps_mass():
    x = blob(CENTRE, CENTRE)
    y = warp_affine(x, np.eye(2), [0.25, -1.5])
    np.testing.assert_allclose(centre_of_mass(y)[0], [CENTRE + 0.25, CENTRE - 1.5], atol=1e-3)
    np.testing.assert_allclose(y.sum(), x.sum(), rtol=1e-4)


def test_scale_above_one_enlarges_the_digit():
    x = blob(CENTRE, CENTRE, sigma=2.0)
    r, c = np.mgrid[0:28, 0:28]
    for s in (0.8, 1.25):
        y = warp_affine(x, affine_matrices(0.0, scale=s), [0, 0])[0]
        spread = np.sqrt((y * ((r - CENTRE) ** 2 + (c - CENTRE) ** 2)).sum() / y.sum() / 2)
        assert spread == pytest.approx(2.0 * s, rel=0.05)


def test_positive_shear_moves_lower_rows_right():
    x = np.zeros((1, 28, 28), np.float32)
    x[0, 4:24, 13:15] = 1.0  # vertical bar through the centre
    y = warp_affine(x, affine_matrices(0.0, shear=20.0), [0, 0])[0]
    cols = np.arange(28)
    top, bottom = y[6], y[21]
    assert (bottom * cols).sum() / bottom.sum() > (top * cols).sum() / top.sum() + 4


# --- random augmentation -----------------------------------------------------------------------------


def test_same_seed_gives_bit_identical_output_and_other_seeds_differ(images):
    aug = Augmenter(shear=5.0)
    a = aug(images, np.random.default_rng(7))
    b = aug(images, np.random.default_rng(7))
    c = aug(images, np.random.default_rng(8))
    assert np.array_equal(a, b)
    assert not np.array_equal(a, c)


def test_generator_consumption_depends_only_on_batch_size(images):
    for aug in (Augmenter(), Augmenter(0, 0, (1, 1))):
        used, ref = np.random.default_rng(3), np.random.default_rng(3)
        aug(images, used)
        ref.random((len(images), 5))
        assert used.random() == ref.random()


def test_every_image_gets_a_different_map():
    x = blob(CENTRE - 3, CENTRE + 2, n=16)
    y = Augmenter()(x, np.random.default_rng(0))
    flat = y.reshape(16, -1)
    assert len({row.tobytes() for row in flat}) == 16


def test_sampled_parameters_stay_in_their_ranges():
    aug = Augmenter(max_shift=1.5, max_rotation=12.0, scale_range=(0.8, 1.2))
    mats, shifts = aug.sample(5000, np.random.default_rng(0))
    assert mats.shape == (5000, 2, 2) and shifts.shape == (5000, 2)
    assert -1.5 <= shifts.min() < -1.45 and 1.45 < shifts.max() <= 1.5  # both directions, both axes
    assert np.allclose(shifts.mean(axis=0), 0.0, atol=0.05)
    scale = np.sqrt(np.linalg.det(mats))
    assert 0.8 <= scale.min() < 0.81 and 1.19 < scale.max() <= 1.2 + 1e-12
    angle = np.degrees(np.arctan2(mats[:, 1, 0], mats[:, 0, 0]))  # counter-clockwise positive
    assert -12.0 - 1e-9 <= angle.min() < -11.9 and 11.9 < angle.max() <= 12.0 + 1e-9
    np.testing.assert_allclose(mats[:, 0, 1], -mats[:, 1, 0])  # no shear: a rotation times a scale


def test_output_is_float32_in_unit_interval_with_the_input_shape(rng):
    x = rng.random((50, 784), dtype=np.float32)
    x[:, ::3] = 1.0
    x[:, 1::7] = 0.0
    strong = Augmenter(max_shift=4, max_rotation=180, scale_range=(0.5, 2.0), shear=30)
    y = strong(x, rng)
    assert y.dtype == np.float32 and y.shape == (50, 784)
    assert y.min() >= 0.0 and y.max() <= 1.0
    ones = strong(np.ones((50, 28, 28), np.float32), rng)
    assert ones.max() == 1.0 and ones.min() == 0.0  # inside stays exactly 1, corners come from outside


def test_flat_and_square_inputs_agree(images):
    a = Augmenter()(images, np.random.default_rng(5))
    b = Augmenter()(images.reshape(6, 784), np.random.default_rng(5))
    assert np.array_equal(a.reshape(6, 784), b)


def test_uint8_and_float64_inputs_give_float32(rng):
    u8 = rng.integers(0, 256, size=(4, 28, 28), dtype=np.uint8)
    as_float = u8.astype(np.float32) / np.float32(255)
    aug = Augmenter()
    a = aug(u8, np.random.default_rng(1))
    assert a.dtype == np.float32 and np.array_equal(a, aug(as_float, np.random.default_rng(1)))
    b = aug(as_float.astype(np.float64), np.random.default_rng(1))
    assert b.dtype == np.float32 and np.array_equal(a, b)


def test_out_argument_and_in_place_use(rng):
    x = rng.random((300, 784), dtype=np.float32)  # more than one internal chunk
    expected = Augmenter()(x, np.random.default_rng(2))
    out = np.empty_like(x)
    assert Augmenter()(x, np.random.default_rng(2), out=out) is out
    assert np.array_equal(out, expected)
    random_affine(x, np.random.default_rng(2), out=x)  # same defaults as Augmenter()
    assert np.array_equal(x, expected)


def test_empty_batch():
    y = Augmenter()(np.zeros((0, 784), np.float32), np.random.default_rng(0))
    assert y.shape == (0, 784) and y.dtype == np.float32


# --- validation ----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs, message",
    [
        ({"max_shift": -1}, "max_shift"),
        ({"max_shift": float("nan")}, "max_shift"),
        ({"max_rotation": -5}, "max_rotation"),
        ({"max_rotation": 200}, "max_rotation"),
        ({"scale_range": (0.0, 1.1)}, "scale_range"),
        ({"scale_range": (1.1, 0.9)}, "scale_range"),
        ({"scale_range": (0.9,)}, "scale_range"),
        ({"scale_range": 1.0}, "scale_range"),
        ({"scale_range": (0.9, float("inf"))}, "scale_range"),
        ({"shear": 90}, "shear"),
        ({"shear": "lots"}, "shear"),
    ],
)
def test_bad_parameters_raise_clear_errors(kwargs, message):
    with pytest.raises(AugmentationError, match=message) as info:
        Augmenter(**kwargs)
    assert isinstance(info.value, NNScratchError) and isinstance(info.value, ValueError)


@pytest.mark.parametrize(
    "x, message",
    [
        (np.zeros((4, 783), np.float32), "shape"),
        (np.zeros(784, np.float32), "shape"),
        (np.zeros((2, 1, 28, 28), np.float32), "shape"),
        (np.zeros((4, 784), np.int64), "dtype"),
        ([[0.0] * 784], "NumPy array"),
    ],
)
def test_bad_images_raise_clear_errors(x, message):
    with pytest.raises(AugmentationError, match=message):
        Augmenter()(x, np.random.default_rng(0))


def test_bad_out_and_bad_maps_raise(images):
    with pytest.raises(AugmentationError, match="out must be"):
        Augmenter()(images, np.random.default_rng(0), out=np.empty((6, 784), np.float32))
    with pytest.raises(AugmentationError, match="out must be"):
        Augmenter()(images, np.random.default_rng(0), out=np.empty(images.shape, np.float64))
    with pytest.raises(AugmentationError, match="invertible"):
        warp_affine(images, np.zeros((2, 2)), [0, 0])
    with pytest.raises(AugmentationError, match="finite"):
        warp_affine(images, np.eye(2), [np.nan, 0])


# --- real digits ----------------------------------------------------------------------------------------


def test_real_digits_keep_their_ink_and_stay_near_the_centre(mnist_path):
    raw = gzip.decompress((mnist_path / "train-images-idx3-ubyte.gz").read_bytes())
    x = np.frombuffer(raw, np.uint8, offset=16)[: 2000 * 784].reshape(2000, 28, 28)
    y = Augmenter()(x, np.random.default_rng(0))
    x = x / np.float32(255)
    ratio = y.sum(axis=(1, 2)) / x.sum(axis=(1, 2))
    assert 0.7 < ratio.min() and ratio.max() < 1.4  # scale 0.9-1.1 changes ink by about s**2
    moved = np.linalg.norm(centre_of_mass(y) - centre_of_mass(x), axis=1)
    assert moved.max() < 4.0 and moved.mean() > 0.5  # shifts of up to 2 px per axis plus rotation
