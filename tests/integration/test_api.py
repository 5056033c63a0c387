"""The read API over HTTP (TestClient) against a real PostgreSQL and Redis.

The ledger is populated through the services, exactly as workers do, and read back through the
routes: balances as strings of base units, cursor pagination, derived transfer status, and the
error contract (a stable code, the field at fault, never a stack trace).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import Engine

from ledger.accounting.domain.transfers import TransferKind as K
from ledger.accounting.service import (
    PROVIDER_ACCOUNT_KINDS,
    SYSTEM_ACCOUNTS,
    create_transfers,
    get_account,
    open_provider_accounts,
    open_system_accounts,
)
from ledger.api.app import create_app
from ledger.kit.config import Settings
from ledger.kit.db import make_engine, transaction
from ledger.kit.embedded import Resolved
from ledger.runtime import Runtime
from tests.integration.helpers import NOW, req, setup_accounts

#: A Redis URL nothing listens on (port 1 is never bound on the test machine).
DEAD_REDIS_URL = "redis://127.0.0.1:1/0"
#: A PostgreSQL URL nothing listens on.
DEAD_PG_URL = "postgresql+psycopg://nobody:nothing@127.0.0.1:1/nowhere"
#: Above 2**64 and not a multiple of 10**18: a float or an int64 would mangle it.
BIG_AMOUNT = 10**30 + 123_456_789
BIG_AMOUNT_SWARM = "1000000000000.000000000123456789"


def _no_traceback(response: httpx.Response) -> None:
    """Every error body is JSON with a stable code and never leaks a stack trace."""
    if response.status_code >= 400:
        response.read()
        assert "Traceback" not in response.text, response.text
        assert 'File "' not in response.text, response.text
        body = response.json()
        assert isinstance(body, dict)
        # /healthz answers 503 in its own documented shape; everything else uses {error: ...}.
        if response.request.url.path != "/healthz":
            assert isinstance(body.get("error", {}).get("code"), str), body


def make_client(runtime: Runtime) -> TestClient:
    # raise_server_exceptions=False: see the 500 the server would really send, not the exception.
    client = TestClient(create_app(runtime), raise_server_exceptions=False)
    client.event_hooks = {"request": [], "response": [_no_traceback]}
    return client


def make_runtime(engine: Engine, db_url: str, redis_url: str) -> Runtime:
    return Runtime(
        settings=Settings(),
        database=Resolved(db_url, "external"),
        redis=Resolved(redis_url, "external"),
        engine=engine,
    )


@pytest.fixture
def runtime(engine: Engine, fresh_db_url: str, redis_url: str) -> Runtime:
    return make_runtime(engine, fresh_db_url, redis_url)


@pytest.fixture
def client(runtime: Runtime) -> Iterator[TestClient]:
    with make_client(runtime) as c:
        yield c


def error_of(response: httpx.Response) -> dict[str, Any]:
    body = response.json()
    assert set(body) == {"error"}, body
    err = body["error"]
    assert isinstance(err, dict)
    assert isinstance(err.get("message"), str) and err["message"], err
    return err


# --- /healthz -----------------------------------------------------------------------------


def test_healthz_ok_reports_the_chain_head(engine: Engine, client: TestClient) -> None:
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "redis": "ok", "ledger_head_seq": 0}

    sysa, a, b = setup_accounts(engine)
    with transaction(engine) as conn:
        create_transfers(
            conn,
            [req("h1", sysa["emission"], a, 10), req("h2", a, b, 3), req("h3", a, b, 2)],
            now=NOW,
        )
    r = client.get("/healthz")
    assert r.status_code == 200
    assert r.json() == {"status": "ok", "database": "ok", "redis": "ok", "ledger_head_seq": 3}


def test_healthz_redis_down_is_503_degraded(engine: Engine, fresh_db_url: str) -> None:
    with make_client(make_runtime(engine, fresh_db_url, DEAD_REDIS_URL)) as client:
        r = client.get("/healthz")
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "degraded"
    assert body["database"] == "ok"
    assert body["redis"].startswith("error: ") and len(body["redis"]) > len("error: ")
    assert body["ledger_head_seq"] == 0


def test_healthz_database_down_is_503_degraded(redis_url: str) -> None:
    dead = make_engine(DEAD_PG_URL, pool_size=1, connect_args={"connect_timeout": 2})
    try:
        with make_client(make_runtime(dead, DEAD_PG_URL, redis_url)) as client:
            r = client.get("/healthz")
    finally:
        dead.dispose()
    assert r.status_code == 503
    body = r.json()
    assert body["status"] == "degraded"
    assert body["database"].startswith("error: ")
    assert body["redis"] == "ok"
    assert body["ledger_head_seq"] is None
    # The reason names the failure class only: no DSN, password or host leaks out.
    assert "nothing" not in r.text and "127.0.0.1" not in r.text


# --- /v1/accounts -------------------------------------------------------------------------


def populate_accounts(engine: Engine) -> tuple[dict[str, int], dict[str, int], dict[str, int]]:
    """System accounts, two providers; BIG_AMOUNT minted to provider A's accrued rewards."""
    with transaction(engine) as conn:
        system = open_system_accounts(conn)
        prov_a = open_provider_accounts(conn, "prov-a")
        prov_b = open_provider_accounts(conn, "prov-b")
    with transaction(engine) as conn:
        create_transfers(
            conn,
            [req("mint-a", system["emission"], prov_a["rewards_accrued"], BIG_AMOUNT, epoch=1)],
            now=NOW,
        )
    return system, prov_a, prov_b


def all_account_ids(system: dict[str, int], *providers: dict[str, int]) -> set[int]:
    ids = set(system.values())
    for p in providers:
        ids |= set(p.values())
    return ids


def test_list_accounts_amounts_are_exact_strings(engine: Engine, client: TestClient) -> None:
    system, prov_a, prov_b = populate_accounts(engine)
    r = client.get("/v1/accounts")
    assert r.status_code == 200
    page = r.json()
    assert page["next_cursor"] is None
    items = page["items"]
    ids = [i["id"] for i in items]
    assert ids == sorted(ids)
    assert set(ids) == all_account_ids(system, prov_a, prov_b)
    assert len(ids) == len(SYSTEM_ACCOUNTS) + 2 * len(PROVIDER_ACCOUNT_KINDS)

    by_id = {i["id"]: i for i in items}
    for item in items:
        for name, value in item["balances"].items():
            assert isinstance(value, str), (name, value)

    accrued = by_id[prov_a["rewards_accrued"]]
    assert accrued["owner"] == "prov-a"
    assert accrued["kind"] == "rewards_accrued"
    assert accrued["normal_balance"] == "credit"
    assert accrued["balances"] == {
        "debits_pending": "0",
        "debits_posted": "0",
        "credits_pending": "0",
        "credits_posted": str(BIG_AMOUNT),
        "balance": str(BIG_AMOUNT),
        "available": str(BIG_AMOUNT),
        "balance_swarm": BIG_AMOUNT_SWARM,
    }
    # The digits travel as a JSON string, not a number a client would parse into a double.
    assert f'"credits_posted":"{BIG_AMOUNT}"' in r.text.replace(" ", "")
    assert int(accrued["balances"]["balance"]) == BIG_AMOUNT

    emission = by_id[system["emission"]]
    assert emission["may_go_negative"] is True
    assert emission["balances"]["debits_posted"] == str(BIG_AMOUNT)
    assert emission["balances"]["balance"] == str(-BIG_AMOUNT)
    assert emission["balances"]["balance_swarm"] == "-" + BIG_AMOUNT_SWARM

    # Untouched accounts read zero everywhere.
    untouched = by_id[prov_b["stake_bonded"]]
    assert set(untouched["balances"].values()) == {"0"}

    # The API agrees with the service layer on every counter of every account.
    with engine.connect() as conn:
        for aid, item in by_id.items():
            row = get_account(conn, aid)
            b = item["balances"]
            assert (
                int(b["debits_pending"]),
                int(b["debits_posted"]),
                int(b["credits_pending"]),
                int(b["credits_posted"]),
            ) == (row.debits_pending, row.debits_posted, row.credits_pending, row.credits_posted)
            assert item["owner"] == row.owner and item["kind"] == row.kind


def test_list_accounts_filters_by_owner(engine: Engine, client: TestClient) -> None:
    _system, prov_a, _prov_b = populate_accounts(engine)
    r = client.get("/v1/accounts", params={"owner": "prov-a"})
    assert r.status_code == 200
    items = r.json()["items"]
    assert {i["owner"] for i in items} == {"prov-a"}
    assert {i["id"] for i in items} == set(prov_a.values())
    assert sorted(i["kind"] for i in items) == sorted(PROVIDER_ACCOUNT_KINDS)
    assert r.json()["next_cursor"] is None

    r = client.get("/v1/accounts", params={"owner": "system"})
    assert {i["kind"] for i in r.json()["items"]} == set(SYSTEM_ACCOUNTS)

    r = client.get("/v1/accounts", params={"owner": "nobody"})
    assert r.status_code == 200
    assert r.json() == {"items": [], "next_cursor": None}


def walk(client: TestClient, url: str, limit: int, **params: str) -> list[list[dict[str, Any]]]:
    """Follow next_cursor from the first page to the last; returns the pages."""
    pages: list[list[dict[str, Any]]] = []
    cursor: str | None = None
    for _ in range(100):  # a bound, so that a cursor that never ends fails instead of hanging
        q: dict[str, Any] = {"limit": limit, **params}
        if cursor is not None:
            q["cursor"] = cursor
        r = client.get(url, params=q)
        assert r.status_code == 200, r.text
        body = r.json()
        assert len(body["items"]) <= limit
        pages.append(body["items"])
        cursor = body["next_cursor"]
        if cursor is None:
            return pages
        assert isinstance(cursor, str)
    raise AssertionError("pagination did not end")


def test_list_accounts_cursor_walks_every_account_once(engine: Engine, client: TestClient) -> None:
    system, prov_a, prov_b = populate_accounts(engine)
    expected = all_account_ids(system, prov_a, prov_b)
    pages = walk(client, "/v1/accounts", 2)
    ids = [i["id"] for page in pages for i in page]
    assert len(ids) == len(set(ids)), "an account appeared twice"
    assert set(ids) == expected
    assert ids == sorted(ids)
    assert [len(p) for p in pages] == [2] * (len(expected) // 2) + [1] * (len(expected) % 2)


def test_list_accounts_cursor_with_owner_and_exact_last_page(
    engine: Engine, client: TestClient
) -> None:
    _system, prov_a, _prov_b = populate_accounts(engine)
    # 5 accounts in pages of 1: the fifth page is full and still must say "no more".
    pages = walk(client, "/v1/accounts", 1, owner="prov-a")
    assert [len(p) for p in pages] == [1, 1, 1, 1, 1]
    assert [i["id"] for p in pages for i in p] == sorted(prov_a.values())
    pages = walk(client, "/v1/accounts", 3, owner="prov-a")
    assert [len(p) for p in pages] == [3, 2]
    assert all(i["owner"] == "prov-a" for p in pages for i in p)


# --- /v1/accounts/{id} --------------------------------------------------------------------


def test_read_account(engine: Engine, client: TestClient) -> None:
    system, prov_a, _ = populate_accounts(engine)
    aid = prov_a["rewards_accrued"]
    r = client.get(f"/v1/accounts/{aid}")
    assert r.status_code == 200
    one = r.json()
    assert one["id"] == aid
    assert one["balances"]["balance"] == str(BIG_AMOUNT)
    assert one["balances"]["balance_swarm"] == BIG_AMOUNT_SWARM
    listed = client.get("/v1/accounts", params={"owner": "prov-a"}).json()["items"]
    assert one == next(i for i in listed if i["id"] == aid)

    custody = client.get(f"/v1/accounts/{system['onchain_custody']}").json()
    assert custody["normal_balance"] == "debit"
    assert custody["owner"] == "system"


def test_unknown_account_is_404(engine: Engine, client: TestClient) -> None:
    populate_accounts(engine)
    for url in ("/v1/accounts/987654321", "/v1/accounts/987654321/transfers"):
        r = client.get(url)
        assert r.status_code == 404, url
        err = error_of(r)
        assert err["code"] == "account_not_found"
        assert "987654321" in err["message"]


@pytest.mark.parametrize("bad_id", ["0", "-1", "abc", "1.5", str(2**63), "9" * 40])
@pytest.mark.parametrize("suffix", ["", "/transfers"])
def test_bad_account_id_is_422_naming_the_path_param(
    client: TestClient, bad_id: str, suffix: str
) -> None:
    r = client.get(f"/v1/accounts/{bad_id}{suffix}")
    assert r.status_code == 422
    err = error_of(r)
    assert err["code"] == "invalid_request"
    assert err["field"] == "account_id"
    assert err["message"].startswith("account_id: ")
    assert [e["field"] for e in err["details"]["errors"]] == ["account_id"]


# --- /v1/accounts/{id}/transfers ----------------------------------------------------------


def test_account_transfers_paginate_with_status(engine: Engine, client: TestClient) -> None:
    sysa, a, b = setup_accounts(engine)
    em = sysa["emission"]
    batch = [
        req("t1", em, a, 1000),
        req("t2", em, b, 50),  # does not touch a
        req("t3", a, b, 10),
        req("t4", em, a, 5),
        req("t5", a, b, 7, kind=K.PENDING, timeout_s=3600),
        req("t6", em, b, 3),  # does not touch a
        req("t7", a, b, 11, kind=K.PENDING),
        req("t8", em, a, 1),
        req("t9", a, b, 2, kind=K.PENDING),
    ]
    with transaction(engine) as conn:
        create_transfers(conn, batch, now=NOW)
    touching_a = ["t1", "t3", "t4", "t5", "t7", "t8", "t9"]
    url = f"/v1/accounts/{a}/transfers"

    pages = walk(client, url, 3)
    assert [len(p) for p in pages] == [3, 3, 1]
    items = [t for p in pages for t in p]
    assert [t["id"] for t in items] == touching_a
    seqs = [t["seq"] for t in items]
    assert seqs == sorted(seqs) and len(set(seqs)) == len(seqs)
    assert all(a in (t["debit_account_id"], t["credit_account_id"]) for t in items)
    status = {t["id"]: t["status"] for t in items}
    assert status == {
        "t1": "posted",
        "t3": "posted",
        "t4": "posted",
        "t5": "pending",
        "t7": "pending",
        "t8": "posted",
        "t9": "pending",
    }
    t5 = next(t for t in items if t["id"] == "t5")
    assert t5["kind"] == "pending" and t5["amount"] == "7" and t5["timeout_s"] == 3600
    assert isinstance(t5["amount"], str)
    assert len(t5["hash"]) == 64 and len(t5["prev_hash"]) == 64

    # b's view holds the transfers a's does not.
    b_ids = [t["id"] for p in walk(client, f"/v1/accounts/{b}/transfers", 500) for t in p]
    assert b_ids == ["t2", "t3", "t5", "t6", "t7", "t9"]

    # Resolve: post t5 in full, void t7; t9 stays pending.
    with transaction(engine) as conn:
        create_transfers(
            conn,
            [
                req("p5", None, None, None, kind=K.POST_PENDING, ref_id="t5"),
                req("v7", None, None, None, kind=K.VOID_PENDING, ref_id="t7"),
            ],
            now=NOW,
        )
    pages = walk(client, url, 3)
    assert [len(p) for p in pages] == [3, 3, 3]
    status = {t["id"]: t["status"] for p in pages for t in p}
    assert status["t5"] == "posted"
    assert status["t7"] == "voided"
    assert status["t9"] == "pending"
    assert status["p5"] == "posted"
    assert status["v7"] == "voided"
    assert [t["id"] for p in pages for t in p] == [*touching_a, "p5", "v7"]

    # Balances follow: posted 1006 in, 10 + 7 out; 2 still reserved by t9.
    bal = client.get(f"/v1/accounts/{a}").json()["balances"]
    assert bal["credits_posted"] == "1006"
    assert bal["debits_posted"] == "17"
    assert bal["debits_pending"] == "2"
    assert bal["balance"] == "989"
    assert bal["available"] == "987"


def test_account_transfers_cursor_resumes_after_last_seq(
    engine: Engine, client: TestClient
) -> None:
    sysa, a, _b = setup_accounts(engine)
    with transaction(engine) as conn:
        create_transfers(
            conn, [req(f"c{i}", sysa["emission"], a, i + 1) for i in range(5)], now=NOW
        )
    url = f"/v1/accounts/{a}/transfers"
    first = client.get(url, params={"limit": 2}).json()
    assert [t["id"] for t in first["items"]] == ["c0", "c1"]
    assert first["next_cursor"] is not None
    second = client.get(url, params={"limit": 2, "cursor": first["next_cursor"]}).json()
    assert [t["id"] for t in second["items"]] == ["c2", "c3"]
    # Full pages up to the end: the last one still says there is no more.
    rest = client.get(url, params={"limit": 1, "cursor": second["next_cursor"]}).json()
    assert [t["id"] for t in rest["items"]] == ["c4"]
    assert rest["next_cursor"] is None
    empty = client.get(url).json()
    assert len(empty["items"]) == 5 and empty["next_cursor"] is None


@pytest.mark.parametrize("limit", ["0", "501", "-1", "abc", "1.5", "9" * 30])
@pytest.mark.parametrize("suffix", ["", "/{a}/transfers"])
def test_bad_limit_is_422_naming_limit(
    engine: Engine, client: TestClient, limit: str, suffix: str
) -> None:
    _, a, _ = setup_accounts(engine)
    r = client.get("/v1/accounts" + suffix.format(a=a), params={"limit": limit})
    assert r.status_code == 422
    err = error_of(r)
    assert err["code"] == "invalid_request"
    assert err["field"] == "limit"


def test_limit_bounds_are_inclusive(engine: Engine, client: TestClient) -> None:
    _, a, _ = setup_accounts(engine)
    for limit in (1, 500):
        assert client.get("/v1/accounts", params={"limit": limit}).status_code == 200
        assert client.get(f"/v1/accounts/{a}/transfers", params={"limit": limit}).status_code == 200


@pytest.mark.parametrize(
    "cursor", ["abc", "-1", "1.5", "", "1" * 20, str(2**63), "\uff11", "\u00b2", "1 "]
)
@pytest.mark.parametrize("suffix", ["", "/{a}/transfers"])
def test_bad_cursor_is_400_invalid_cursor(
    engine: Engine, client: TestClient, cursor: str, suffix: str
) -> None:
    _, a, _ = setup_accounts(engine)
    r = client.get("/v1/accounts" + suffix.format(a=a), params={"cursor": cursor})
    assert r.status_code == 400
    err = error_of(r)
    assert err["code"] == "invalid_cursor"
    assert err["field"] == "cursor"


def test_owner_longer_than_200_is_422(client: TestClient) -> None:
    r = client.get("/v1/accounts", params={"owner": "x" * 201})
    assert r.status_code == 422
    assert error_of(r)["field"] == "owner"
    assert client.get("/v1/accounts", params={"owner": "x" * 200}).status_code == 200


@pytest.mark.parametrize("owner", ["\x00", "prov\x00a"])
def test_owner_with_nul_is_a_4xx_naming_owner(client: TestClient, owner: str) -> None:
    r = client.get("/v1/accounts", params={"owner": owner})
    assert 400 <= r.status_code < 500, r.text
    assert error_of(r)["field"] == "owner"


# --- OpenAPI and the error contract -------------------------------------------------------


def test_openapi_documents_the_routes(client: TestClient) -> None:
    r = client.get("/openapi.json")
    assert r.status_code == 200
    spec = r.json()
    paths = spec["paths"]
    for path in (
        "/healthz",
        "/v1/accounts",
        "/v1/accounts/{account_id}",
        "/v1/accounts/{account_id}/transfers",
    ):
        assert "get" in paths[path], path
    params = {p["name"] for p in paths["/v1/accounts/{account_id}/transfers"]["get"]["parameters"]}
    assert params == {"account_id", "cursor", "limit"}
    assert "503" in paths["/healthz"]["get"]["responses"]


@pytest.mark.parametrize(
    ("method", "url", "status", "code"),
    [
        ("GET", "/nope", 404, "not_found"),
        ("GET", "/v1/accounts/1/nope", 404, "not_found"),
        ("POST", "/v1/accounts", 405, "method_not_allowed"),
        ("DELETE", "/v1/accounts/1", 405, "method_not_allowed"),
    ],
)
def test_unknown_routes_and_methods_are_json_errors(
    client: TestClient, method: str, url: str, status: int, code: str
) -> None:
    r = client.request(method, url)
    assert r.status_code == status
    assert error_of(r)["code"] == code


def test_no_error_body_carries_a_traceback(engine: Engine, client: TestClient) -> None:
    """One sweep over every kind of failure the routes know, including the 500 path."""
    _, a, _ = setup_accounts(engine)
    urls = [
        "/v1/accounts/0",
        "/v1/accounts/abc",
        "/v1/accounts/987654321",
        f"/v1/accounts/{a}/transfers?limit=0",
        f"/v1/accounts/{a}/transfers?cursor=abc",
        "/v1/accounts?limit=501",
        "/v1/accounts?owner=%00",
        "/nope",
    ]
    for url in urls:
        r = client.get(url)
        assert r.status_code >= 400, url
        assert "Traceback" not in r.text and "psycopg" not in r.text, (url, r.text)
        assert isinstance(error_of(r)["code"], str)
