"""The corrections folder: pictures the user labelled on the page, laid out as ``DIR/<digit>/<file>.png``.

That is the layout :func:`nnscratch.images.folders.read_labelled_dir` and ``nnscratch finetune`` read,
so the folder can be fine-tuned on from the page or from the command line unchanged. File names are
chosen by the server (time + random suffix), every picture is re-encoded as PNG (nothing the client
sent is stored verbatim) and written atomically, and the folder has caps on the number of pictures
and on each picture's size; reaching one is a clear 4xx, as is a folder that cannot be written.
"""

from __future__ import annotations

import errno
import io
import os
import threading
import time
import uuid
from pathlib import Path

from nnscratch._files import atomic_write
from nnscratch.images.preprocess import IMAGE_EXTENSIONS
from nnscratch.web.bodies import BadRequest, image_from_bytes

DIGITS = tuple(str(d) for d in range(10))
#: At most this many corrections in the folder.
MAX_CORRECTIONS = 2000
#: A correction picture may be at most this large (the page sends 140×140 PNGs of a few kB).
MAX_CORRECTION_BYTES = 2 * 1024 * 1024


def user_data_dir() -> Path:
    """``$XDG_DATA_HOME/nnscratch`` or ``~/.local/share/nnscratch``: where the page's corrections and
    fine-tuned models go unless told otherwise."""
    base = os.environ.get("XDG_DATA_HOME") or os.path.join(os.path.expanduser("~"), ".local", "share")
    return Path(base) / "nnscratch"


class CorrectionStore:
    """Labelled pictures in ``root/<digit>/``, capped at ``max_count`` pictures of ``max_bytes`` each."""

    def __init__(
        self, root: str | Path, *, max_count: int = MAX_CORRECTIONS, max_bytes: int = MAX_CORRECTION_BYTES
    ) -> None:
        self.root = Path(root)
        self.max_count = max_count
        self.max_bytes = max_bytes
        self._lock = threading.Lock()

    def counts(self) -> dict[str, int]:
        """Pictures per digit, "0" … "9" (a missing folder counts 0)."""
        counts = dict.fromkeys(DIGITS, 0)
        for digit in DIGITS:
            folder = self.root / digit
            if folder.is_dir():
                counts[digit] = sum(
                    1
                    for p in folder.iterdir()
                    if not p.name.startswith(".") and p.suffix.lower() in IMAGE_EXTENSIONS and p.is_file()
                )
        return counts

    def summary(self) -> dict:
        counts = self.counts()
        return {"dir": str(self.root), "counts": counts, "total": sum(counts.values()), "max": self.max_count}

    def add(self, data: bytes, label: str) -> Path:
        """Check, re-encode and save one picture as a ``label``; return its path."""
        if label not in DIGITS:
            raise BadRequest(422, f"label must be one digit 0..9, got {label[:20]!r}")
        if len(data) > self.max_bytes:
            raise BadRequest(
                413, f"the picture is {len(data)} bytes; a correction may be at most {self.max_bytes} bytes"
            )
        image_from_bytes(data)  # refuses non-images, bombs and empty drawings, like a prediction
        png = _reencode(data)
        with self._lock:
            total = sum(self.counts().values())
            if total >= self.max_count:
                raise BadRequest(
                    409,
                    f"the corrections folder {self.root} is full ({total} of {self.max_count} pictures); "
                    "teach the network, then move them elsewhere",
                )
            name = f"{time.strftime('%Y%m%d-%H%M%S')}-{uuid.uuid4().hex[:8]}.png"
            path = self.root / label / name
            try:
                atomic_write(path, lambda fh: fh.write(png))
            except OSError as exc:
                raise BadRequest(_write_status(exc), _write_reason(self.root, exc)) from None
        return path


def _reencode(data: bytes) -> bytes:
    from PIL import Image, ImageOps

    with Image.open(io.BytesIO(data)) as opened:
        im = ImageOps.exif_transpose(opened)
        keep = im if im.mode in ("L", "LA", "RGB", "RGBA") else im.convert("RGBA")
        buffer = io.BytesIO()
        keep.save(buffer, "PNG")
    return buffer.getvalue()


def _write_status(exc: OSError) -> int:
    return 403 if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS) else 409


def _write_reason(root: Path, exc: OSError) -> str:
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"the corrections folder {root} is read-only ({exc.strerror}); start serve with --corrections-dir"
        )
    if exc.errno in (errno.ENOSPC, errno.EDQUOT):
        return f"the disk holding the corrections folder {root} is full ({exc.strerror})"
    return f"cannot write to the corrections folder {root}: {exc.strerror or exc}"
