"""Bad input is a 4xx naming the field, an outage a 503, never a 500 (issue 10, points 1-4, 7).

Every test runs against a real PostgreSQL and Redis through the HTTP API; the outage tests use
engines and Redis clients pointed at closed ports (real connection attempts, no mocks), and the
recovery test opens the port once the first 503 has been seen.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import secrets
import socket
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ledger.api.app import create_app
from ledger.kit.config import Settings
from ledger.kit.db import make_engine
from ledger.kit.limits import (
    MAX_BODY_BYTES,
    MAX_JSON_DEPTH,
    MAX_PAGE_SIZE,
    MAX_RECEIPTS,
    MAX_TELEMETRY_BODY_BYTES,
)
from ledger.runtime import Runtime
from tests.integration.fleet import make_fleet, now_ts
from tests.integration.test_api import DEAD_PG_URL, DEAD_REDIS_URL, make_client, make_runtime

TOKEN = "robust-operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
JSON = {"content-type": "application/json"}
PROVIDER = "0x" + "ab" * 20
README = Path(__file__).resolve().parents[2] / "README.md"


@pytest.fixture
def runtime(engine: Engine, fresh_db_url: str, redis_url: str) -> Runtime:
    rt = make_runtime(engine, fresh_db_url, redis_url)
    rt.settings = Settings(SWARM_OPERATOR_TOKEN=TOKEN)
    return rt


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with make_client(runtime) as c:
        yield c


def raw(value: Any) -> bytes:
    """JSON text with NUL and lone surrogates escaped (json.dumps keeps them as \\u escapes)."""
    return json.dumps(value).encode()


def refused(r: Any, status: int, field: str, code: str | None = None) -> dict[str, Any]:
    assert r.status_code == status, r.text
    error: dict[str, Any] = r.json()["error"]
    assert error["field"] == field, error
    if code:
        assert error["code"] == code, error
    return error


# --- 1. input types ----------------------------------------------------------------------------
def test_nul_cursor_on_nodes_is_a_422_naming_it(client: TestClient) -> None:
    refused(client.get("/v1/nodes?cursor=%00"), 422, "cursor")
    refused(client.get("/v1/accounts?owner=a%00"), 422, "owner")


@pytest.mark.parametrize("node_id", ["a\u0000", "\ud800", "a\udfff"])
def test_heartbeat_with_unstorable_node_id_rejects_only_that_item(
    client: TestClient, engine: Engine, node_id: str
) -> None:
    (node,) = make_fleet(engine, 1)
    bad = node.heartbeat(now_ts())
    bad["node_id"] = node_id
    good = node.heartbeat(now_ts())
    r = client.post("/v1/telemetry", content=raw({"heartbeats": [bad, good]}), headers=JSON)
    assert r.status_code == 200, r.text
    results = r.json()["results"]
    assert results[0] == {
        "index": 0, "status": "rejected", "reason": "malformed_field", "field": "node_id"
    }  # fmt: skip
    assert results[1]["status"] == "accepted"


@pytest.mark.parametrize("penalty_id", ["p%00x", "%00"])
def test_penalty_ids_with_nul_are_422(client: TestClient, penalty_id: str) -> None:
    base = f"/v1/penalties/{penalty_id}"
    refused(client.get(f"{base}/appeal"), 422, "penalty_id")
    body = {"counter_evidence": {"log": "x"}}
    refused(client.post(f"{base}/appeal", json=body, headers=AUTH), 422, "penalty_id")
    vote = {"governor": "g1", "vote": "void"}
    refused(client.post(f"{base}/votes", json=vote, headers=AUTH), 422, "penalty_id")
    refused(client.post(f"{base}/refund", headers=AUTH), 422, "penalty_id")


def test_withdraw_request_id_lone_surrogate_is_422(client: TestClient) -> None:
    r = client.post(
        f"/v1/providers/{PROVIDER}/withdraw",
        content=raw({"request_id": "\ud800"}),
        headers={**AUTH, **JSON},
    )
    refused(r, 422, "request_id")


@pytest.mark.parametrize("bad", ["a\u0000", "\ud800"])
def test_violation_evidence_and_node_id_are_checked(client: TestClient, bad: str) -> None:
    report = {"kind": "security_breach", "node_id": "n1", "evidence": {"log": "ok"},
              "severity": "minor"}  # fmt: skip
    post = {**AUTH, **JSON}
    r = client.post("/v1/violations", content=raw({**report, "node_id": bad}), headers=post)
    refused(r, 422, "node_id")
    r = client.post(
        "/v1/violations", content=raw({**report, "evidence": {"log": bad}}), headers=post
    )
    refused(r, 422, "evidence.log")
    r = client.post("/v1/violations", content=raw({**report, "evidence": {bad: "x"}}), headers=post)
    assert r.status_code == 422 and r.json()["error"]["field"].startswith("evidence")
    r = client.post(
        "/v1/penalties/p1/appeal", content=raw({"counter_evidence": {"x": bad}}), headers=post
    )
    refused(r, 422, "counter_evidence.x")


def test_release_reference_with_nul_is_422(client: TestClient) -> None:
    r = client.post(
        "/v1/nodes/n1/releases",
        content=raw({"kind": "review", "reference": "r\u0000"}),
        headers={**AUTH, **JSON},
    )
    refused(r, 422, "reference")


@pytest.mark.parametrize("field", ["start_ts", "end_ts"])
def test_maintenance_times_past_bigint_are_422(client: TestClient, field: str) -> None:
    body = {"start_ts": now_ts() + 3600, "end_ts": now_ts() + 7200, field: 2**70}
    refused(client.post("/v1/nodes/n1/maintenance", json=body, headers=AUTH), 422, field)


def test_hardware_integers_past_bigint_are_422(client: TestClient) -> None:
    hw = {"gpus": 2**70, "gpu_class": "h100", "ram_gb": 1, "storage_tb": 1,
          "bandwidth_gbps": 1, "fingerprint": "ab"}  # fmt: skip
    body = {"node_id": "n1", "provider_id": PROVIDER, "provider_type": "data_center",
            "region": "eu", "hardware": hw, "node_address": PROVIDER}  # fmt: skip
    refused(client.post("/v1/nodes", json=body, headers=AUTH), 422, "hardware.gpus")


def test_stake_strings_with_nul_are_422(client: TestClient) -> None:
    body = {"amount_base_units": "1", "bond_id": "b\u0000"}
    r = client.post(f"/v1/providers/{PROVIDER}/stake", content=raw(body), headers={**AUTH, **JSON})
    refused(r, 422, "bond_id")


# --- 2. body size, auth before the body ---------------------------------------------------------
def asgi_call(
    app: Any, method: str, path: str, headers: dict[str, str], chunks: list[bytes]
) -> tuple[int, dict[str, Any], int]:
    """Call the app at the ASGI level: (status, JSON body, chunks the app read)."""
    read = 0
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        nonlocal read
        if read < len(chunks):
            read += 1
            return {"type": "http.request", "body": chunks[read - 1],
                    "more_body": read < len(chunks)}  # fmt: skip
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    scope = {
        "type": "http", "asgi": {"version": "3.0"}, "http_version": "1.1", "method": method,
        "scheme": "http", "path": path, "raw_path": path.encode(), "query_string": b"",
        "root_path": "", "client": ("127.0.0.1", 1), "server": ("127.0.0.1", 80),
        "headers": [(k.lower().encode(), v.encode()) for k, v in headers.items()],
    }  # fmt: skip
    asyncio.run(app(scope, receive, send))
    status = next(m["status"] for m in sent if m["type"] == "http.response.start")
    body = b"".join(m.get("body", b"") for m in sent if m["type"] == "http.response.body")
    return status, json.loads(body), read


def test_declared_oversize_body_is_413_before_reading(runtime: Runtime) -> None:
    app = create_app(runtime)
    status, body, read = asgi_call(
        app, "POST", "/v1/providers",
        {"content-length": str(99_000_000), "content-type": "application/json"}, [b"x"],
    )  # fmt: skip
    assert (status, body["error"]["code"], read) == (413, "body_too_large", 0)


def test_no_token_is_401_before_the_body_is_read(runtime: Runtime) -> None:
    app = create_app(runtime)
    chunks = [b"{" * 1000] * 50  # not JSON: had it been parsed, this would be a 400
    status, body, read = asgi_call(
        app, "POST", "/v1/providers",
        {"content-length": str(sum(map(len, chunks))), "content-type": "application/json"},
        chunks,
    )  # fmt: skip
    assert (status, body["error"]["code"], read) == (401, "unauthorized", 0)


def test_streamed_body_past_the_cap_stops_at_the_cap(runtime: Runtime) -> None:
    app = create_app(runtime)
    chunk = b" " * 65_536
    chunks = [chunk] * (MAX_BODY_BYTES // len(chunk) + 10)  # no content-length: chunked
    status, body, read = asgi_call(
        app, "POST", "/v1/providers", {**AUTH, "content-type": "application/json"}, chunks
    )
    assert (status, body["error"]["code"]) == (413, "body_too_large")
    assert read == MAX_BODY_BYTES // len(chunk) + 1  # stopped at the chunk crossing the cap


def test_telemetry_has_its_own_larger_cap(client: TestClient) -> None:
    over = b" " * (MAX_TELEMETRY_BODY_BYTES + 1)
    refused(client.post("/v1/telemetry", content=over, headers=JSON), 413, "body", "body_too_large")
    between = b" " * (MAX_BODY_BYTES + 1)  # under telemetry's cap: read, then refused as JSON
    refused(
        client.post("/v1/telemetry", content=between, headers=JSON), 400, "body", "invalid_json"
    )


# --- 3. one answer for malformed requests ------------------------------------------------------
@pytest.mark.parametrize(
    "path", ["/v1/telemetry", "/v1/providers", "/v1/violations", "/v1/nodes/n1/maintenance"]
)
def test_malformed_json_is_400_invalid_json_everywhere(client: TestClient, path: str) -> None:
    r = client.post(path, content=b'{"a": ', headers={**AUTH, **JSON})
    refused(r, 400, "body", "invalid_json")
    r = client.post(path, content=b"\xff\xfe", headers={**AUTH, **JSON})
    refused(r, 400, "body", "invalid_json")


def test_duplicate_keys_are_refused_naming_the_key(client: TestClient) -> None:
    body = b'{"owner_address": "%s", "owner_address": "%s", "payout_address": "%s"}' % (
        PROVIDER.encode(), ("0x" + "cd" * 20).encode(), PROVIDER.encode(),
    )  # fmt: skip
    r = client.post("/v1/providers", content=body, headers={**AUTH, **JSON})
    refused(r, 400, "owner_address", "duplicate_key")
    r = client.post("/v1/telemetry", content=b'{"heartbeats": [], "heartbeats": []}', headers=JSON)
    refused(r, 400, "heartbeats", "duplicate_key")


@pytest.mark.parametrize("depth", [MAX_JSON_DEPTH + 1, 100_000])
def test_deep_nesting_is_400_too_deep(client: TestClient, depth: int) -> None:
    body = b'{"heartbeats": ' + b"[" * depth + b"]" * depth + b"}"
    refused(client.post("/v1/telemetry", content=body, headers=JSON), 400, "body", "too_deep")


@pytest.mark.parametrize("content_type", ["text/plain", "application/x-www-form-urlencoded"])
def test_wrong_content_type_is_415(client: TestClient, content_type: str) -> None:
    body = raw({"owner_address": PROVIDER, "payout_address": PROVIDER})
    r = client.post("/v1/providers", content=body, headers={**AUTH, "content-type": content_type})
    refused(r, 415, "content-type", "unsupported_media_type")
    r = client.post("/v1/telemetry", content=b"{}", headers={"content-type": content_type})
    refused(r, 415, "content-type", "unsupported_media_type")


def test_json_with_charset_and_plus_json_are_accepted(client: TestClient) -> None:
    body = raw({"owner_address": PROVIDER, "payout_address": PROVIDER})
    for ct in ("application/json; charset=utf-8", "application/merge-patch+json"):
        r = client.post("/v1/providers", content=body, headers={**AUTH, "content-type": ct})
        assert r.status_code == 201, r.text


# --- 4. outages are 503 with Retry-After, logged once, recovered by themselves ------------------
#: One valid request per route: an outage must be a 503 whatever the route.
VALID_REQUESTS: list[tuple[str, str, dict[str, Any] | None]] = [
    ("GET", "/v1/accounts", None),
    ("GET", "/v1/accounts/1", None),
    ("GET", "/v1/accounts/1/transfers", None),
    ("POST", "/v1/providers", {"owner_address": PROVIDER, "payout_address": PROVIDER}),
    ("GET", "/v1/nodes", None),
    ("GET", "/v1/nodes/n1", None),
    ("DELETE", "/v1/nodes/n1", None),
    ("POST", "/v1/nodes/n1/maintenance", {"start_ts": 2_000_000_000, "end_ts": 2_000_003_600}),
    ("GET", "/v1/telemetry/stats", None),
    ("GET", "/v1/epochs/1", None),
    ("GET", f"/v1/providers/{PROVIDER}/rewards", None),
    ("GET", "/v1/nodes/n1/receipts", None),
    ("POST", f"/v1/providers/{PROVIDER}/stake", {"amount_base_units": "1", "bond_id": "b1"}),
    ("POST", f"/v1/providers/{PROVIDER}/withdraw", {"request_id": "r1"}),
    ("GET", "/v1/nodes/n1/penalties", None),
    ("GET", "/v1/nodes/n1/violations", None),
    ("GET", "/v1/penalties/p1/appeal", None),
    ("POST", "/v1/penalties/p1/refund", None),
    ("POST", "/v1/nodes/n1/releases", {"kind": "review", "reference": "r1"}),
]


def dead_runtime(db_url: str, redis_url: str) -> Runtime:
    rt = make_runtime(make_engine(db_url, pool_size=2), db_url, redis_url)
    rt.settings = Settings(SWARM_OPERATOR_TOKEN=TOKEN)
    return rt


def test_database_and_redis_down_every_route_is_503(caplog: pytest.LogCaptureFixture) -> None:
    rt = dead_runtime(DEAD_PG_URL, DEAD_REDIS_URL)
    caplog.set_level(logging.WARNING)
    with make_client(rt) as c:
        for method, path, body in VALID_REQUESTS:
            r = c.request(method, path, json=body, headers=AUTH)
            assert r.status_code == 503, (method, path, r.text)
            assert r.headers["retry-after"].isdigit(), (method, path)
            assert r.json()["error"]["code"] == "database_unavailable", (method, path)
        r = c.post("/v1/telemetry", json={"heartbeats": [{"node_id": "n1"}]})
        assert r.status_code in (200, 503), r.text  # a malformed item never reaches a server
        r = c.get("/healthz")
        assert r.status_code == 503 and r.headers["retry-after"].isdigit()
    # One line per dependency for the whole outage (not one traceback per request).
    outage_lines = [rec.getMessage() for rec in caplog.records if "unavailable" in rec.getMessage()]
    assert sum(m.startswith("database unavailable") for m in outage_lines) == 1, outage_lines
    assert sum(m.startswith("redis unavailable") for m in outage_lines) <= 1, outage_lines
    assert all(rec.exc_info is None for rec in caplog.records), "no traceback in the log"
    rt.engine.dispose()


def test_redis_down_is_503_on_routes_that_need_it(engine: Engine, fresh_db_url: str) -> None:
    rt = make_runtime(engine, fresh_db_url, DEAD_REDIS_URL)
    with make_client(rt) as c:
        r = c.get("/v1/telemetry/stats")
        assert r.status_code == 503 and r.json()["error"]["code"] == "redis_unavailable", r.text
        assert r.headers["retry-after"].isdigit()
        (node,) = make_fleet(engine, 1)
        r = c.post("/v1/telemetry", json={"heartbeats": [node.heartbeat(now_ts())]})
        assert r.status_code in (200, 503), r.text
        assert c.get("/v1/accounts").status_code == 200  # PostgreSQL alone still serves reads


class _Forwarder:
    """A TCP port that forwards to PostgreSQL once opened: closed first (an outage)."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        probe = socket.socket()
        probe.bind(("127.0.0.1", 0))
        self.port = probe.getsockname()[1]
        probe.close()
        self.server: socket.socket | None = None

    def open(self) -> None:
        self.server = socket.create_server(("127.0.0.1", self.port))
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        assert self.server is not None
        while True:
            try:
                client, _ = self.server.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    @staticmethod
    def _pipe(src: socket.socket, dst: socket.socket) -> None:
        try:
            while data := src.recv(65_536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def close(self) -> None:
        if self.server is not None:
            self.server.close()


def test_database_outage_recovers_by_itself(fresh_db_url: str, redis_url: str) -> None:
    match = re.match(r"^(?P<head>.*@)(?P<host>[^:/]+):(?P<port>\d+)(?P<tail>/.*)$", fresh_db_url)
    if match is None:
        pytest.skip("needs a TCP PostgreSQL URL")
    forwarder = _Forwarder((match["host"], int(match["port"])))
    url = f"{match['head']}127.0.0.1:{forwarder.port}{match['tail']}"
    rt = make_runtime(make_engine(url, app_role="swarm_ledger_app", pool_size=2), url, redis_url)
    try:
        with make_client(rt) as c:
            r = c.get("/v1/accounts")
            assert r.status_code == 503 and r.headers["retry-after"].isdigit(), r.text
            forwarder.open()
            assert c.get("/v1/accounts").status_code == 200  # no restart, no manual step
    finally:
        forwarder.close()
        rt.engine.dispose()


# --- 7. small inconsistencies ------------------------------------------------------------------
def test_unknown_node_receipts_are_404_like_unknown_provider_rewards(client: TestClient) -> None:
    r = client.get("/v1/nodes/never-registered/receipts")
    assert r.status_code == 404 and r.json()["error"]["code"] == "node_not_found"
    r = client.get(f"/v1/providers/{PROVIDER}/rewards")
    assert r.status_code == 404


def test_known_node_without_receipts_has_an_empty_page(client: TestClient, engine: Engine) -> None:
    (node,) = make_fleet(engine, 1)
    r = client.get(f"/v1/nodes/{node.node_id}/receipts")
    assert r.status_code == 200 and r.json() == {"items": []}


def test_page_limits_and_the_readme_agree(client: TestClient) -> None:
    text = README.read_text()
    assert f"at most {MAX_PAGE_SIZE} items" in text
    assert f"receipts: at most {MAX_RECEIPTS}" in text
    refused(client.get(f"/v1/nodes?limit={MAX_PAGE_SIZE + 1}"), 422, "limit")
    assert client.get(f"/v1/nodes?limit={MAX_PAGE_SIZE}").status_code == 200
    refused(client.get(f"/v1/nodes/n1/receipts?limit={MAX_RECEIPTS + 1}"), 422, "limit")


@pytest.mark.parametrize("scheme", ["bearer", "BEARER", "Bearer", "bEaReR"])
def test_bearer_scheme_is_case_insensitive(client: TestClient, scheme: str) -> None:
    p = "0x" + secrets.token_hex(20)
    r = client.post(
        "/v1/providers",
        json={"owner_address": p, "payout_address": p},
        headers={"Authorization": f"{scheme} {TOKEN}"},
    )
    assert r.status_code == 201, r.text


@pytest.mark.parametrize("header", ["Bearer", f"Basic {TOKEN}", f"Bearer {TOKEN}x", TOKEN, ""])
def test_wrong_credentials_are_401(client: TestClient, header: str) -> None:
    p = "0x" + secrets.token_hex(20)
    r = client.post(
        "/v1/providers",
        json={"owner_address": p, "payout_address": p},
        headers={"Authorization": header},
    )
    refused(r, 401, "authorization", "unauthorized")
