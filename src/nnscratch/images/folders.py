"""Read a folder of labelled digit pictures: ``DIR/<digit>/<files>``, the layout ``nnscratch finetune``
reads and the web app's corrections directory writes.

    DIR/
      1/  a.png  photo.jpg ...      every picture of a 1
      7/  ...

Each picture goes through :func:`nnscratch.images.preprocess.preprocess_image`, the same MNIST-style
preprocessing ``nnscratch predict`` and the web app use. A picture that cannot be used is skipped and
named with its reason (the others are still read); a wrong layout is an error naming what is wrong.
Names starting with a dot (``.DS_Store``, ``.ipynb_checkpoints``) are ignored everywhere.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from nnscratch.errors import ImageError
from nnscratch.images.preprocess import IMAGE_EXTENSIONS, SIZE, preprocess_image

DIGITS = tuple(str(d) for d in range(10))


@dataclass
class LabelledImages:
    """Digits read from ``DIR/<digit>/``: ``images`` (n, 28, 28) float32 in [0, 1] (light ink on
    black, as MNIST), ``labels`` (n,) ints, ``paths`` (n,) the file of each image, ``counts`` images
    per digit 0–9, ``skipped`` the files not used as ``(path, reason)``."""

    images: np.ndarray
    labels: np.ndarray
    paths: list[Path] = field(default_factory=list)
    counts: dict[int, int] = field(default_factory=dict)
    skipped: list[tuple[Path, str]] = field(default_factory=list)


def _visible(folder: Path) -> list[Path]:
    return sorted(p for p in folder.iterdir() if not p.name.startswith("."))


def _label_folders(root: Path) -> list[Path]:
    """The digit folders of ``root``, after checking the layout."""
    if not root.exists():
        raise ImageError(f"folder {str(root)!r} does not exist")
    if not root.is_dir():
        raise ImageError(f"{str(root)!r} is not a folder; give a folder laid out as DIR/<digit>/<images>")
    entries = _visible(root)
    loose = [p.name for p in entries if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS]
    if loose:
        raise ImageError(
            f"wrong layout: {str(root)!r} holds images directly ({', '.join(loose[:3])}"
            f"{', ...' if len(loose) > 3 else ''}); put each digit's images in a folder named after "
            f"the digit, e.g. {os.path.join(str(root), '7', loose[0])}"
        )
    folders = [p for p in entries if p.is_dir()]
    bad = [p.name for p in folders if p.name not in DIGITS]
    if bad:
        raise ImageError(
            f"label folder {str(root / bad[0])!r} is not a digit: folders in {str(root)!r} must be "
            "named 0 to 9, one per digit"
        )
    if not folders:
        raise ImageError(
            f"wrong layout: {str(root)!r} has no digit folders; put each digit's images in "
            f"{os.path.join(str(root), '<digit>')}/ (folders named 0 to 9)"
        )
    return folders


def read_labelled_dir(path: str | os.PathLike[str]) -> LabelledImages:
    """Read every picture of ``path/<digit>/``; see :class:`LabelledImages`.

    Raises :class:`~nnscratch.errors.ImageError` when ``path`` is not a folder, holds pictures
    directly instead of in digit folders, has a sub-folder not named 0–9, or yields no usable image.
    """
    root = Path(path)
    images, labels, paths, skipped = [], [], [], []
    counts = dict.fromkeys(range(10), 0)
    n_files = 0
    for folder in _label_folders(root):
        digit = int(folder.name)
        for item in _visible(folder):
            if item.is_dir():
                skipped.append((item, "a folder inside a digit folder (not searched)"))
                continue
            if item.suffix.lower() not in IMAGE_EXTENSIONS:
                skipped.append((item, f"not an image file name ({item.suffix or 'no extension'})"))
                continue
            n_files += 1
            try:
                images.append(preprocess_image(item))
            except ImageError as exc:
                skipped.append((item, str(exc)))
                continue
            labels.append(digit)
            paths.append(item)
            counts[digit] += 1
    if not images:
        where = f"{str(root)!r}/0..9"
        if n_files:
            first = next(reason for item, reason in skipped if item.suffix.lower() in IMAGE_EXTENSIONS)
            raise ImageError(f"none of the {n_files} images in {where} could be read (first: {first})")
        raise ImageError(f"no images found in {where} ({', '.join(sorted(IMAGE_EXTENSIONS))})")
    return LabelledImages(
        images=np.stack(images).astype(np.float32).reshape(-1, SIZE, SIZE),
        labels=np.asarray(labels, dtype=np.int64),
        paths=paths,
        counts=counts,
        skipped=skipped,
    )
