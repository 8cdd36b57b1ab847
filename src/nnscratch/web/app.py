"""The FastAPI application: the JSON API and the static page.

Endpoints (schema at ``/openapi.json``):

* ``POST /api/predict``: JSON ``{"pixels": [...]}`` or a multipart form with an image file ``image``;
  answers with the digit, the ten probabilities, the 28×28 input the network saw, the saliency map and
  the hidden activations (:func:`nnscratch.web.model.analyse`).
* ``GET /api/model``: which model answers, its architecture and test accuracy.
* ``GET /api/test-digit[?index=N]``: a (random) MNIST test digit, its true label and the network's answer,
  when the MNIST test set is on this machine.
* ``GET /healthz``.
* Teaching it the user's handwriting (:mod:`nnscratch.web.teach`): ``POST``/``GET /api/corrections``,
  ``POST /api/finetune``, ``GET /api/finetune/{id}``, ``POST /api/model/revert``.

Every refused request gets a 4xx with ``{"detail": "one-line reason"}``.
"""

from __future__ import annotations

import logging
from pathlib import Path
from typing import Any

import numpy as np
from fastapi import FastAPI, Query, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException

from nnscratch import __version__
from nnscratch.inputs import scale_pixels
from nnscratch.web import schemas
from nnscratch.web.bodies import (
    MAX_BODY_BYTES,
    BadRequest,
    BodyLimit,
    image_from_bytes,
    image_from_pixels,
    pixels_from_json,
)
from nnscratch.web.corrections import MAX_CORRECTIONS, CorrectionStore, user_data_dir
from nnscratch.web.jobs import FinetuneJobs
from nnscratch.web.localdata import LocalMnist
from nnscratch.web.model import ModelHolder, analyse, load_model
from nnscratch.web.teach import add_teaching_routes

log = logging.getLogger(__name__)

STATIC = Path(__file__).with_name("static")
#: Uploads up to this size (the page's canvas PNGs are 1-10 kB) are preprocessed on the event loop.
INLINE_BYTES = 64 * 1024
#: The page may load nothing from anywhere but this server.
SECURITY_HEADERS = {
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; style-src 'self'; "
    "script-src 'self'; connect-src 'self'; frame-ancestors 'none'",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}


def _problem(status: int, reason: str) -> JSONResponse:
    return JSONResponse({"detail": " ".join(str(reason).split())}, status_code=status)


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> JSONResponse:
        return _problem(exc.status, exc.reason)

    @app.exception_handler(RequestValidationError)
    async def invalid(request: Request, exc: RequestValidationError) -> JSONResponse:
        first = exc.errors()[0] if exc.errors() else {}
        where = ".".join(str(part) for part in first.get("loc", ()) if part not in ("query", "body"))
        return _problem(422, f"{where or 'request'}: {first.get('msg', 'invalid value')}")

    @app.exception_handler(HTTPException)
    async def http_error(request: Request, exc: HTTPException) -> JSONResponse:
        return _problem(exc.status_code, exc.detail)


async def _image_from_request(request: Request) -> np.ndarray:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "application/json":
        return image_from_pixels(pixels_from_json(await request.body()))
    if kind == "multipart/form-data":
        try:
            form = await request.form(max_files=1, max_fields=8)
        except Exception:  # noqa: BLE001 - a malformed multipart body is the client's mistake
            raise BadRequest(400, "the multipart form could not be parsed") from None
        upload = form.get("image")
        if upload is None or isinstance(upload, str):
            raise BadRequest(422, 'the form needs an image file in the field "image"')
        data = await upload.read()
        if len(data) > INLINE_BYTES:  # a photo: decode it off the event loop
            return await run_in_threadpool(image_from_bytes, data)
        return image_from_bytes(data)  # a drawing: ~1 ms, cheaper than a thread hand-off under the GIL
    raise BadRequest(
        415,
        'send JSON {"pixels": [784 numbers in 0..1]} or a multipart form with an image file field "image"',
    )


def _add_reading_routes(app: FastAPI, holder: ModelHolder, mnist: LocalMnist) -> None:
    """``POST /api/predict``, ``GET /api/model`` and ``GET /api/test-digit``."""
    errors = schemas.error_responses

    @app.post(
        "/api/predict",
        response_model=None,
        responses={200: {"model": schemas.Prediction}, **errors(400, 413, 415, 422)},
        openapi_extra=schemas.PREDICT_BODY,
        summary="Read the digit in 28×28 pixels or in an image file",
    )
    async def predict(request: Request) -> JSONResponse:
        image = await _image_from_request(request)
        return JSONResponse(analyse(holder.current, image))

    @app.get("/api/model", response_model=schemas.ModelInfo, summary="The model that answers")
    def model_info() -> dict[str, Any]:
        return holder.current.info

    @app.get(
        "/api/test-digit",
        response_model=None,
        responses={200: {"model": schemas.TestDigit}, **errors(404, 422)},
        summary="A (random) MNIST test digit, its true label and the network's answer",
    )
    def test_digit(index: int | None = Query(None, ge=0, description="which test image; random if left out")):
        index, image, label = mnist.test_digit(index)
        model = holder.current
        result = analyse(model, image_from_pixels(scale_pixels(image)))
        return JSONResponse({"index": index, "label": label, **result})


def create_app(
    model_path: str | Path | None = None,
    *,
    data_dir: str | Path | None = None,
    corrections_dir: str | Path | None = None,
    models_dir: str | Path | None = None,
    max_corrections: int = MAX_CORRECTIONS,
    seed: int | None = None,
    max_body_bytes: int = MAX_BODY_BYTES,
) -> FastAPI:
    """The web app answering with the model in ``model_path`` (default: the model shipped with
    nnscratch). ``data_dir`` holds MNIST (local copies only) for test digits and for replay while
    fine-tuning; corrections go to ``corrections_dir/<digit>/`` and fine-tuned models to ``models_dir``
    (defaults: ``corrections/`` and ``models/`` in :func:`~nnscratch.web.corrections.user_data_dir`,
    created on first write); ``seed`` seeds the choice of test digits and the fine-tunes."""
    app = FastAPI(
        title="nnscratch",
        version=__version__,
        description="Draw a digit and see a from-scratch NumPy network read it.",
        docs_url=None,  # FastAPI's /docs and /redoc pages load scripts from a CDN: nothing external here
        redoc_url=None,
    )
    holder = ModelHolder(load_model(model_path))
    mnist = LocalMnist(data_dir, seed)
    store = CorrectionStore(corrections_dir or user_data_dir() / "corrections", max_count=max_corrections)
    jobs = FinetuneJobs(holder, store, mnist, models_dir or user_data_dir() / "models", seed=seed or 0)
    app.state.holder, app.state.mnist, app.state.corrections, app.state.jobs = holder, mnist, store, jobs
    _install_error_handlers(app)
    app.add_middleware(BodyLimit, limit=max_body_bytes)
    _add_reading_routes(app, holder, mnist)
    add_teaching_routes(app, holder, store, jobs)

    @app.get("/healthz", response_model=schemas.Health, summary="Liveness")
    def healthz() -> dict[str, str]:
        return {"status": "ok", "model": holder.current.path.name}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=SECURITY_HEADERS)

    app.mount("/static", StaticFiles(directory=STATIC), name="static")
    return app
