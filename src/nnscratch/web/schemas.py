"""The API's documented shapes (used for ``/openapi.json``, which the fuzz tests generate requests from)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field

N_PIXELS = 784


class Problem(BaseModel):
    detail: str = Field(description="one-line reason the request was refused")


class Prediction(BaseModel):
    digit: int = Field(ge=0, description="the network's answer")
    probabilities: list[float] = Field(description="one probability per class")
    input: list[list[float]] = Field(description="the 28×28 image the network saw, in [0, 1]")
    saliency: list[list[float]] = Field(
        description="∂logit[digit]/∂pixel, 28×28, divided by saliency_scale so it lies in [-1, 1]"
    )
    saliency_scale: float = Field(ge=0, description="the largest |∂logit/∂pixel|")
    hidden: list[list[float]] = Field(description="each hidden layer's activations")
    model: str = Field(description="file name of the model that answered")


class TestDigit(Prediction):
    index: int = Field(ge=0, description="index in the official MNIST test set")
    label: int = Field(ge=0, le=9, description="the true digit")


class ModelInfo(BaseModel):
    name: str
    path: str
    default: bool = Field(description="the model shipped with nnscratch")
    sizes: list[int]
    activation: str
    loss: str
    test_accuracy: float | None = Field(description="accuracy on the MNIST test set stored in the file")
    dataset: str | None
    epochs: int
    preset: str | None
    finetuned_from: str | None


class Health(BaseModel):
    status: str
    model: str


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    return {code: {"model": Problem, "description": "refused, with a one-line reason"} for code in codes}


_PIXEL = {"type": "number", "minimum": 0, "maximum": 1}

#: ``POST /api/predict`` reads its body itself (two content types), so the schema is written out here.
PREDICT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "required": ["pixels"],
                    "properties": {
                        "pixels": {
                            "description": "784 grey levels in [0, 1] (light ink on black), "
                            "flat or as 28 rows of 28",
                            "oneOf": [
                                {
                                    "type": "array",
                                    "items": _PIXEL,
                                    "minItems": N_PIXELS,
                                    "maxItems": N_PIXELS,
                                },
                                {
                                    "type": "array",
                                    "minItems": 28,
                                    "maxItems": 28,
                                    "items": {
                                        "type": "array",
                                        "items": _PIXEL,
                                        "minItems": 28,
                                        "maxItems": 28,
                                    },
                                },
                            ],
                        }
                    },
                }
            },
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image"],
                    "properties": {
                        "image": {
                            "type": "string",
                            "format": "binary",
                            "description": "a picture of a digit (PNG, JPEG, ...), at most 5 MB",
                        }
                    },
                }
            },
        },
    }
}


class Corrections(BaseModel):
    dir: str = Field(description="the corrections folder, laid out as DIR/<digit>/")
    counts: dict[str, int] = Field(description='pictures per digit, "0" to "9"')
    total: int
    max: int = Field(description="the folder's cap on pictures")


class CorrectionSaved(Corrections):
    saved: str = Field(description="<digit>/<file name chosen by the server>")


class FinetuneJob(BaseModel):
    id: str
    status: str = Field(description="running, done, refused (MNIST would be forgotten) or failed")
    progress: float = Field(ge=0, le=1)
    base_model: str = Field(description="file name of the model that was fine-tuned")
    seconds: float
    result: dict[str, Any] | None = Field(
        description="before/after figures: user_holdout {n, before, after}, mnist_test {before, after, "
        "drop_points, max_drop_points}, digits_per_class, n_trained, n_replayed, seconds, recipe, seed"
    )
    saved: str | None = Field(description="the fine-tuned model file, once saved and swapped in")
    error: str | None
    skipped: list[str] = Field(description="correction files that could not be used, with the reason")


class FinetuneStatus(FinetuneJob):
    model: ModelInfo = Field(description="the model answering now")


CORRECTION_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": ["image", "label"],
                    "properties": {
                        "image": {"type": "string", "format": "binary", "description": "the picture"},
                        "label": {"type": "string", "enum": [str(d) for d in range(10)]},
                    },
                }
            }
        },
    }
}
