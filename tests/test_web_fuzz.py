"""Property-based fuzzing of the web API from its own OpenAPI schema (schemathesis): never a 5xx.

Requests are generated from ``/openapi.json`` in both modes (valid per the schema, and deliberately
invalid) and sent to the ASGI app in-process; every answer must be a documented status with a
documented body, and no answer may be a server error.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path

import pytest

schemathesis = pytest.importorskip("schemathesis")
pytest.importorskip("fastapi")

from hypothesis import HealthCheck, settings  # noqa: E402
from schemathesis.checks import not_a_server_error  # noqa: E402
from schemathesis.specs.openapi.checks import (  # noqa: E402
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from conftest import mnist_dir  # noqa: E402
from nnscratch.web import create_app  # noqa: E402

pytestmark = pytest.mark.slow

HOME = Path(tempfile.mkdtemp(prefix="nnscratch-fuzz-"))
APP = create_app(
    data_dir=mnist_dir(), corrections_dir=HOME / "corrections", models_dir=HOME / "models", seed=0
)
schema = schemathesis.openapi.from_asgi("/openapi.json", APP)
schema.config.generation.update(
    modes=[schemathesis.GenerationMode.POSITIVE, schemathesis.GenerationMode.NEGATIVE],
    deterministic=True,
)
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


@schema.parametrize()
@settings(max_examples=60, deadline=None, suppress_health_check=list(HealthCheck))
def test_the_api_never_answers_with_a_server_error(case):
    case.call_and_validate(checks=CHECKS)


@pytest.fixture(scope="module", autouse=True)
def _remove_the_fuzzed_folders():
    yield
    shutil.rmtree(HOME, ignore_errors=True)
