"""IDX reader/writer: round trips over every element type and shape, and every malformed case."""

from __future__ import annotations

import gzip
import hashlib
import struct

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from datahelpers import idx_bytes
from nnscratch.data.idx import IDX_TYPES, idx_header, read_idx, read_idx_with_digests, write_idx
from nnscratch.errors import DataError

DTYPES = ["u1", "i1", ">i2", "<i2", ">i4", "<i4", ">f4", "<f4", ">f8", "<f8"]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory: pytest.TempPathFactory):
    return tmp_path_factory.mktemp("idx")


@settings(max_examples=150, deadline=None)
@given(
    array=st.sampled_from(DTYPES).flatmap(
        lambda dt: hnp.arrays(np.dtype(dt), hnp.array_shapes(min_dims=1, max_dims=4, min_side=0, max_side=6))
    ),
    compress=st.booleans(),
)
def test_round_trip_every_type_and_shape(scratch, array: np.ndarray, compress: bool) -> None:
    path = scratch / ("a.idx.gz" if compress else "a.idx")
    write_idx(path, array)
    back, digests = read_idx_with_digests(path)
    assert back.shape == array.shape
    assert back.dtype == array.dtype.newbyteorder("=")  # native byte order, same kind and size
    assert back.flags.writeable
    assert np.array_equal(back, array, equal_nan=array.dtype.kind == "f")
    raw = idx_bytes(array)  # independent encoder
    assert digests.md5 == hashlib.md5(raw).hexdigest()
    assert digests.sha256 == hashlib.sha256(raw).hexdigest()
    assert digests.size == len(raw)
    stored = path.read_bytes()
    assert (gzip.decompress(stored) if compress else stored) == raw
    big = read_idx(path, native=False)
    assert big.dtype.byteorder in ("|", ">") and np.array_equal(big, array, equal_nan=True)


def test_gzip_is_recognised_by_content_and_written_reproducibly(tmp_path) -> None:
    a = np.arange(24, dtype=np.int16).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", a)
    write_idx(tmp_path / "y.gz", a)
    assert (tmp_path / "x.gz").read_bytes() == (tmp_path / "y.gz").read_bytes()  # no time stamp
    (tmp_path / "plain-name").write_bytes((tmp_path / "x.gz").read_bytes())
    assert np.array_equal(read_idx(tmp_path / "plain-name"), a)
    write_idx(tmp_path / "z", a, compress=True)
    assert (tmp_path / "z").read_bytes()[:2] == b"\x1f\x8b"


def test_write_idx_rejects_unsupported_arrays(tmp_path) -> None:
    with pytest.raises(DataError, match="cannot store int64 in an IDX file"):
        write_idx(tmp_path / "a", np.zeros(3, dtype=np.int64))
    with pytest.raises(DataError, match="1 to 32 dimensions, not 0"):
        write_idx(tmp_path / "a", np.float32(1.0))
    assert list(tmp_path.iterdir()) == []  # nothing half-written


def test_real_mnist_labels(mnist_path) -> None:
    labels = read_idx(mnist_path / "t10k-labels-idx1-ubyte.gz")
    assert labels.shape == (10000,) and labels.dtype == np.uint8
    assert labels[:10].tolist() == [7, 2, 1, 0, 4, 1, 4, 9, 5, 9]


# ----------------------------------------------------------------------------- malformed files

GOOD = idx_bytes(np.arange(12, dtype=np.uint8).reshape(3, 4))  # header 12 bytes + 12 payload bytes


def _write(tmp_path, data: bytes, name: str = "f.idx", gz: bool = False):
    path = tmp_path / name
    path.write_bytes(gzip.compress(data, mtime=0) if gz else data)
    return path


def test_missing_file(tmp_path) -> None:
    with pytest.raises(DataError, match=r"IDX file .*nope\.idx does not exist"):
        read_idx(tmp_path / "nope.idx")


def test_directory_instead_of_file(tmp_path) -> None:
    with pytest.raises(DataError, match="is a directory, not an IDX file"):
        read_idx(tmp_path)


@pytest.mark.parametrize("gz", [False, True])
def test_bad_magic(tmp_path, gz) -> None:
    path = _write(tmp_path, b"\x12\x34" + GOOD[2:], gz=gz)
    msg = r"f\.idx has a bad IDX magic number 0x12340802 \(its first two bytes must be zero"
    with pytest.raises(DataError, match=msg):
        read_idx(path)


def test_bad_dimension_count(tmp_path) -> None:
    path = _write(tmp_path, b"\x00\x00\x08\x00" + GOOD[12:])
    with pytest.raises(DataError, match=r"f\.idx has a bad IDX dimension count 0 \(must be 1 to 32\)"):
        read_idx(path)
    path = _write(tmp_path, b"\x00\x00\x08\x21" + b"\x00" * 200)
    with pytest.raises(DataError, match="bad IDX dimension count 33"):
        read_idx(path)


def test_unknown_type_code(tmp_path) -> None:
    path = _write(tmp_path, b"\x00\x00\x0a\x02" + GOOD[4:])
    msg = r"f\.idx has an unknown IDX element type code 0x0a \(known: 0x08 ubyte"
    with pytest.raises(DataError, match=msg):
        read_idx(path)


def test_too_short_for_a_header(tmp_path) -> None:
    path = _write(tmp_path, b"\x00\x00")
    with pytest.raises(DataError, match=r"f\.idx is too short to be an IDX file \(2 bytes"):
        read_idx(path)


def test_truncated_inside_header(tmp_path) -> None:
    path = _write(tmp_path, GOOD[:9], gz=True, name="f.gz")
    msg = "truncated inside its IDX header: 2 dimension sizes need 8 bytes, found 5"
    with pytest.raises(DataError, match=msg):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_truncated_payload_gives_expected_and_found(tmp_path, gz) -> None:
    path = _write(tmp_path, GOOD[:-5], gz=gz)
    with pytest.raises(
        DataError,
        match=r"is truncated: its header declares ubyte data of shape \(3, 4\), "
        r"i\.e\. 12 payload bytes, but only 7 bytes follow the header",
    ):
        read_idx(path)


def test_trailing_garbage_raw_counts_the_extra_bytes(tmp_path) -> None:
    path = _write(tmp_path, GOOD + b"junk!")
    with pytest.raises(DataError, match=r"f\.idx has trailing garbage: 5 bytes after the 12-byte payload"):
        read_idx(path)


def test_trailing_garbage_gz(tmp_path) -> None:
    path = _write(tmp_path, GOOD + b"junk!", gz=True, name="f.gz")
    with pytest.raises(DataError, match=r"f\.gz has trailing garbage: data after the 12-byte payload"):
        read_idx(path)


def test_not_a_gzip_stream(tmp_path) -> None:
    path = _write(tmp_path, GOOD, name="f.idx.gz")
    msg = r"f\.idx\.gz is not a gzip stream \(it does not start with the bytes 1f 8b\)"
    with pytest.raises(DataError, match=msg):
        read_idx(path)


def test_corrupt_gzip_crc(tmp_path) -> None:
    data = bytearray(gzip.compress(GOOD, mtime=0))
    data[-8] ^= 0xFF  # the CRC32 in the gzip trailer
    path = tmp_path / "f.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"f\.gz is a corrupt gzip stream \(CRC check failed"):
        read_idx(path)


def test_corrupt_gzip_deflate_data(tmp_path) -> None:
    data = bytearray(gzip.compress(bytes(range(256)) * 40, mtime=0))
    data[12:20] = b"\xff" * 8  # garbage inside the deflate stream
    path = tmp_path / "f.gz"
    path.write_bytes(bytes(data))
    with pytest.raises(DataError, match=r"f\.gz (is a corrupt gzip stream|has a bad IDX magic)"):
        read_idx(path)


def test_truncated_gzip_stream(tmp_path) -> None:
    data = gzip.compress(GOOD, mtime=0)
    path = tmp_path / "f.gz"
    path.write_bytes(data[:-10])
    with pytest.raises(DataError, match=r"f\.gz: the gzip stream is truncated"):
        read_idx(path)


@pytest.mark.parametrize("gz", [False, True])
def test_huge_declared_size_is_not_allocated(tmp_path, gz) -> None:
    """A header declaring 2**75 bytes must fail with the counts, not try to allocate them."""
    header = struct.pack(">BBBBIII", 0, 0, 0x0E, 3, 2**31, 2**31, 2**10)
    path = _write(tmp_path, header + b"\x00" * 40, gz=gz)
    with pytest.raises(DataError, match=rf"{2**75} payload bytes, but only 40 bytes follow"):
        read_idx(path)


def test_header_helper_matches_the_spec() -> None:
    assert idx_header(np.uint8, (60000, 28, 28)) == bytes.fromhex("00000803 0000ea60 0000001c 0000001c")
    assert {name for name, _ in IDX_TYPES.values()} == {"ubyte", "byte", "short", "int", "float", "double"}
