"""Model files: plain ``.npz`` arrays plus JSON metadata, no pickle, written atomically.

A model file is a NumPy ``.npz`` archive. Each parameter is one array (``W1``, ``b1``, ...); the
metadata (format version, sizes, activation, loss, training history, dataset checksums, ...) is UTF-8
JSON stored as a ``uint8`` array under ``__metadata__``. Loading uses ``allow_pickle=False``, so a file
from elsewhere can never run code, and every way a file can be broken becomes a
:class:`~nnscratch.errors.ModelFileError` naming the file and the problem.
"""

from __future__ import annotations

import json
import os
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch._files import atomic_write
from nnscratch.errors import ModelFileError

METADATA_KEY = "__metadata__"
FORMAT_NAME = "nnscratch-model"
FORMAT_VERSION = 1
ZIP_MAGIC = b"PK\x03\x04"  # every .npz archive starts with a zip local-file header


def save_arrays(path: str | os.PathLike, arrays: Mapping[str, np.ndarray], metadata: Mapping) -> Path:
    """Write ``arrays`` and JSON ``metadata`` to ``path`` (an ``.npz``) atomically."""
    if METADATA_KEY in arrays:
        raise ValueError(f"array name {METADATA_KEY!r} is reserved")
    meta = {"format": FORMAT_NAME, "format_version": FORMAT_VERSION, **metadata}
    blob = np.frombuffer(json.dumps(meta, allow_nan=False).encode("utf-8"), dtype=np.uint8)
    payload: dict[str, Any] = {k: np.ascontiguousarray(v) for k, v in arrays.items()}
    payload[METADATA_KEY] = blob
    return atomic_write(path, lambda fh: np.savez(fh, **payload))


def load_arrays(path: str | os.PathLike) -> tuple[dict[str, np.ndarray], dict]:
    """Read a file written by :func:`save_arrays`; return ``(arrays, metadata)``.

    Raises ModelFileError for a missing, truncated, non-npz, pickled or metadata-less file, or one
    from a newer format version.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"model file {path} does not exist")
    with open(path, "rb") as fh:
        magic = fh.read(4)
    if magic != ZIP_MAGIC:  # a .npy array, a text file, a pickle: never let numpy guess what it is
        raise ModelFileError(f"{path} is not a valid model file: not an nnscratch model file (.npz) at all")
    try:
        with np.load(path, allow_pickle=False) as npz:
            arrays = {name: npz[name] for name in npz.files}
    except zipfile.BadZipFile as exc:
        raise ModelFileError(
            f"{path} is not a valid model file (not a complete .npz archive: {exc})"
        ) from exc
    except ValueError as exc:  # pickled object arrays, or not an npz/npy at all
        raise ModelFileError(f"{path} is not a valid model file ({exc})") from exc
    except (OSError, EOFError, KeyError, zipfile.LargeZipFile) as exc:
        raise ModelFileError(f"{path} is not a valid model file (truncated or corrupt: {exc})") from exc
    for name, value in arrays.items():
        if not isinstance(value, np.ndarray):  # a member that is not a .npy file
            raise ModelFileError(f"{path} is not a valid model file (member {name!r} is not a NumPy array)")
    if METADATA_KEY not in arrays:
        raise ModelFileError(f"{path} has no nnscratch metadata; is it an nnscratch model file?")
    blob = arrays.pop(METADATA_KEY)
    if blob.dtype != np.uint8 or blob.ndim != 1:
        raise ModelFileError(f"{path} has malformed metadata (expected a 1-D uint8 array, got {blob.dtype})")
    try:
        meta = json.loads(blob.tobytes().decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ModelFileError(f"{path} has unreadable metadata ({exc})") from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise ModelFileError(f"{path} is not an nnscratch model file (format is {meta.get('format')!r})")
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION:
        raise ModelFileError(
            f"{path} uses model format version {version!r}; this nnscratch reads up to {FORMAT_VERSION}"
        )
    return arrays, meta
