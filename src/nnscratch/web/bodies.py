"""Turning request bodies into 28×28 images, and refusing bad ones with a 4xx and a one-line reason.

Two ways in: JSON ``{"pixels": [784 numbers in 0..1]}`` (or 28 rows of 28), and an image file (the
page sends its canvas as a PNG). Both go through :func:`nnscratch.images.preprocess.preprocess_image`, the
same MNIST-style preprocessing as ``nnscratch predict`` (it leaves MNIST digits unchanged).
:class:`BodyLimit` caps every request body before the app sees it.
"""

from __future__ import annotations

import io
import json
import logging
import math
import warnings
from typing import Any

import numpy as np

from nnscratch.errors import ImageError
from nnscratch.images.preprocess import preprocess_image

log = logging.getLogger(__name__)

SIDE = 28
#: Request bodies larger than this get a 413 before they are parsed.
MAX_BODY_BYTES = 5 * 1024 * 1024
#: Uploaded pictures with more pixels than this are refused from their header, before decoding (a
#: 12-megapixel phone photo passes; a decompression bomb does not).
MAX_UPLOAD_PIXELS = 25_000_000


class BadRequest(Exception):
    """A request the API refuses: HTTP ``status`` and a one-line ``reason``."""

    def __init__(self, status: int, reason: str) -> None:
        super().__init__(reason)
        self.status = status
        self.reason = " ".join(reason.split())


def _no_constants(name: str) -> Any:
    raise BadRequest(422, f"pixels must be finite numbers; {name} is not allowed")


def _flatten(pixels: Any) -> list:
    if not isinstance(pixels, list):
        raise BadRequest(
            422, f'"pixels" must be a list of {SIDE * SIDE} numbers, got {type(pixels).__name__}'
        )
    if pixels and all(isinstance(row, list) for row in pixels):
        if len(pixels) != SIDE:
            raise BadRequest(
                422, f"pixels as rows needs {SIDE} rows of {SIDE} numbers, got {len(pixels)} rows"
            )
        for i, row in enumerate(pixels):
            if len(row) != SIDE:
                raise BadRequest(422, f"pixels row {i} has {len(row)} numbers; every row needs {SIDE}")
        return [value for row in pixels for value in row]
    if len(pixels) != SIDE * SIDE:
        raise BadRequest(
            422, f"pixels needs {SIDE * SIDE} numbers (or {SIDE} rows of {SIDE}), got {len(pixels)}"
        )
    return pixels


def pixels_from_json(body: bytes) -> np.ndarray:
    """The (28, 28) float32 image in a JSON body ``{"pixels": ...}``, checked value by value."""
    try:
        doc = json.loads(body, parse_constant=_no_constants)
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as exc:
        raise BadRequest(400, f"the request body is not valid JSON ({type(exc).__name__})") from None
    if not isinstance(doc, dict) or "pixels" not in doc:
        raise BadRequest(422, f'expected a JSON object {{"pixels": [{SIDE * SIDE} numbers in 0..1]}}')
    flat = _flatten(doc["pixels"])
    for i, value in enumerate(flat):
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            raise BadRequest(422, f"pixels[{i}] is not a number: {json.dumps(value)[:40]}")
        if not math.isfinite(value):
            raise BadRequest(422, f"pixels[{i}] is not a finite number")
        if not 0.0 <= value <= 1.0:
            raise BadRequest(422, f"pixels[{i}] = {value:g} is outside 0..1")
    return np.asarray(flat, dtype=np.float32).reshape(SIDE, SIDE)


def _check_header(data: bytes) -> None:
    """Refuse what is not an image, or too many pixels, from the header alone (nothing decoded yet)."""
    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            with Image.open(io.BytesIO(data)) as im:
                width, height = im.size
    except Image.DecompressionBombError:
        raise BadRequest(413, "the image has far too many pixels (a decompression bomb?)") from None
    except Exception:  # noqa: BLE001 - whatever a decoder makes of arbitrary bytes, it is not an image
        raise BadRequest(422, "the uploaded file is not an image in a format Pillow can read") from None
    if width * height > MAX_UPLOAD_PIXELS:
        raise BadRequest(
            413,
            f"the image is {width}x{height} = {width * height / 1e6:.0f} megapixels; the limit is "
            f"{MAX_UPLOAD_PIXELS / 1e6:.0f} (a decompression bomb, or a photo to scale down first)",
        )


def image_from_bytes(data: bytes) -> np.ndarray:
    """The (28, 28) float32 image preprocessed from an uploaded image file."""
    if not data:
        raise BadRequest(422, "the uploaded file is empty")
    _check_header(data)
    try:
        return preprocess_image(data, name="upload")
    except ImageError as exc:
        message = str(exc)
        if "contains no ink" in message:
            message = "the drawing is empty: there is no ink in the image"
        raise BadRequest(422, message) from None
    except Exception as exc:  # noqa: BLE001 - a broken file must never become a 500
        log.warning("could not process an uploaded image: %r", exc)
        raise BadRequest(422, f"the image could not be processed ({type(exc).__name__})") from None


def image_from_pixels(pixels: np.ndarray) -> np.ndarray:
    """Pixels sent as numbers go through the same preprocessing (MNIST digits come back unchanged)."""
    if not pixels.any():
        raise BadRequest(422, "the drawing is empty: every pixel is 0")
    try:
        return preprocess_image(pixels, name="pixels")
    except ImageError as exc:
        raise BadRequest(422, str(exc)) from None


class BodyLimit:
    """ASGI middleware: a request body over ``limit`` bytes gets a 413 before the app reads any of it.

    The declared Content-Length is checked first; a body sent without one (chunked) is read up to the
    limit and then refused, so the cap holds either way. An accepted body is replayed to the app.
    """

    def __init__(self, app: Any, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http" or scope["method"] in ("GET", "HEAD", "OPTIONS"):
            await self.app(scope, receive, send)
            return
        headers = dict(scope.get("headers") or [])
        declared = headers.get(b"content-length")
        if declared is not None and (not declared.isdigit() or int(declared) > self.limit):
            await self._refuse(send)
            return
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.limit:
                await self._refuse(send)
                return
            chunks.append(chunk)
            more = message.get("more_body", False)
        body = b"".join(chunks)
        replayed = False

        async def replay() -> dict:
            nonlocal replayed
            if not replayed:
                replayed = True
                return {"type": "http.request", "body": body, "more_body": False}
            return await receive()

        await self.app(scope, replay, send)

    async def _refuse(self, send: Any) -> None:
        size = f"{self.limit / 2**20:g} MB" if self.limit >= 2**20 else f"{self.limit} bytes"
        reason = f"the request body is larger than the {size} limit"
        payload = json.dumps({"detail": reason}).encode()
        await send(
            {
                "type": "http.response.start",
                "status": 413,
                "headers": [
                    (b"content-type", b"application/json"),
                    (b"content-length", str(len(payload)).encode()),
                ],
            }
        )
        await send({"type": "http.response.body", "body": payload})
