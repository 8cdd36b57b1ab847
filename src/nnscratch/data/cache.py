"""Decoded ``.npy`` copies of verified IDX files, memory-mapped for fast warm loads.

After a file has been read and its checksums verified, its decoded array is saved as
``<cache>/<dataset>/<file>.npy`` (atomically) with a JSON sidecar ``<file>.npy.json`` recording the
canonical md5/sha256 and the verified source files (path, size, sha256 of the stored bytes). The
copies live in the user cache even when the source is a read-only directory; their names are fixed by
the dataset's canonical checksums, so one copy serves every faithful source.

A warm load checks the *source file* cheaply: its size and the sha256 of its bytes as stored (a few
milliseconds for MNIST's 11 MB of gzip) must equal those recorded when it was verified, so any change
to it sends it through full verification again. It never trusts the *decoded copy* either: it
re-hashes the IDX header rebuilt from the array plus the memory-mapped payload with sha256 (about
25 ms for all of MNIST) and compares it with the canonical sha256, so a stale, truncated or tampered
``.npy`` is detected and rebuilt. A verified copy alone (its source gone) still serves the user cache.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Literal

import numpy as np

from nnscratch._files import atomic_write, file_sha256
from nnscratch.data.digests import mismatch
from nnscratch.data.idx import array_digests
from nnscratch.data.registry import FileSpec

log = logging.getLogger(__name__)
_FORMAT = 1
#: Memory-map mode: copy-on-write, so callers may modify arrays in place without touching the file.
MMAP_MODE: Literal["c"] = "c"


def npy_path(store: Path, fspec: FileSpec) -> Path:
    """Where the decoded copy of ``fspec`` lives in ``store``."""
    return store / f"{fspec.name}.npy"


def _paths(store: Path, fspec: FileSpec) -> tuple[Path, Path]:
    return npy_path(store, fspec), store / f"{fspec.name}.npy.json"


def _fingerprint(source: Path, size: int | None = None) -> dict[str, int | str] | None:
    """Size and sha256 of the file's bytes as stored (gzipped or not); None if ``size`` differs."""
    actual = source.stat().st_size
    if size is not None and actual != size:
        return None
    return {"size": actual, "stored_sha256": file_sha256(source)}


def _source_key(source: Path) -> str:
    return str(source.resolve())


def _read_sidecar(path: Path, fspec: FileSpec) -> dict | None:
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if (
        not isinstance(meta, dict)
        or meta.get("format") != _FORMAT
        or meta.get("md5") != fspec.md5
        or meta.get("sha256") != fspec.sha256
        or not isinstance(meta.get("sources"), dict)
    ):
        return None
    return meta


def load(store: Path | None, fspec: FileSpec, source: Path | None) -> np.ndarray | None:
    """The memory-mapped decoded copy of ``source``, or None when it must be (re)built from ``source``.

    Returns an array only if the sidecar lists ``source`` as verified with its current size and mtime
    (``source=None``: the copy alone is wanted) and the copy's content hashes to the canonical sha256.
    """
    if store is None:
        return None
    npy, side = _paths(store, fspec)
    meta = _read_sidecar(side, fspec)
    if meta is None:
        return None
    try:
        if source is not None:
            record = meta["sources"].get(_source_key(source))
            if not isinstance(record, dict) or _fingerprint(source, record.get("size")) != record:
                return None
        array = np.load(npy, mmap_mode=MMAP_MODE, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.debug("decoded copy %s unusable: %s", npy, exc)
        return None
    if array.dtype.kind not in "uif" or array.ndim == 0 or mismatch(array_digests(array, md5=False), fspec):
        log.warning("decoded copy %s is stale or damaged; it will be rebuilt", npy)
        return None
    return array


def verified_source(store: Path, fspec: FileSpec) -> Path | None:
    """The first source file the decoded copy was verified from that is still there, unchanged."""
    meta = _read_sidecar(_paths(store, fspec)[1], fspec)
    for key, record in (meta or {}).get("sources", {}).items():
        try:
            if isinstance(record, dict) and _fingerprint(Path(key), record.get("size")) == record:
                return Path(key)
        except OSError:
            continue
    return None


def save(store: Path | None, fspec: FileSpec, source: Path, array: np.ndarray) -> np.ndarray:
    """Save the verified ``array`` decoded from ``source``; return it memory-mapped from the copy.

    If the cache cannot be written (read-only home, full disk), log it and return ``array`` unchanged.
    """
    if store is None:
        return array
    npy, side = _paths(store, fspec)
    try:
        store.mkdir(parents=True, exist_ok=True)
        meta = _read_sidecar(side, fspec)
        sources = meta["sources"] if meta is not None else {}
        atomic_write(npy, lambda fh: np.save(fh, array, allow_pickle=False))
        sources[_source_key(source)] = _fingerprint(source)
        record = {
            "format": _FORMAT,
            "file": fspec.name,
            "md5": fspec.md5,
            "sha256": fspec.sha256,
            "shape": list(array.shape),
            "dtype": array.dtype.str,
            "sources": sources,
        }
        text = json.dumps(record, indent=1, sort_keys=True).encode()
        atomic_write(side, lambda fh: fh.write(text))
        mapped = np.load(npy, mmap_mode=MMAP_MODE, allow_pickle=False)
    except (OSError, ValueError) as exc:
        log.info("not caching a decoded copy of %s in %s: %s", source, store, exc)
        return array
    if mapped.shape != array.shape or mapped.dtype != array.dtype:
        return array
    return mapped
