"""Turn any picture of a digit into what MNIST itself fed the network.

MNIST's digits were made by taking a scanned (dark-on-light) digit, normalising it to fit a 20×20 box
while keeping its aspect ratio (anti-aliased, so strokes get grey edges), and placing that box in a
28×28 field so that the *centre of mass* of the ink lands at the middle. The network only ever saw such
images (light ink on black, digit 20 px tall, centred by mass), so a user's photo or drawing must go
through the same steps before it is shown to the network.

:func:`preprocess_image` is that one shared function, used by the command line (``nnscratch
predict``), the web app and the Python API; :func:`load_images` runs it over files and folders so one
bad file does not stop the others. Pillow is needed (``pip install 'nnscratch[plots]'``) and imported
only when an image is processed.

Centring convention: the centre of mass is placed at pixel index (14, 14) by an integer shift (rounded).
This is what MNIST did: over the official test set the mean centre of mass, computed as
``sum(i * x_i) / sum(x_i)`` over pixel indices ``i = 0..27``, is (13.99, 14.01) and every digit lies in
[13.5, 14.5] in both directions, i.e. an integer shift towards index 14, not the geometric middle 13.5.
"""

from __future__ import annotations

import io
import math
import os
import warnings
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import Any

import numpy as np

from nnscratch._optional import require
from nnscratch.errors import ImageError
from nnscratch.images.ink import find_ink

#: Output side length and the side of the box the ink is fitted into (as in MNIST).
SIZE = 28
BOX = 20
#: Index the centre of mass is moved to (see the module docstring for why 14 and not 13.5).
CENTRE = 14.0
#: Images with more pixels than this are refused before they are decoded (decompression bombs).
MAX_PIXELS = 50_000_000
#: Larger images are shrunk (box filter) to at most this side before any float arithmetic.
WORK_SIDE = 2048
#: A transparent picture whose alpha channel varies less than this has no drawing in its alpha.
MIN_ALPHA_RANGE = 0.05
#: In large pictures, ink fainter than this share of the strongest stroke does not widen the crop.
FAINT = 0.15
#: A separated blob with less than this share of the ink (a speck of dust) is left out of the crop.
MIN_BLOB_SHARE = 0.02
#: File name suffixes picked up when a folder is given.
IMAGE_EXTENSIONS = frozenset(
    {".png", ".jpg", ".jpeg", ".gif", ".bmp", ".tif", ".tiff", ".webp", ".pgm", ".ppm", ".pbm", ".pnm"}
)

ImageInput = Any  # str | os.PathLike | bytes | PIL.Image.Image | np.ndarray


def _pil() -> Any:
    """Import Pillow lazily, with a clear error naming the extra when it is missing."""
    return require("PIL.Image", "plots", "reading images", error=ImageError)


def _describe(image: ImageInput, name: str | None) -> str:
    if name is not None:
        return name
    if isinstance(image, (str, os.PathLike)):
        return os.fspath(image)
    if isinstance(image, (bytes, bytearray, memoryview)):
        return "<bytes>"
    if isinstance(image, np.ndarray):
        return "<array>"
    return "<image>"


def _too_large(label: str, width: int, height: int) -> ImageError:
    return ImageError(
        f"image {label!r} is {width}×{height} = {width * height / 1e6:.0f} megapixels, more than the "
        f"{MAX_PIXELS / 1e6:.0f}-megapixel limit (a possible decompression bomb); scale it down first"
    )


def _open(image: ImageInput, label: str) -> Any:
    """Open a path, bytes or PIL image as a fully loaded PIL image, refusing huge ones before decoding."""
    Image = _pil()
    if isinstance(image, Image.Image):
        im = image
    else:
        source = io.BytesIO(bytes(image)) if isinstance(image, (bytes, bytearray, memoryview)) else image
        if isinstance(source, (str, os.PathLike)):
            path = Path(source)
            if path.is_dir():
                raise ImageError(f"image {label!r} is a folder, not an image file")
            if not path.exists():
                raise ImageError(f"image {label!r} does not exist")
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error", Image.DecompressionBombWarning)
                im = Image.open(source)
        except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
            raise ImageError(
                f"image {label!r} is too large to be a digit picture (Pillow refused it as a possible "
                f"decompression bomb: {exc})"
            ) from exc
        except Image.UnidentifiedImageError as exc:
            raise ImageError(f"{label!r} is not an image file in a format Pillow can read") from exc
        except OSError as exc:
            raise ImageError(f"cannot read image {label!r}: {exc.strerror or exc}") from exc
    if im.width * im.height > MAX_PIXELS:
        raise _too_large(label, im.width, im.height)
    if im.width == 0 or im.height == 0:
        raise ImageError(f"image {label!r} has no pixels ({im.width}×{im.height})")
    try:
        im.load()
        from PIL import ImageOps

        return ImageOps.exif_transpose(im)  # phone photos store their rotation in EXIF
    except (OSError, SyntaxError, ValueError) as exc:
        raise ImageError(f"image {label!r} is damaged or truncated and cannot be decoded ({exc})") from exc


def _shrink(gray: np.ndarray) -> np.ndarray:
    """Box-filter a float image down so its longer side is at most WORK_SIDE (no-op for small images)."""
    factor = math.ceil(max(gray.shape) / WORK_SIDE)
    if factor <= 1:
        return gray
    h, w = (gray.shape[0] // factor) * factor, (gray.shape[1] // factor) * factor
    blocks = gray[:h, :w].reshape(h // factor, factor, w // factor, factor)
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def _gray_from_pil(im: Any) -> tuple[np.ndarray, np.ndarray | None]:
    """Grey levels in [0, 1] (0 = black) with transparency composited on white, plus the alpha channel."""
    Image = _pil()
    if im.mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):  # 16/32-bit integer or float grey
        arr = np.asarray(im, dtype=np.float32)
        if im.mode.startswith("I;16"):
            top = 65535.0
        else:
            top = 1.0 if im.mode == "F" and arr.max() <= 1.0 else 255.0 if arr.max() <= 255 else 65535.0
        return _shrink(np.clip(arr / top, 0.0, 1.0)), None
    factor = math.ceil(max(im.size) / WORK_SIDE)
    has_alpha = im.mode in ("RGBA", "LA", "PA", "RGBa", "La") or "transparency" in im.info
    if has_alpha:
        rgba = im.convert("RGBA")
        if factor > 1:
            rgba = rgba.reduce(factor)
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        gray = Image.alpha_composite(white, rgba).convert("L")
        alpha = np.asarray(rgba.getchannel("A"), dtype=np.float32) / 255.0
    else:
        gray = im.convert("L")
        if factor > 1:
            gray = gray.reduce(factor)
        alpha = None
    return np.asarray(gray, dtype=np.float32) / 255.0, alpha


def _gray_from_array(arr: np.ndarray, label: str) -> tuple[np.ndarray, np.ndarray | None]:
    """Grey levels in [0, 1] (0 = black) from a 2-D grey, RGB or RGBA array (uint8/uint16/bool/float)."""
    if arr.ndim == 1 and arr.size == SIZE * SIZE:
        arr = arr.reshape(SIZE, SIZE)
    if arr.ndim == 3 and arr.shape[2] == 1:
        arr = arr[:, :, 0]
    if not (arr.ndim == 2 or (arr.ndim == 3 and arr.shape[2] in (3, 4))):
        raise ImageError(
            f"image {label!r} has shape {arr.shape}; expected (height, width) grey, (h, w, 3) RGB "
            "or (h, w, 4) RGBA"
        )
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise _too_large(label, arr.shape[1], arr.shape[0])
    if arr.size == 0:
        raise ImageError(f"image {label!r} has no pixels (shape {arr.shape})")
    if arr.dtype == np.uint8:
        return _gray_from_pil(_pil().fromarray(np.ascontiguousarray(arr)))
    if arr.dtype == np.bool_:
        values = arr.astype(np.float32)
    elif np.issubdtype(arr.dtype, np.integer):
        values = arr.astype(np.float32) / (255.0 if arr.max() <= 255 else 65535.0)
    elif np.issubdtype(arr.dtype, np.floating):
        values = arr.astype(np.float32)
        if not np.isfinite(values).all():
            raise ImageError(f"image {label!r} contains NaN or infinite values")
        if values.max() > 1.0:
            values = values / 255.0
    else:
        raise ImageError(f"image {label!r} has unsupported data type {arr.dtype}")
    if values.min() < 0.0 or values.max() > 1.0:
        raise ImageError(f"image {label!r} has values outside 0..1 (floats) or 0..255 (integers)")
    alpha = None
    if values.ndim == 3:
        rgb = values[:, :, :3] @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        if values.shape[2] == 4:
            alpha = values[:, :, 3]
            rgb = rgb * alpha + (1.0 - alpha)
        values = rgb
    return _shrink(values), (None if alpha is None else _shrink(alpha))


def _span(profile: np.ndarray) -> tuple[int, int]:
    """First and one-past-last index of the ink along one axis, leaving out small separated blobs."""
    idx = np.flatnonzero(profile > 0)
    runs = np.split(idx, np.flatnonzero(np.diff(idx) > 1) + 1)
    total = float(profile.sum())
    kept = [run for run in runs if profile[run].sum() >= MIN_BLOB_SHARE * total] or [idx]
    return int(kept[0][0]), int(kept[-1][-1]) + 1


def _crop(ink: np.ndarray) -> np.ndarray:
    """Crop to the ink's bounding box (two passes rows/columns so specks in a corner are dropped).

    In pictures much larger than the box, faint ink (below FAINT of the peak: JPEG ringing, shadows,
    anti-aliased edges) does not widen the crop, as it would shrink the digit; it is kept inside it.
    At MNIST scale every grey pixel counts, so MNIST digits come back unchanged.
    """
    solid = ink if max(ink.shape) <= 2 * BOX else np.where(ink >= FAINT, ink, 0.0)
    top, bottom, left, right = 0, ink.shape[0], 0, ink.shape[1]
    for _ in range(2):
        rows = solid[top:bottom, left:right].sum(axis=1)
        t, b = _span(rows)
        top, bottom = top + t, top + b
        cols = solid[top:bottom, left:right].sum(axis=0)
        l, r = _span(cols)
        left, right = left + l, left + r
    return ink[top:bottom, left:right]


def _fit(crop: np.ndarray) -> np.ndarray:
    """Resize so the longer side is BOX pixels, keeping the aspect ratio (Lanczos, anti-aliased)."""
    h, w = crop.shape
    scale = BOX / max(h, w)
    new_h, new_w = max(1, round(h * scale)), max(1, round(w * scale))
    if (new_h, new_w) == (h, w):
        return crop
    Image = _pil()
    resized = Image.fromarray(np.ascontiguousarray(crop, dtype=np.float32)).resize(
        (new_w, new_h), Image.Resampling.LANCZOS
    )
    return np.clip(np.asarray(resized, dtype=np.float32), 0.0, 1.0)


def _place(patch: np.ndarray) -> np.ndarray:
    """Put the patch in a SIZE×SIZE field with its centre of mass at index CENTRE (integer shift)."""
    h, w = patch.shape
    mass = float(patch.sum())
    cy = float((patch.sum(axis=1) * np.arange(h)).sum()) / mass
    cx = float((patch.sum(axis=0) * np.arange(w)).sum()) / mass
    top = min(max(math.floor(CENTRE - cy + 0.5), 0), SIZE - h)
    left = min(max(math.floor(CENTRE - cx + 0.5), 0), SIZE - w)
    out = np.zeros((SIZE, SIZE), dtype=np.float32)
    out[top : top + h, left : left + w] = patch
    return out


def preprocess_image(image: ImageInput, *, name: str | None = None) -> np.ndarray:
    """Turn a digit picture into a (28, 28) float32 array in [0, 1], light ink on black, as MNIST did.

    ``image`` may be a file path, the bytes of an image file, a ``PIL.Image.Image`` or a NumPy array
    (2-D grey, (h, w, 3) RGB or (h, w, 4) RGBA; uint8, uint16, bool, or float in [0, 1] or [0, 255];
    a flat 784-vector is read as 28×28). ``name`` is used in error messages (default: the path).

    Steps: grey levels with transparency composited on white (a drawing whose ink is only in the alpha
    channel uses the alpha); the ink found relative to the paper's own level and noise, dark-on-light
    inverted, uneven lighting and ruled lines removed (:mod:`nnscratch.images.ink`, which also decides
    that a picture is blank); cropped to the ink's bounding box (small separated specks and, in large
    pictures, faint fringes ignored); fitted into 20×20 keeping the aspect ratio (Lanczos); placed in
    28×28 with the centre of mass at index (14, 14); scaled so the strongest ink is 1.

    Raises :class:`~nnscratch.errors.ImageError` for unreadable files, non-images, images larger than
    :data:`MAX_PIXELS` (decompression bombs) and images without any ink.
    """
    label = _describe(image, name)
    pil = _pil()  # needed for every kind of input (decoding, Lanczos resize): fail early and clearly
    if isinstance(image, np.ndarray):
        gray, alpha = _gray_from_array(image, label)
    elif isinstance(image, (str, os.PathLike, bytes, bytearray, memoryview, pil.Image)):
        gray, alpha = _gray_from_pil(_open(image, label))
    else:
        raise ImageError(
            f"cannot use {type(image).__name__} {label!r} as an image; give a path, bytes, "
            "a PIL image or a NumPy array"
        )
    ink = find_ink(gray)
    if ink is None and alpha is not None and float(alpha.max() - alpha.min()) >= MIN_ALPHA_RANGE:
        ink = find_ink(1.0 - alpha)  # light ink drawn on a transparent background: the alpha is the digit
    if ink is None:
        raise ImageError(f"image {label!r} contains no ink: it is blank or a single flat colour")
    out = _place(_fit(_crop(ink)))
    return np.clip(out / out.max(), 0.0, 1.0).astype(np.float32)


def _expand(paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str]) -> Iterator[Path]:
    if isinstance(paths, (str, os.PathLike)):
        paths = [paths]
    for raw in paths:
        path = Path(raw)
        if path.is_dir():
            files = sorted(p for p in path.iterdir() if p.is_file() and p.suffix.lower() in IMAGE_EXTENSIONS)
            if not files:
                yield path  # preprocess_image reports "is a folder" for it
            yield from files
        else:
            yield path


def load_images(
    paths: Iterable[str | os.PathLike[str]] | str | os.PathLike[str],
) -> Iterator[tuple[Path, np.ndarray | ImageError]]:
    """Preprocess files and folders one by one, yielding ``(path, array)`` or ``(path, ImageError)``.

    Folders are expanded to their image files (by extension, sorted by name, not recursive); a folder
    without image files yields an error for the folder itself. A file that cannot be used yields its
    :class:`~nnscratch.errors.ImageError` instead of an array, so the other files still get processed.
    """
    for path in _expand(paths):
        try:
            if path.is_dir():
                raise ImageError(f"folder {str(path)!r} contains no image files ({', '.join(_EXT_LIST)})")
            yield path, preprocess_image(path)
        except ImageError as exc:
            yield path, exc


_EXT_LIST = sorted(IMAGE_EXTENSIONS)
