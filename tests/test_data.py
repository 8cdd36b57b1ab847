"""Dataset loading: sources in order, verification, the decoded .npy cache, and the helpers."""

from __future__ import annotations

import logging
import os
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest

from datahelpers import Tiny, find_mnist, make_tiny
from nnscratch.data import (
    ENV_VAR,
    REGISTRY,
    Dataset,
    flatten,
    load_dataset,
    load_mnist,
    scale,
    to_categorical,
    train_test_split,
)
from nnscratch.data.registry import MNIST, cache_dir, cache_root, get_spec
from nnscratch.errors import DataError
from nnscratch.inputs import as_float_input, targets_like

MNIST_TRAIN_COUNTS = [5923, 6742, 5958, 6131, 5842, 5421, 5918, 6265, 5851, 5949]
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]
FASHION_DIR = Path("/usr/share/datasets/fashion-mnist")


pytestmark = pytest.mark.usefixtures("isolated_cache")


@pytest.fixture
def tiny(monkeypatch) -> Tiny:
    t = make_tiny()
    monkeypatch.setitem(REGISTRY, t.spec.name, t.spec)
    return t


def _same_data(ds: Dataset, tiny: Tiny) -> bool:
    got = {
        "train-images-idx3-ubyte": ds.x_train,
        "train-labels-idx1-ubyte": ds.y_train,
        "t10k-images-idx3-ubyte": ds.x_test,
        "t10k-labels-idx1-ubyte": ds.y_test,
    }
    return all(np.array_equal(got[k], v) for k, v in tiny.arrays.items())


def test_cache_location_follows_xdg(isolated_cache, monkeypatch) -> None:
    assert cache_root() == isolated_cache
    monkeypatch.setenv("XDG_CACHE_HOME", "relative/path")  # not absolute: ignored, as the spec says
    assert cache_root() == Path.home() / ".cache" / "nnscratch"


def test_load_from_data_dir_then_warm_from_decoded_cache(tmp_path, tiny, isolated_cache) -> None:
    src = tiny.write(tmp_path / "src")
    ds = load_dataset("tiny", src, download=False)
    assert ds.verified and ds.source == str(src) and ds.name == "tiny"
    assert _same_data(ds, tiny)
    assert ds.checksums == {f.name: f.md5 for f in tiny.spec.files.values()}
    assert ds.x_train.dtype == np.uint8 and ds.x_train.shape == (12, 28, 28)
    assert ds.class_counts().tolist() == [2, 2, 1, 1, 1, 1, 1, 1, 1, 1]
    store = isolated_cache / "tiny"
    assert sorted(p.name for p in store.iterdir() if p.suffix == ".npy") == sorted(
        f"{f.name}.npy" for f in tiny.spec.files.values()
    )
    assert sorted(p.name for p in src.iterdir()) == sorted(f"{n}.gz" for n in tiny.raw)  # source untouched
    again = load_dataset("tiny", src, download=False)
    assert isinstance(again.x_train, np.memmap) and _same_data(again, tiny)
    assert again.verified and again.source == str(src)
    again.x_train[0, 0, 0] ^= 0xFF  # copy-on-write: allowed, and the cache stays intact
    assert _same_data(load_dataset("tiny", src, download=False), tiny)


def test_tampered_decoded_copy_is_detected_and_rebuilt(tmp_path, tiny, isolated_cache, caplog) -> None:
    src = tiny.write(tmp_path / "src")
    load_dataset("tiny", src, download=False)
    npy = isolated_cache / "tiny" / "train-images-idx3-ubyte.npy"
    st = npy.stat()
    data = bytearray(npy.read_bytes())
    data[-1] ^= 0x01  # one pixel, same size
    npy.write_bytes(bytes(data))
    os.utime(npy, ns=(st.st_atime_ns, st.st_mtime_ns))  # and the same mtime: only the content tells
    with caplog.at_level(logging.WARNING):
        ds = load_dataset("tiny", src, download=False)
    assert "stale or damaged" in caplog.text
    assert ds.verified and _same_data(ds, tiny)
    assert np.load(npy)[-1, -1, -1] == tiny.arrays["train-images-idx3-ubyte"][-1, -1, -1]  # rebuilt


def test_changed_named_source_fails_naming_the_file_not_served_from_cache(
    tmp_path, tiny, isolated_cache
) -> None:
    src = tiny.write(tmp_path / "src")
    load_dataset("tiny", src, download=False)  # the user cache now holds verified decoded copies
    other = make_tiny(seed=7)  # well-formed files with other content, and the same size
    (src / "t10k-images-idx3-ubyte.gz").write_bytes(other.gz("t10k-images-idx3-ubyte"))
    with pytest.raises(
        DataError,
        match=r"t10k-images-idx3-ubyte\.gz fails its checksum \(the decompressed "
        r"file has md5 [0-9a-f]{32}, expected " + tiny.spec.test_images.md5,
    ):
        load_dataset("tiny", src, download=False)
    assert load_dataset("tiny", download=False).source == str(isolated_cache / "tiny")  # named none: cache


def test_uncompressed_files_in_a_subdirectory_named_after_the_dataset(tmp_path, tiny) -> None:
    tiny.write(tmp_path / "data" / "tiny", compress=False)
    ds = load_dataset("tiny", tmp_path / "data", download=False)
    assert ds.verified and ds.source == str(tmp_path / "data" / "tiny") and _same_data(ds, tiny)


def test_sources_are_tried_in_order(tmp_path, tiny, isolated_cache, monkeypatch) -> None:
    system = tiny.write(tmp_path / "system")
    monkeypatch.setitem(REGISTRY, "tiny", replace(tiny.spec, system_dirs=(system,)))
    assert load_dataset("tiny", download=False).source == str(system)
    env, arg = tiny.write(tmp_path / "env"), tiny.write(tmp_path / "arg")
    monkeypatch.setenv(ENV_VAR, str(env))
    assert load_dataset("tiny", download=False).source == str(env)
    assert load_dataset("tiny", arg, download=False).source == str(arg)
    monkeypatch.delenv(ENV_VAR)
    # the user cache now holds verified decoded copies, and it comes before system copies
    assert load_dataset("tiny", download=False).source == str(isolated_cache / "tiny")


def test_cache_serves_verified_decoded_copies_alone(tmp_path, tiny, isolated_cache) -> None:
    load_dataset("tiny", tiny.write(tmp_path / "src"), download=False)
    ds = load_dataset("tiny", download=False)  # no source given: the verified .npy copies suffice
    assert ds.verified and ds.source == str(isolated_cache / "tiny") and _same_data(ds, tiny)


def test_a_failing_fallback_source_falls_through_to_the_next(
    tmp_path, tiny, isolated_cache, monkeypatch
) -> None:
    bad = tiny.write(isolated_cache / "tiny")  # the user cache holds a broken file
    (bad / "train-labels-idx1-ubyte.gz").write_bytes(b"\x1f\x8b not really gzip")
    system = tiny.write(tmp_path / "system")
    monkeypatch.setitem(REGISTRY, "tiny", replace(tiny.spec, system_dirs=(system,)))
    ds = load_dataset("tiny", download=False)
    assert ds.source == str(system) and ds.verified


def _fallbacks_ready(tmp_path: Path, tiny: Tiny, monkeypatch) -> None:
    """A verified system copy and a verified user cache: what a named directory must never fall back to."""
    monkeypatch.setitem(REGISTRY, "tiny", replace(tiny.spec, system_dirs=(tiny.write(tmp_path / "sys"),)))
    load_dataset("tiny", download=False)


def _truncate(directory: Path) -> None:
    path = directory / "train-images-idx3-ubyte.gz"
    path.write_bytes(path.read_bytes()[:200])


@pytest.mark.parametrize(
    ("setup", "message"),
    [
        pytest.param(lambda d: None, r": the directory does not exist", id="missing"),
        pytest.param(lambda d: d.write_text("x"), r": it is a file, not a directory", id="a-file"),
        pytest.param(
            lambda d: d.mkdir(),
            r": the directory is empty \(it needs train-images-idx3-ubyte\[\.gz\], ",
            id="empty",
        ),
        pytest.param(
            lambda d: (d.mkdir(), (d / "notes.txt").write_text("x")),
            r": missing train-images-idx3-ubyte\[\.gz\], .* \(the directory holds: notes\.txt\)",
            id="other-files",
        ),
        pytest.param(
            lambda d: _truncate(make_tiny().write(d)),
            r": .*train-images-idx3-ubyte\.gz: the gzip stream is truncated",
            id="truncated",
        ),
    ],
)
def test_a_named_directory_is_the_only_source(tmp_path, tiny, monkeypatch, setup, message) -> None:
    _fallbacks_ready(tmp_path, tiny, monkeypatch)
    named = tmp_path / "named"
    setup(named)
    with pytest.raises(
        DataError, match=r"cannot load dataset 'tiny' from \S+named \(--data-dir / data_dir\)" + message
    ) as err:
        load_dataset("tiny", named)  # download allowed: it must not be tried either (no mirrors here)
    assert "a named directory is the only source tried" in str(err.value)
    assert "\n" not in str(err.value)


def test_nnscratch_data_is_a_named_directory_too(tmp_path, tiny, monkeypatch) -> None:
    _fallbacks_ready(tmp_path, tiny, monkeypatch)
    monkeypatch.setenv(ENV_VAR, str(tmp_path / "nowhere"))
    with pytest.raises(DataError, match=r"from .*nowhere \(\$NNSCRATCH_DATA\): the directory does not exist"):
        load_dataset("tiny")
    monkeypatch.setenv(ENV_VAR, str(tiny.write(tmp_path / "env")))
    assert load_dataset("tiny").source == str(tmp_path / "env")


def test_files_of_another_registered_dataset_are_named(tmp_path, tiny, monkeypatch) -> None:
    other = make_tiny(name="tiny-fashion", seed=9)
    monkeypatch.setitem(REGISTRY, other.spec.name, other.spec)
    src = other.write(tmp_path / "src")
    with pytest.raises(
        DataError, match="these are the tiny-fashion files, not tiny: add --dataset tiny-fashion"
    ):
        load_dataset("tiny", src, download=False)
    assert load_dataset("tiny-fashion", src, download=False).verified


def test_verify_false_returns_unverified_data_only_when_nothing_verifies(tmp_path, tiny) -> None:
    other = make_tiny(seed=3)
    src = other.write(tmp_path / "src")  # same names and shapes, other content
    msg = (
        r"none of the four files has the tiny checksums \(another dataset or version\?\), "
        r"e\.g\. train-images-idx3-ubyte\.gz fails its checksum"
    )
    with pytest.raises(DataError, match=msg):
        load_dataset("tiny", src, download=False)
    ds = load_dataset("tiny", src, download=False, verify=False)
    assert not ds.verified and _same_data(ds, other)
    assert ds.checksums["train-images-idx3-ubyte"] != tiny.spec.train_images.md5
    assert not (cache_dir("tiny") / "train-images-idx3-ubyte.npy").exists()  # unverified data is not cached


def test_every_source_is_listed_when_all_fail(tmp_path, tiny, monkeypatch) -> None:
    partial = tiny.write(tmp_path / "partial")
    (partial / "t10k-labels-idx1-ubyte.gz").unlink()
    monkeypatch.setitem(REGISTRY, "tiny", replace(tiny.spec, system_dirs=(tmp_path / "sys", partial)))
    with pytest.raises(DataError) as err:
        load_dataset("tiny", download=False)
    msg = str(err.value)
    assert msg.startswith("cannot load dataset 'tiny': no source holds verified copies of its files.")
    assert f"\n  - system copy {partial}: missing t10k-labels-idx1-ubyte[.gz] (the directory holds: " in msg
    assert "\n  - $NNSCRATCH_DATA: not set\n" in msg
    assert f"user cache {cache_dir('tiny')}: the directory does not exist" in msg
    assert f"system copy {tmp_path / 'sys'}: the directory does not exist" in msg
    assert "download: not attempted (download=False)" in msg
    assert "put the four files in one directory DIR (gzipped or not): train-images-idx3-ubyte.gz, " in msg
    assert "pass it with --data-dir DIR" in msg and "set NNSCRATCH_DATA=DIR" in msg


def test_unwritable_cache_still_loads(tmp_path, tiny, monkeypatch) -> None:
    (tmp_path / "a-file").write_text("not a directory")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "a-file"))
    ds = load_dataset("tiny", tiny.write(tmp_path / "src"), download=False)
    assert ds.verified and not isinstance(ds.x_train, np.memmap) and _same_data(ds, tiny)


def test_registry_names_and_aliases() -> None:
    assert get_spec("MNIST") is MNIST
    assert get_spec("fashion_mnist").name == get_spec("fashion").name == "fashion-mnist"
    with pytest.raises(DataError, match="unknown dataset 'cifar'; known datasets: fashion-mnist, mnist"):
        get_spec("cifar")


def test_the_tests_find_mnist_in_the_user_cache_or_say_how_to_supply_it(tmp_path) -> None:
    shared, cache = (
        tmp_path / "shared" / "data" / "mnist",
        tmp_path / "home" / ".cache" / "nnscratch" / "mnist",
    )
    found, reason = find_mnist(None, shared, cache)
    assert found is None
    assert "run `nnscratch data fetch`" in reason and str(cache) in reason and str(shared) in reason
    assert "NNSCRATCH_TEST_MNIST=DIR" in reason
    make_tiny().write(cache)  # what `nnscratch train` leaves in the user cache: the four .gz files
    assert find_mnist(None, shared, cache) == (cache, "")
    make_tiny().write(shared)
    assert find_mnist(None, shared, cache)[0] == shared  # the shared copy first
    assert find_mnist(str(cache), shared, cache)[0] == cache  # $NNSCRATCH_TEST_MNIST before both


def test_mnist_checksums_match_the_shared_checksums_file(mnist_path) -> None:
    if not (mnist_path / "CHECKSUMS").is_file():
        pytest.skip(f"no CHECKSUMS file next to the MNIST copy in {mnist_path}")
    rows = [
        ln.split()
        for ln in (mnist_path / "CHECKSUMS").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    table = {name: (md5, sha, int(size)) for md5, sha, size, name in rows}
    assert table == {f.name: (f.md5, f.sha256, f.size) for f in MNIST.files.values()}


def test_load_mnist_from_env_with_known_class_counts(mnist_path, monkeypatch) -> None:
    monkeypatch.setenv(ENV_VAR, str(mnist_path))
    ds = load_mnist()
    assert ds.verified and ds.source == str(mnist_path) and ds.name == "mnist"
    assert ds.x_train.shape == (60000, 28, 28) and ds.x_test.shape == (10000, 28, 28)
    assert ds.y_train.shape == (60000,) and ds.y_test.shape == (10000,)
    assert ds.x_train.dtype == ds.y_train.dtype == np.uint8
    assert ds.class_counts("train").tolist() == MNIST_TRAIN_COUNTS
    assert ds.class_counts("test").tolist() == MNIST_TEST_COUNTS
    assert ds.checksums == {f.name: f.md5 for f in MNIST.files.values()}
    warm = load_mnist()  # from the decoded cache; its speed is measured by benchmarks/bench_data.py
    assert isinstance(warm.x_train, np.memmap) and warm.verified
    assert np.array_equal(warm.x_test, ds.x_test) and np.array_equal(warm.y_train, ds.y_train)


@pytest.mark.skipif(
    not (FASHION_DIR / "train-images-idx3-ubyte.gz").exists(),
    reason="Debian package dataset-fashion-mnist not installed",
)
def test_fashion_mnist_from_the_debian_package() -> None:
    ds = load_dataset("fashion-mnist", download=False)
    assert ds.verified and ds.source == str(FASHION_DIR)
    assert ds.class_counts("train").tolist() == [6000] * 10
    assert ds.class_counts("test").tolist() == [1000] * 10
    assert ds.class_names[9] == "Ankle boot"


# ----------------------------------------------------------------------------- helpers


def test_to_categorical_follows_keras() -> None:
    out = to_categorical([0, 2, 1])
    assert out.dtype == np.float32
    assert out.tolist() == [[1, 0, 0], [0, 0, 1], [0, 1, 0]]
    assert to_categorical(np.array([3]), num_classes=5).tolist() == [[0, 0, 0, 1, 0]]
    assert to_categorical(np.array([[1], [0]])).shape == (2, 2)  # trailing axis of 1 dropped
    assert to_categorical(np.array([[0, 1], [2, 3]])).shape == (2, 2, 4)
    assert to_categorical(np.array([1.0, 0.0]), dtype="int64").tolist() == [[0, 1], [1, 0]]
    with pytest.raises(DataError, match=r"class labels must lie in \[0, 3\), found 0\.\.3"):
        to_categorical([0, 3], num_classes=3)
    with pytest.raises(DataError, match=r"must lie in \[0, 2\), found -1\.\.1"):
        to_categorical([-1, 1], num_classes=2)
    with pytest.raises(DataError, match="whole-number class labels"):
        to_categorical([0.5])


def test_scale_and_flatten() -> None:
    x = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    s = scale(x)
    assert s.dtype == np.float32 and np.allclose(s, [[[0, 1], [0.2, 0.4]]])
    assert scale(s) is s or np.array_equal(scale(s), s)
    with pytest.raises(DataError, match="must already lie in"):
        scale(np.array([2.0]))
    with pytest.raises(DataError, match="0..255"):
        scale(np.array([300]))
    f = flatten(np.zeros((5, 28, 28), np.uint8))
    assert f.shape == (5, 784)
    assert flatten(f).shape == (5, 784)
    with pytest.raises(DataError, match=r"batch of images"):
        flatten(np.zeros(784))


def test_scale_and_to_categorical_are_the_network_s_own_rules() -> None:
    pixels = np.arange(256, dtype=np.uint8).reshape(1, 16, 16)
    expected = as_float_input(pixels.reshape(1, 256))  # what the network trains on, bit for bit
    assert np.array_equal(scale(pixels).reshape(1, 256), expected)
    assert np.array_equal(scale(pixels.astype(np.int16)).reshape(1, 256), expected)
    y = np.array([3, 0, 9, 3])
    assert np.array_equal(to_categorical(y, 10), targets_like(y, np.zeros((4, 10), np.float32)))


def test_train_test_split_is_seeded_and_complete() -> None:
    x = np.arange(100).reshape(100, 1)
    y = np.arange(100) % 10
    a = train_test_split(x, y)
    b = train_test_split(x, y, random_state=42)
    c = train_test_split(x, y, random_state=7)
    assert all(np.array_equal(p, q) for p, q in zip(a, b, strict=True))
    assert not np.array_equal(a[1], c[1])
    x_tr, x_te, y_tr, y_te = a
    assert len(x_te) == 15 and len(x_tr) == 85  # ceil(0.15 * 100)
    assert sorted(np.concatenate([x_tr, x_te]).ravel().tolist()) == list(range(100))
    assert np.array_equal(y_tr, x_tr.ravel() % 10) and np.array_equal(y_te, x_te.ravel() % 10)
    g = train_test_split(x, y, test_size=10, random_state=np.random.default_rng(1))
    assert len(g[1]) == 10
    for bad in (0.0, 1.0, 0, 100, "a"):
        with pytest.raises(DataError, match="test_size"):
            train_test_split(x, y, test_size=bad)


def test_train_test_split_stratify_keeps_class_shares() -> None:
    y = np.repeat(np.arange(3), [60, 30, 10])
    x = np.arange(100)
    _, _, y_tr, y_te = train_test_split(x, y, test_size=0.2, stratify=y)
    assert np.bincount(y_te).tolist() == [12, 6, 2] and np.bincount(y_tr).tolist() == [48, 24, 8]
    onehot = to_categorical(y)
    _, _, _, y_te2 = train_test_split(x, onehot, test_size=0.2, stratify=True)
    assert np.bincount(y_te2.argmax(1)).tolist() == [12, 6, 2]
    _, _, _, y_te3 = train_test_split(x, y, test_size=0.2, stratify=y)
    assert np.array_equal(y_te, y_te3)  # same seed, same stratified split
    y_odd = np.repeat(np.arange(3), [5, 5, 5])
    _, _, _, y_te4 = train_test_split(np.arange(15), y_odd, test_size=4, stratify=y_odd)
    assert len(y_te4) == 4 and np.bincount(y_te4, minlength=3).max() == 2


def test_nnscratch_data_holding_another_dataset_says_how_to_load_this_one(tmp_path, tiny, monkeypatch):
    """$NNSCRATCH_DATA set to the MNIST folder (as the offline error suggests) and Fashion-MNIST asked
    for: the error says how to load the dataset asked for, not only which dataset the files are."""
    other = make_tiny(name="tiny-fashion", seed=9)
    monkeypatch.setitem(REGISTRY, other.spec.name, other.spec)
    monkeypatch.setenv(ENV_VAR, str(tiny.write(tmp_path / "tiny")))
    with pytest.raises(DataError) as info:
        load_dataset("tiny-fashion", download=False)
    message = str(info.value)
    assert "these are the tiny files, not tiny-fashion" in message
    assert "to load tiny-fashion, unset it or pass --data-dir DIR" in message
