"""Files: atomic writes, and the sha256 of a file's bytes as stored.

Atomic writes: write to a temporary file beside the target, then rename it over the target.

Every file nnscratch writes (model files, checkpoints, decoded data caches, downloads, plots, reports,
sweep results) goes through here, so a crash never leaves a half-written file behind: either the old
file is still there, or the complete new one is.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO


def temp_file_for(target: Path) -> tuple[int, str]:
    """A temporary file beside ``target`` (same file system, so ``os.replace`` is atomic), with the
    mode a normal file would get (``mkstemp`` alone makes it 0600). Returns ``(fd, path)``."""
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    umask = os.umask(0o022)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    return fd, tmp


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], object]) -> Path:
    """Call ``write(file_object)`` on a temporary file beside ``path``, flush it to disk, then rename
    it over ``path``. If ``write`` raises, the temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = temp_file_for(path)
    try:
        with os.fdopen(fd, "wb") as fh:
            write(fh)
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise
    return path


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 (hex) of a file's bytes as stored, gzipped or not: the fingerprint of a data source or of
    the model a fine-tune started from."""
    digest = hashlib.sha256()
    with open(Path(path), "rb") as fh:
        while block := fh.read(1 << 20):
            digest.update(block)
    return digest.hexdigest()
