"""Appeals over HTTP: a governor quorum voids a pending slash and every balance comes back;
non-governors don't count; a vote once cast can't change."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ledger.kit.config import Settings
from ledger.params.domain import demo_params
from ledger.runtime import Runtime
from tests.integration.epoch_helpers import at, bond
from tests.integration.fleet import make_fleet, now_ts
from tests.integration.test_api import make_client, make_runtime

AUTH = {"Authorization": "Bearer t"}
P = demo_params()


@pytest.fixture
def client(engine: Engine, fresh_db_url: str, redis_url: str) -> Iterator[TestClient]:
    rt: Runtime = make_runtime(engine, fresh_db_url, redis_url)
    rt.settings = Settings(SWARM_OPERATOR_TOKEN="t", SWARM_GOVERNORS="ann,bob,cyd")
    rt.params = P
    with make_client(rt) as c:
        yield c


def balances(client: TestClient, owner: str) -> dict[str, dict[str, str]]:
    items = client.get("/v1/accounts", params={"owner": owner}).json()["items"]
    return {a["kind"]: a["balances"] for a in items}


def test_quorum_voids_and_restores(client: TestClient, engine: Engine) -> None:
    (node,) = make_fleet(engine, 1, params=P, registered_at=at(now_ts() - 100))
    bond(engine, [node], at(now_ts() - 50))  # stake at risk when the breach is reported
    before = balances(client, node.provider_id)
    r = client.post("/v1/violations", headers=AUTH, json={
        "kind": "security_breach", "node_id": node.node_id, "severity": "major",
        "evidence": {"report": "intrusion-7"}})  # fmt: skip
    assert r.status_code == 201, r.text
    p = r.json()
    assert p["status"] == "pending" and int(p["slash_base_units"]) > 0
    assert "security" in p["rule"].lower()
    held = balances(client, node.provider_id)
    assert held["stake_bonded"]["debits_pending"] == p["slash_base_units"]

    url = f"/v1/penalties/{p['id']}"
    assert client.post(f"{url}/votes", headers=AUTH, json={"governor": "ann", "vote": "void"}
                       ).status_code == 404  # no appeal filed yet  # fmt: skip
    r = client.post(f"{url}/appeal", headers=AUTH, json={"counter_evidence": {"log": "x"}})
    assert r.status_code == 201 and r.json()["status"] == "pending"
    r = client.post(f"{url}/votes", headers=AUTH, json={"governor": "eve", "vote": "void"})
    assert r.status_code == 403 and r.json()["error"]["code"] == "not_a_governor"
    r = client.post(f"{url}/votes", headers=AUTH, json={"governor": "ann", "vote": "void"})
    assert r.json()["outcome"] == "pending"
    r = client.post(f"{url}/votes", headers=AUTH, json={"governor": "ann", "vote": "uphold"})
    assert r.status_code == 409 and r.json()["error"]["code"] == "vote_already_cast"
    r = client.post(f"{url}/votes", headers=AUTH, json={"governor": "bob", "vote": "void"})
    assert r.json()["outcome"] == "voided" and r.json()["status"] == "voided"
    assert balances(client, node.provider_id) == before
    r = client.post(f"{url}/votes", headers=AUTH, json={"governor": "cyd", "vote": "void"})
    assert r.status_code == 409
    penalties = client.get(f"/v1/nodes/{node.node_id}/penalties").json()["items"]
    assert [x["status"] for x in penalties] == ["voided"]
    violations = client.get(f"/v1/nodes/{node.node_id}/violations").json()["items"]
    assert [(v["kind"], v["evidence"]) for v in violations] == [
        ("security_breach", {"report": "intrusion-7"})
    ]
    appeal = client.get(f"{url}/appeal").json()
    assert appeal["votes"] == {"ann": "void", "bob": "void"} and appeal["status"] == "voided"


def test_an_appealed_slash_waits_for_the_governors(client: TestClient, engine: Engine) -> None:
    import datetime as dt

    from ledger.kit.db import transaction
    from ledger.slashing import service as slashing

    (node,) = make_fleet(engine, 1, params=P, registered_at=at(now_ts() - 100))
    bond(engine, [node], at(now_ts() - 50))
    p = client.post("/v1/violations", headers=AUTH, json={
        "kind": "security_breach", "node_id": node.node_id, "severity": "minor",
        "evidence": {"report": "r-9"}}).json()  # fmt: skip
    client.post(f"/v1/penalties/{p['id']}/appeal", headers=AUTH,
                json={"counter_evidence": {"alibi": "maintenance"}})  # fmt: skip
    after_window = dt.datetime.fromtimestamp(p["appeal_deadline_s"] + 1, dt.UTC)
    with transaction(engine) as conn:
        assert slashing.execute_due(conn, now=after_window, params=P) == 0  # undecided
    for governor in ("ann", "bob"):
        r = client.post(f"/v1/penalties/{p['id']}/votes", headers=AUTH,
                        json={"governor": governor, "vote": "uphold"})  # fmt: skip
    assert r.json()["outcome"] == "upheld"
    with transaction(engine) as conn:
        assert slashing.execute_due(conn, now=after_window, params=P) == 1
    assert client.get(f"/v1/nodes/{node.node_id}/penalties").json()["items"][0]["status"] == (
        "executed"
    )


def test_an_executed_slash_overturned_later_is_refunded_from_insurance(
    client: TestClient, engine: Engine
) -> None:
    import datetime as dt

    from ledger.accounting.service import verify_ledger
    from ledger.kit.db import transaction
    from ledger.slashing import service as slashing

    (node,) = make_fleet(engine, 1, params=P, registered_at=at(now_ts() - 100))
    bond(engine, [node], at(now_ts() - 50))
    before = balances(client, node.provider_id)["stake_bonded"]["balance"]
    p = client.post("/v1/violations", headers=AUTH, json={
        "kind": "security_breach", "node_id": node.node_id, "severity": "major",
        "evidence": {"report": "r-10"}}).json()  # fmt: skip
    url = f"/v1/penalties/{p['id']}/refund"
    assert client.post(url, headers=AUTH).status_code == 409  # not executed yet
    with transaction(engine) as conn:
        slashing.execute_due(
            conn, now=dt.datetime.fromtimestamp(p["appeal_deadline_s"], dt.UTC), params=P
        )
    assert int(balances(client, node.provider_id)["stake_bonded"]["balance"]) == (
        int(before) - int(p["slash_base_units"])
    )
    # The pool holds only half of this slash (50/30/20): refunding all of it needs what earlier
    # slashes paid in; until then the refund is refused, not overdrawn.
    r = client.post(url, headers=AUTH)
    assert r.status_code == 422 and r.json()["error"]["code"] == "exceeds_credits"
    from ledger.accounting.service import create_transfer, open_system_accounts
    from tests.integration.helpers import req

    with transaction(engine) as conn:
        system = open_system_accounts(conn)
        create_transfer(conn, req("earlier-slashes", system["emission"],
                                  system["insurance_pool"], int(p["slash_base_units"])),
                        now=dt.datetime.now(dt.UTC))  # fmt: skip
    r = client.post(url, headers=AUTH)
    assert r.status_code == 201 and len(r.json()["transfer_ids"]) == 1
    assert client.post(url, headers=AUTH).status_code == 201  # idempotent
    assert balances(client, node.provider_id)["stake_bonded"]["balance"] == before
    with engine.connect() as conn:
        assert verify_ledger(conn).ok
