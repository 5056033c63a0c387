"""Registry over HTTP: auth, the documented floors, versioned history, maintenance windows."""

from __future__ import annotations

import secrets
from collections.abc import Iterator
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine, text

from ledger.kit.config import Settings
from ledger.kit.db import transaction
from ledger.kit.signing import address_of
from ledger.runtime import Runtime
from ledger.telemetry import service as telemetry
from tests.integration.fleet import now_ts
from tests.integration.test_api import make_client, make_runtime

TOKEN = "test-operator-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def runtime(engine: Engine, fresh_db_url: str, redis_url: str) -> Runtime:
    rt = make_runtime(engine, fresh_db_url, redis_url)
    rt.settings = Settings(SWARM_OPERATOR_TOKEN=TOKEN)
    return rt


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with make_client(runtime) as c:
        yield c


def addr() -> str:
    return "0x" + secrets.token_hex(20)


def node_body(provider: str, node_id: str, key: bytes, **over: Any) -> dict[str, Any]:
    body = {
        "node_id": node_id, "provider_id": provider, "provider_type": "data_center",
        "region": "eu-west", "node_address": address_of(key),
        "hardware": {"gpus": 128, "gpu_class": "h100", "ram_gb": 2048, "storage_tb": 100,
                     "bandwidth_gbps": 100, "fingerprint": secrets.token_hex(16)},
    }  # fmt: skip
    body.update(over)
    return body


def provider(client: TestClient) -> str:
    p = addr()
    r = client.post("/v1/providers", json={"owner_address": p, "payout_address": p}, headers=AUTH)
    assert r.status_code == 201, r.text
    return p


def test_writes_need_the_operator_token(client: TestClient) -> None:
    p = addr()
    body = {"owner_address": p, "payout_address": p}
    assert client.post("/v1/providers", json=body).status_code == 401
    bad = {"Authorization": "Bearer nope"}
    assert client.post("/v1/providers", json=body, headers=bad).status_code == 401
    assert client.post("/v1/providers", json=body, headers=AUTH).status_code == 201


def test_provider_gets_its_ledger_accounts(client: TestClient) -> None:
    p = provider(client)
    kinds = {a["kind"] for a in client.get("/v1/accounts", params={"owner": p}).json()["items"]}
    assert kinds == {
        "rewards_accrued", "rewards_claimable", "rewards_claimed", "stake_bonded",
        "stake_unbonding",
    }  # fmt: skip


def test_data_center_with_two_gpus_is_refused_naming_the_rule(client: TestClient) -> None:
    p = provider(client)
    body = node_body(p, "dc-small", secrets.token_bytes(32))
    body["hardware"]["gpus"] = 2
    r = client.post("/v1/nodes", json=body, headers=AUTH)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["field"] == "hardware.gpus" and err["code"] == "rule_datacenter_min_gpus"
    assert "at least 100 GPUs" in err["message"]


def test_gpu_class_is_canonical_or_refused(client: TestClient) -> None:
    """'RTX 4090' (with a space) is priced as an RTX 4090, not as 'other'; an unknown class
    is a 422 naming hardware.gpu_class and listing the accepted names."""
    p = provider(client)
    body = node_body(p, "ws-1", secrets.token_bytes(32))
    body["provider_type"] = "workstation"
    body["hardware"] = {**body["hardware"], "gpus": 2, "gpu_class": "RTX 4090", "ram_gb": 64}
    r = client.post("/v1/nodes", json=body, headers=AUTH)
    assert r.status_code == 201, r.text
    assert r.json()["capacity_units_ppm"] == 2 * 350_000 + 100 * 50_000 + 100 * 20_000
    versions = client.get("/v1/nodes/ws-1").json()["history"]
    assert versions[0]["gpu_class"] == "rtx4090"
    bad = node_body(p, "ws-2", secrets.token_bytes(32))
    bad["hardware"] = {**bad["hardware"], "gpu_class": "MI300X"}
    r = client.post("/v1/nodes", json=bad, headers=AUTH)
    assert r.status_code == 422
    err = r.json()["error"]
    assert err["field"] == "hardware.gpu_class" and err["code"] == "rule_unknown_gpu_class"
    assert "rtx4090" in err["message"] and "h100" in err["message"]


def test_update_makes_a_new_version_and_keeps_history(client: TestClient) -> None:
    p = provider(client)
    key = secrets.token_bytes(32)
    body = node_body(p, "dc-1", key)
    assert client.post("/v1/nodes", json=body, headers=AUTH).json()["version"] == 1
    # Registering again with the same profile is idempotent.
    assert client.post("/v1/nodes", json=body, headers=AUTH).json()["version"] == 1
    changed = {k: v for k, v in body.items() if k not in ("node_id", "provider_id")}
    changed["hardware"] = {**body["hardware"], "gpus": 256}
    r = client.put("/v1/nodes/dc-1", json=changed, headers=AUTH)
    assert r.status_code == 200 and r.json()["version"] == 2
    assert r.json()["capacity_units_ppm"] == 256 * 1_000_000 + 100 * 50_000 + 100 * 20_000
    history = client.get("/v1/nodes/dc-1").json()["history"]
    assert [h["gpus"] for h in history] == [128, 256]
    # Registering the old profile again is now a conflict, not a silent rewrite.
    r = client.post("/v1/nodes", json=body, headers=AUTH)
    assert r.status_code == 409 and r.json()["error"]["code"] == "exists_with_different_profile"


def test_deregister_is_a_version_too(client: TestClient, engine: Engine) -> None:
    p = provider(client)
    client.post("/v1/nodes", json=node_body(p, "dc-2", secrets.token_bytes(32)), headers=AUTH)
    r = client.delete("/v1/nodes/dc-2", headers=AUTH)
    assert r.json()["status"] == "deregistered" and r.json()["version"] == 2
    with engine.connect() as conn:
        assert conn.execute(text("SELECT count(*) FROM node_versions WHERE node_id='dc-2'")
                            ).scalar_one() == 2  # fmt: skip


def test_unknown_fields_and_types_name_the_field(client: TestClient) -> None:
    p = provider(client)
    body = node_body(p, "dc-3", secrets.token_bytes(32))
    body["hardware"]["gpus"] = "128"
    r = client.post("/v1/nodes", json=body, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["field"] == "hardware.gpus"


def test_maintenance_window_rules_and_excused_heartbeats(
    client: TestClient, engine: Engine, runtime: Runtime
) -> None:
    p = provider(client)
    key = secrets.token_bytes(32)
    client.post("/v1/nodes", json=node_body(p, "dc-m", key), headers=AUTH)
    now = now_ts()
    url = "/v1/nodes/dc-m/maintenance"
    r = client.post(url, json={"start_ts": now - 10, "end_ts": now + 100}, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["code"] == "maintenance_not_ahead"
    budget = runtime.params.performance.maintenance_budget_s  # 8 h per 30 days
    start = now + 3600
    r = client.post(url, json={"start_ts": start, "end_ts": start + budget + 1}, headers=AUTH)
    assert r.status_code == 422  # longer than the whole budget
    r = client.post(url, json={"start_ts": start, "end_ts": start + budget - 600}, headers=AUTH)
    assert r.status_code == 201
    r = client.post(url, json={"start_ts": start + 86400, "end_ts": start + 86400 + 601},
                    headers=AUTH)  # fmt: skip
    assert r.status_code == 422
    assert r.json()["error"]["code"] == "maintenance_budget_exceeded"

    # In the epoch that holds the window, missed heartbeats inside it are excused.
    params = runtime.params
    epoch_len = params.epoch.epoch_length_s
    epoch = start // epoch_len + 1  # an epoch entirely inside the window
    with transaction(engine) as conn:
        rolls = telemetry.epoch_rollups(conn, epoch, params, ["dc-m"])
    r0 = rolls["dc-m"]
    assert r0.heartbeats_received == 0
    assert r0.heartbeats_excused == r0.heartbeats_expected  # all missed, all excused
    assert r0.uptime_ppm == 1_000_000
