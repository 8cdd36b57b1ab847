"""Reading and writing IDX files, the format MNIST and Fashion-MNIST are published in.

An IDX file is a 4-byte magic number ``00 00 TT DD`` (``TT`` the element type, ``DD`` the number of
dimensions), then ``DD`` big-endian uint32 dimension sizes, then the elements in C order, big-endian.
Files may be gzipped; gzip is recognised by its magic bytes, whatever the file is called.

:func:`read_idx` checks everything the header promises: the magic number, the element type, the
dimension count and that the payload is exactly as long as the header declares. It never allocates
more than the declared payload and reads at most one byte past it (to detect trailing garbage). Each
problem raises a :class:`~nnscratch.errors.DataError` naming the file and what is wrong.
"""

from __future__ import annotations

import contextlib
import gzip
import io
import math
import os
import struct
import sys
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import BinaryIO

import numpy as np

from nnscratch._files import atomic_write
from nnscratch.data.digests import Digests, Hasher
from nnscratch.errors import DataError

#: IDX element type code -> (name, big-endian NumPy dtype).
IDX_TYPES: dict[int, tuple[str, np.dtype]] = {
    0x08: ("ubyte", np.dtype("u1")),
    0x09: ("byte", np.dtype("i1")),
    0x0B: ("short", np.dtype(">i2")),
    0x0C: ("int", np.dtype(">i4")),
    0x0D: ("float", np.dtype(">f4")),
    0x0E: ("double", np.dtype(">f8")),
}
#: The largest dimension count accepted (NumPy 1.x's limit).
MAX_NDIM = 32
_GZIP_MAGIC = b"\x1f\x8b"
_CHUNK = 1 << 20


def is_gzip(path: str | os.PathLike) -> bool:
    """Whether the file starts with gzip's magic bytes (how gzip is recognised, whatever the name)."""
    with open(path, "rb") as fh:
        return fh.read(2) == _GZIP_MAGIC


def _type_list() -> str:
    return ", ".join(f"0x{code:02x} {name}" for code, (name, _) in IDX_TYPES.items())


def idx_header(dtype: np.dtype | type | str, shape: tuple[int, ...]) -> bytes:
    """The IDX header (magic number and dimension sizes) for an array of ``dtype`` and ``shape``."""
    dt = np.dtype(dtype)
    key = (dt.kind, dt.itemsize)
    code = next((c for c, (_, t) in IDX_TYPES.items() if (t.kind, t.itemsize) == key), None)
    if code is None:
        raise DataError(f"cannot store {dt} in an IDX file; supported element types are: {_type_list()}")
    if not 1 <= len(shape) <= MAX_NDIM:
        raise DataError(f"an IDX file holds 1 to {MAX_NDIM} dimensions, not {len(shape)}")
    if any(not 0 <= int(n) < 2**32 for n in shape):
        raise DataError(f"IDX dimension sizes must fit in 32 bits, got shape {tuple(shape)}")
    return struct.pack(f">BBBB{len(shape)}I", 0, 0, code, len(shape), *(int(n) for n in shape))


@contextlib.contextmanager
def _gzip_errors(path: Path) -> Iterator[None]:
    """Turn the errors of a broken gzip stream into one readable DataError."""
    try:
        yield
    except EOFError as exc:
        raise DataError(f"{path}: the gzip stream is truncated (it ends before its end marker)") from exc
    except (gzip.BadGzipFile, zlib.error) as exc:
        raise DataError(f"{path} is a corrupt gzip stream ({exc})") from exc


@contextlib.contextmanager
def _open(path: Path) -> Iterator[tuple[io.BufferedIOBase, bool, int | None]]:
    """Open ``path``; yield (decompressed stream, is_gzip, size hint of the decompressed data)."""
    try:
        raw = open(path, "rb")  # noqa: SIM115 - closed by the ExitStack below
    except FileNotFoundError:
        raise DataError(f"IDX file {path} does not exist") from None
    except IsADirectoryError:
        raise DataError(f"{path} is a directory, not an IDX file") from None
    except OSError as exc:
        raise DataError(f"cannot open IDX file {path}: {exc.strerror or exc}") from exc
    with contextlib.ExitStack() as stack:
        stack.enter_context(raw)
        size = os.fstat(raw.fileno()).st_size
        is_gzip = raw.read(2) == _GZIP_MAGIC
        raw.seek(0)
        if not is_gzip:
            if path.name.endswith(".gz"):
                raise DataError(f"{path} is not a gzip stream (it does not start with the bytes 1f 8b)")
            yield raw, False, size
            return
        hint = None
        if size >= 18:  # the last 4 bytes of a gzip member: uncompressed size mod 2**32
            raw.seek(-4, os.SEEK_END)
            hint = struct.unpack("<I", raw.read(4))[0]
            raw.seek(0)
        yield stack.enter_context(gzip.GzipFile(fileobj=raw, mode="rb")), True, hint


def _read_upto(stream: io.BufferedIOBase, n: int) -> bytes:
    parts, got = [], 0
    while got < n:
        part = stream.read(n - got)
        if not part:
            break
        parts.append(part)
        got += len(part)
    return b"".join(parts)


def _count(stream: io.BufferedIOBase, limit: int) -> int:
    """Read and discard up to ``limit`` bytes; return how many there were."""
    n = 0
    while n < limit:
        part = stream.read(min(_CHUNK, limit - n))
        if not part:
            break
        n += len(part)
    return n


def _parse_header(stream: io.BufferedIOBase, path: Path) -> tuple[bytes, str, np.dtype, tuple[int, ...]]:
    magic = _read_upto(stream, 4)
    if len(magic) < 4:
        raise DataError(
            f"{path} is too short to be an IDX file ({len(magic)} bytes; the magic number alone is 4 bytes)"
        )
    if magic[0] or magic[1]:
        raise DataError(
            f"{path} has a bad IDX magic number 0x{magic.hex()} (its first two bytes must be zero)"
        )
    code, ndim = magic[2], magic[3]
    if code not in IDX_TYPES:
        raise DataError(f"{path} has an unknown IDX element type code 0x{code:02x} (known: {_type_list()})")
    if not 1 <= ndim <= MAX_NDIM:
        raise DataError(f"{path} has a bad IDX dimension count {ndim} (must be 1 to {MAX_NDIM})")
    dims_raw = _read_upto(stream, 4 * ndim)
    if len(dims_raw) < 4 * ndim:
        raise DataError(
            f"{path} is truncated inside its IDX header: {ndim} dimension sizes need {4 * ndim} bytes, "
            f"found {len(dims_raw)}"
        )
    name, dtype = IDX_TYPES[code]
    return magic + dims_raw, name, dtype, struct.unpack(f">{ndim}I", dims_raw)


def _read(path: str | os.PathLike, native: bool, digest: bool) -> tuple[np.ndarray, Digests | None]:
    path = Path(path)
    with _open(path) as (stream, is_gzip, size_hint), _gzip_errors(path):
        header, type_name, dtype, shape = _parse_header(stream, path)
        expected = math.prod(shape) * dtype.itemsize
        total = len(header) + expected

        def truncated(found: int) -> DataError:
            return DataError(
                f"{path} is truncated: its header declares {type_name} data of shape {shape}, i.e. "
                f"{expected} payload bytes, but only {found} bytes follow the header"
            )

        def trailing(found: int | None) -> DataError:
            extra = f"{found - expected} bytes" if found is not None else "data"
            return DataError(
                f"{path} has trailing garbage: {extra} after the {expected}-byte payload its header declares"
            )

        if not is_gzip:
            found = (size_hint or 0) - len(header)
            if found != expected:
                raise truncated(found) if found < expected else trailing(found)
        elif size_hint is not None and size_hint != total % 2**32:
            # The gzip trailer disagrees (or the file holds several members): count before allocating.
            found = _count(stream, expected + 1)
            if found != expected:
                raise truncated(found) if found < expected else trailing(None)
            stream.seek(len(header))
        flat = np.empty(expected, dtype=np.uint8)
        view = flat.data
        hasher = Hasher(header) if digest else None
        pos = 0
        while pos < expected:
            n = stream.readinto(view[pos : pos + _CHUNK])
            if not n:
                raise truncated(pos)
            if hasher is not None:
                hasher.update(view[pos : pos + n])
            pos += n
        if stream.read(1):
            raise trailing(None)
    array = flat.view(dtype).reshape(shape)
    if native and dtype.itemsize > 1 and sys.byteorder == "little":
        array = array.byteswap(inplace=True).view(dtype.newbyteorder("="))
    return array, hasher.digests() if hasher is not None else None


def read_idx(path: str | os.PathLike, *, native: bool = True) -> np.ndarray:
    """Read a raw or gzipped IDX file into a writable NumPy array of the declared shape.

    Multi-byte element types come back in native byte order (``native=False`` keeps big-endian).
    Raises :class:`~nnscratch.errors.DataError` for any malformed file.
    """
    return _read(path, native, digest=False)[0]


def read_idx_with_digests(path: str | os.PathLike, *, native: bool = True) -> tuple[np.ndarray, Digests]:
    """Like :func:`read_idx`, also returning md5 and sha256 of the decompressed file, in one pass."""
    array, digests = _read(path, native, digest=True)
    assert digests is not None
    return array, digests


def array_digests(array: np.ndarray, *, md5: bool = True) -> Digests:
    """Checksums of the IDX file that ``array`` would be written as (header plus big-endian payload),
    computed block by block without building the file; ``md5=False`` computes the sha256 only."""
    array = np.asarray(array)
    hasher = Hasher(idx_header(array.dtype, array.shape), md5=md5)
    flat = array.reshape(-1)
    if array.dtype.itemsize == 1:
        hasher.update(flat.view(np.uint8).data)
        return hasher.digests()
    big_endian = IDX_TYPES[idx_header(array.dtype, (1,))[2]][1]
    step = 1 << 18
    for start in range(0, flat.size, step):
        hasher.update(np.ascontiguousarray(flat[start : start + step], dtype=big_endian).view(np.uint8).data)
    return hasher.digests()


def write_idx(
    path: str | os.PathLike, array: np.ndarray, *, compress: bool | None = None, compresslevel: int = 6
) -> Path:
    """Write ``array`` as an IDX file atomically and return its path.

    The element type follows the array's dtype (uint8, int8, int16, int32, float32 or float64, any
    byte order). ``compress=None`` gzips when the name ends in ``.gz``. The gzip header carries no
    time stamp, so equal arrays give byte-identical files.
    """
    path = Path(path)
    arr = np.asarray(array)
    header = idx_header(arr.dtype, arr.shape)
    code = header[2]
    payload = np.ascontiguousarray(arr, dtype=IDX_TYPES[code][1])
    if compress is None:
        compress = path.name.endswith(".gz")

    def write(raw: BinaryIO) -> None:
        if compress:
            with gzip.GzipFile(
                filename="", mode="wb", fileobj=raw, compresslevel=compresslevel, mtime=0
            ) as out:
                out.write(header)
                out.write(payload.reshape(-1).view(np.uint8).data)
        else:
            raw.write(header)
            raw.write(payload.reshape(-1).view(np.uint8).data)

    return atomic_write(path, write)
