"""The price feed over HTTP: operators post timestamped SWARM prices; anyone reads them."""

from __future__ import annotations

import secrets
import time
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ledger.kit.config import Settings
from ledger.runtime import Runtime
from tests.integration.test_api import make_client, make_runtime

TOKEN = secrets.token_hex(8)
AUTH = {"Authorization": f"Bearer {TOKEN}"}


@pytest.fixture
def client(engine: Engine, fresh_db_url: str, redis_url: str) -> Iterator[TestClient]:
    rt: Runtime = make_runtime(engine, fresh_db_url, redis_url)
    rt.settings = Settings(SWARM_OPERATOR_TOKEN=TOKEN)
    with make_client(rt) as c:
        yield c


def test_post_prices_idempotently_and_read_the_feed(client: TestClient) -> None:
    now = int(time.time())
    body = {"kind": "current", "price_micro_usd": 1_250_000, "observed_at": now - 10,
            "source": "oracle-1"}  # fmt: skip
    assert client.post("/v1/prices", json=body).status_code == 401  # operator only
    r = client.post("/v1/prices", json=body, headers=AUTH)
    assert r.status_code == 201 and r.json()["created"] is True
    again = client.post("/v1/prices", json=body, headers=AUTH)
    assert again.status_code == 201 and again.json()["created"] is False
    other = client.post("/v1/prices", json={**body, "price_micro_usd": 1}, headers=AUTH)
    assert other.status_code == 409
    assert other.json()["error"]["code"] == "exists_with_different_price"
    feed = client.get("/v1/prices/latest").json()
    # Only a current price: no feed until a reference price exists too.
    assert feed["current_price_micro_usd"] is None
    assert feed["feed"]["current"]["status"] == "fresh"
    assert feed["feed"]["reference"]["status"] == "missing"
    ref = {**body, "kind": "reference", "price_micro_usd": 1_000_000}
    assert client.post("/v1/prices", json=ref, headers=AUTH).status_code == 201
    feed = client.get("/v1/prices/latest").json()
    assert (feed["reference_price_micro_usd"], feed["current_price_micro_usd"]) == (
        "1000000", "1250000",
    )  # fmt: skip


@pytest.mark.parametrize(
    ("change", "field"),
    [({"kind": "spot"}, "kind"), ({"price_micro_usd": 0}, "price_micro_usd"),
     ({"observed_at": int(time.time()) + 3600}, "observed_at"), ({"source": ""}, "source")],
)  # fmt: skip
def test_bad_prices_are_4xx_naming_the_field(
    client: TestClient, change: dict[str, object], field: str
) -> None:
    body = {"kind": "current", "price_micro_usd": 5, "observed_at": int(time.time()),
            "source": "oracle-1", **change}  # fmt: skip
    r = client.post("/v1/prices", json=body, headers=AUTH)
    assert r.status_code == 422, r.text
    assert r.json()["error"]["field"] == field
