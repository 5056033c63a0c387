"""The OpenAPI document tells the truth, and /docs and /redoc work offline (issue 10, 5-6).

The structural tests read the document; the schemathesis test sends generated requests (valid
and invalid, with and without the operator token) to the app in process, against a real
PostgreSQL and Redis, and fails on any 5xx or any response that breaks the document. The short
run is part of ``make test``; ``make schemathesis`` runs the long one
(SCHEMATHESIS_MAX_EXAMPLES=300 and the slow marker).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from typing import Any

import pytest
import schemathesis
from fastapi import FastAPI
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from schemathesis.checks import CHECKS, load_all_checks, positive_data_acceptance
from sqlalchemy import Engine

from ledger.api.app import create_app
from ledger.api.docs import ASSETS_PATH
from ledger.kit.config import Settings
from ledger.runtime import Runtime
from tests.integration.test_api import make_runtime

TOKEN = "openapi-operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
#: Examples per operation: small in `make test`, large in `make schemathesis`.
MAX_EXAMPLES = int(os.environ.get("SCHEMATHESIS_MAX_EXAMPLES", "8"))
#: The seed of every run (hypothesis derandomizes from it): a failure replays exactly.
SEED = int(os.environ.get("SCHEMATHESIS_SEED", "20261201"))
ERROR_REF = "#/components/schemas/ErrorOut"
OPERATIONS = ("get", "post", "put", "patch", "delete")


@pytest.fixture(scope="module")
def api_runtime(shared_engine: Engine, shared_db_url: str, redis_url: str) -> Runtime:
    rt = make_runtime(shared_engine, shared_db_url, redis_url)
    rt.settings = Settings(SWARM_OPERATOR_TOKEN=TOKEN)
    return rt


@pytest.fixture(scope="module")
def app(api_runtime: Runtime) -> FastAPI:
    return create_app(api_runtime)


@pytest.fixture(scope="module")
def doc(app: FastAPI) -> dict[str, Any]:
    with TestClient(app) as c:
        r = c.get("/openapi.json")
    assert r.status_code == 200
    body: dict[str, Any] = r.json()
    return body


def operations(doc: dict[str, Any]) -> Iterator[tuple[str, str, dict[str, Any]]]:
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in OPERATIONS:
                yield path, method, op


# --- the document ------------------------------------------------------------------------------
def test_operator_bearer_scheme_is_declared_and_used(doc: dict[str, Any]) -> None:
    scheme = doc["components"]["securitySchemes"]["operator"]
    assert scheme["type"] == "http" and scheme["scheme"].lower() == "bearer"
    secured = {(p, m) for p, m, op in operations(doc) if op.get("security") == [{"operator": []}]}
    # Every write is operator-only but telemetry (its heartbeats are signed); no read is.
    writes = {(p, m) for p, m, _ in operations(doc) if m != "get" and p != "/v1/telemetry"}
    assert secured == writes


#: Tags whose routes may return untyped bodies: none, every route declares a response model.
UNTYPED_TAGS: set[str] = set()


def test_every_success_response_is_typed(doc: dict[str, Any]) -> None:
    untyped = []
    for path, method, op in operations(doc):
        ok = [s for s in op["responses"] if s.startswith("2")]
        assert ok, (path, method)
        if UNTYPED_TAGS & set(op.get("tags", ())):
            continue
        for status in ok:
            schema = op["responses"][status].get("content", {}).get("application/json", {})
            schema = schema.get("schema", {})
            if "$ref" not in schema and schema.get("type") != "array":
                untyped.append((method.upper(), path, schema))
    assert not untyped, untyped


def test_every_error_status_has_the_error_schema(doc: dict[str, Any]) -> None:
    assert set(doc["components"]["schemas"]["ErrorOut"]["required"]) == {"error"}
    for path, method, op in operations(doc):
        errors = {s: r for s, r in op["responses"].items() if s[0] in "45"}
        must = {"400", "413", "503"} | ({"401"} if op.get("security") else set())
        if op.get("requestBody"):
            must |= {"415", "422"}
        assert must <= set(errors), (method, path, sorted(errors))
        for status, response in errors.items():
            if (path, status) in {("/healthz", "503"), ("/v1/telemetry", "429")}:
                continue  # their own documented shapes: HealthOut, IngestOut (with its error)
            schema = response["content"]["application/json"]["schema"]
            assert schema == {"$ref": ERROR_REF}, (method, path, status)
    assert "HTTPValidationError" not in doc["components"]["schemas"]


# --- /docs and /redoc offline ------------------------------------------------------------------
@pytest.mark.parametrize("page", ["/docs", "/redoc"])
def test_docs_pages_reference_no_outside_origin(app: FastAPI, page: str) -> None:
    with TestClient(app) as c:
        r = c.get(page)
        assert r.status_code == 200 and r.headers["content-type"].startswith("text/html")
        refs = re.findall(r"""(?:src|href)\s*=\s*["']([^"']+)["']""", r.text)
        refs += re.findall(r"""url\s*:\s*["']([^"']+)["']""", r.text)
        assert refs, r.text
        outside = [u for u in refs if re.match(r"^(?:[a-z]+:)?//", u, re.I)]
        assert not outside, outside
        assert "cdn." not in r.text and "fonts.googleapis" not in r.text
        for ref in refs:
            if ref.startswith(ASSETS_PATH):
                asset = c.get(ref)
                assert asset.status_code == 200 and len(asset.content) > 1_000, ref


# --- schemathesis ------------------------------------------------------------------------------
# schemathesis' own pytest plugin (``from_fixture``) does not run under pytest 9.2 (it sets a
# removed ``Function._nodeid``), so the test drives its strategies with hypothesis directly:
# each operation, positive and negative generation, the same checks as ``--checks all``.
#: Refusals of schema-violating data: schemathesis' default list plus 413 (a batch over its
#: maxItems is a 413 batch_too_large, as a body over its cap).
CONFIG = schemathesis.Config.from_dict(
    {
        "checks": {
            "negative_data_rejection": {
                "expected-statuses": [400, 401, 403, 404, 405, 406, 409, 413, 415, 422, 428, 429]
            }
        }
    }
)


def all_checks() -> list[Any]:
    """Every schemathesis check but positive_data_acceptance: the domains refuse some
    schema-valid requests by design (a data_center with 2 GPUs, an unknown lock tier, a
    maintenance window in the past) with a 422 naming the rule, which no schema can express."""
    load_all_checks()
    return [c for c in CHECKS.get_all() if c is not positive_data_acceptance]


def _test_of(
    strategy: Any, headers: dict[str, str] | None, checks: list[Any], count: list[int]
) -> Any:
    @given(case=strategy)
    @settings(
        max_examples=MAX_EXAMPLES,
        derandomize=True,
        database=None,
        deadline=None,
        suppress_health_check=list(HealthCheck),
    )
    def check(case: Any) -> None:
        count[0] += 1
        case.call_and_validate(headers=headers, checks=checks)

    return check


def run_schemathesis(app: FastAPI, headers: dict[str, str] | None) -> dict[str, int]:
    """Every operation, both generation modes; raises on the first failure (with the case)."""
    api = schemathesis.openapi.from_asgi("/openapi.json", app, config=CONFIG)
    checks = all_checks()
    calls: dict[str, int] = {}
    for result in api.get_all_operations():
        operation = result.ok()
        for mode in (GenerationMode.POSITIVE, GenerationMode.NEGATIVE):
            count = [0]
            try:
                _test_of(operation.as_strategy(generation_mode=mode), headers, checks, count)()
            except Unsatisfiable:
                # Nothing to make invalid (no parameter, no body): only positive cases exist.
                assert mode is GenerationMode.NEGATIVE, operation.label
            calls[f"{mode.value} {operation.label}"] = count[0]
    return calls


@pytest.mark.parametrize("with_token", [True, False], ids=["token", "no-token"])
def test_schemathesis_finds_no_5xx_and_no_schema_violation(app: FastAPI, with_token: bool) -> None:
    calls = run_schemathesis(app, AUTH if with_token else None)
    assert len(calls) >= 2 * 20, calls  # every operation ran, in both modes
    print(f"schemathesis: {len(calls)} operation-modes, {sum(calls.values())} calls")
