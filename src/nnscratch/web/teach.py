"""The API that teaches the network the user's handwriting (issue 12).

* ``POST /api/corrections``: a picture (multipart field ``image``) and the digit it really is (field
  ``label``), saved into the corrections folder; answers the counts per digit.
* ``GET /api/corrections``: the counts per digit.
* ``POST /api/finetune``: start "Teach it" (202 with a job id; 409 while one runs).
* ``GET /api/finetune/{id}``: its status, progress and before/after figures.
* ``POST /api/model/revert``: back to the model the server started with ("Undo").
"""

from __future__ import annotations

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from nnscratch.web import schemas
from nnscratch.web.bodies import BadRequest
from nnscratch.web.corrections import CorrectionStore
from nnscratch.web.jobs import FinetuneJobs
from nnscratch.web.model import ModelHolder


async def _correction_form(request: Request) -> tuple[bytes, str]:
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind != "multipart/form-data":
        raise BadRequest(415, 'send a multipart form with an image file "image" and its digit "label"')
    try:
        form = await request.form(max_files=1, max_fields=8)
    except Exception:  # noqa: BLE001 - a malformed multipart body is the client's mistake
        raise BadRequest(400, "the multipart form could not be parsed") from None
    upload, label = form.get("image"), form.get("label")
    if upload is None or isinstance(upload, str):
        raise BadRequest(422, 'the form needs an image file in the field "image"')
    if not isinstance(label, str):
        raise BadRequest(422, 'the form needs the digit it really is in the field "label" (0..9)')
    return await upload.read(), label.strip()


def add_teaching_routes(
    app: FastAPI, holder: ModelHolder, store: CorrectionStore, jobs: FinetuneJobs
) -> None:
    """Register the corrections, fine-tuning and revert endpoints on ``app``."""
    errors = schemas.error_responses

    @app.post(
        "/api/corrections",
        status_code=201,
        response_model=None,
        responses={201: {"model": schemas.CorrectionSaved}, **errors(400, 403, 409, 413, 415, 422)},
        openapi_extra=schemas.CORRECTION_BODY,
        summary="Save a picture with the digit it really is",
    )
    async def add_correction(request: Request) -> JSONResponse:
        data, label = await _correction_form(request)
        path = store.add(data, label)
        saved = f"{path.parent.name}/{path.name}"
        return JSONResponse({"saved": saved, **store.summary()}, status_code=201)

    @app.get("/api/corrections", response_model=schemas.Corrections, summary="Corrections per digit")
    def corrections() -> dict[str, Any]:
        return store.summary()

    @app.post(
        "/api/finetune",
        status_code=202,
        response_model=schemas.FinetuneJob,
        responses=errors(404, 409, 422),
        summary='"Teach it": fine-tune on the corrections in the background',
    )
    def start_finetune() -> dict[str, Any]:
        return jobs.start().to_dict()

    @app.get(
        "/api/finetune/{job_id}",
        response_model=schemas.FinetuneStatus,
        responses=errors(404),
        summary="Status, progress and before/after figures of a fine-tune",
    )
    def finetune_status(job_id: str) -> dict[str, Any]:
        return {**jobs.get(job_id).to_dict(), "model": holder.current.info}

    @app.post("/api/model/revert", response_model=schemas.ModelInfo, summary='"Undo": the original model')
    def revert() -> dict[str, Any]:
        return holder.revert().info
