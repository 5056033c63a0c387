"""Telemetry ingestion: signed heartbeat batches (up to 1,000), per-item results."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from ledger.kit.db import transaction
from ledger.kit.http import PARSED_JSON, ErrorDetail, parse_json_body
from ledger.kit.limits import (
    MAX_BANDWIDTH_MBPS,
    MAX_JOBS,
    MAX_LATENCY_MS,
    MAX_SEQ,
    MAX_TELEMETRY_BATCH,
    NODE_RATE_WINDOW_S,
)
from ledger.kit.queue import TASK_ROLLUP_BATCH, enqueue
from ledger.telemetry import service as telemetry
from ledger.telemetry.domain import ItemStatus, RejectReason
from ledger.telemetry.redis_store import (
    RedisRateLimiter,
    add_counters,
    read_counters,
)

router = APIRouter(prefix="/v1", tags=["telemetry"])
log = logging.getLogger(__name__)


REQUEST_EXAMPLE = {
    "heartbeats": [
        {
            "node_id": "node-1", "seq": 42, "ts": 1795700000, "up": True,
            "gpu_util_ppm": 730000, "latency_ms_p50": 35, "jobs_ok": 12, "jobs_failed": 0,
            "bandwidth_mbps": 900, "user_rating": 5, "signature": "0x<65-byte EIP-191 sig>",
        }
    ]
}  # fmt: skip


class ItemResultOut(BaseModel):
    index: int = Field(description="position of the heartbeat in the request")
    status: str = Field(description="accepted, duplicate or rejected")
    reason: str | None = Field(default=None, description="why it was rejected")
    field: str | None = Field(default=None, description="the malformed field, if that is why")


class IngestOut(BaseModel):
    batch_id: int | None = Field(description="the stored batch, null when nothing was accepted")
    accepted: int
    duplicates: int
    rejected: int
    results: list[ItemResultOut]
    error: ErrorDetail | None = Field(default=None, description="set on a 429")


class StatsOut(BaseModel):
    model_config = ConfigDict(extra="allow")
    counters: dict[str, int] = Field(description="heartbeats by outcome and reason")
    heartbeats_stored: int
    batches_pending_rollup: int


#: One heartbeat, fully typed (docs/telemetry.md "The heartbeat contract").
HEARTBEAT_SCHEMA = {
    "title": "Heartbeat",
    "type": "object",
    "additionalProperties": False,
    "required": ["node_id", "seq", "ts", "up", "gpu_util_ppm", "latency_ms_p50", "jobs_ok",
                 "jobs_failed", "bandwidth_mbps", "signature"],
    "properties": {
        "node_id": {"type": "string", "minLength": 1, "maxLength": 64,
                    "description": "the registered node id"},
        "seq": {"type": "integer", "minimum": 1, "maximum": MAX_SEQ,
                "description": "strictly increasing per node, from 1; with node_id the "
                "idempotency key"},
        "ts": {"type": "integer", "minimum": 0, "description": "Unix seconds (UTC) when it was "
               "taken; accepted from now - clock_skew_s to now + one heartbeat interval"},
        "up": {"type": "boolean", "description": "signed as 1 / 0"},
        "gpu_util_ppm": {"type": "integer", "minimum": 0, "maximum": 1_000_000},
        "latency_ms_p50": {"type": "integer", "minimum": 0, "maximum": MAX_LATENCY_MS},
        "jobs_ok": {"type": "integer", "minimum": 0, "maximum": MAX_JOBS},
        "jobs_failed": {"type": "integer", "minimum": 0, "maximum": MAX_JOBS},
        "bandwidth_mbps": {"type": "integer", "minimum": 0, "maximum": MAX_BANDWIDTH_MBPS},
        "user_rating": {"type": ["integer", "null"], "minimum": 1, "maximum": 5},
        "signature": {"type": "string", "pattern": "^(0x)?[0-9a-fA-F]{130}$",
                      "description": "EIP-191 personal_sign of the canonical text, r||s||v, "
                      "canonical low-s"},
    },
}  # fmt: skip

#: The batch envelope. An item that is not a Heartbeat is still accepted by the schema (the
#: empty alternative): it is answered as a "rejected" result naming its field, so one bad item
#: never fails the batch.
HEARTBEATS_SCHEMA = {
    "type": "array",
    "minItems": 1,
    "maxItems": MAX_TELEMETRY_BATCH,
    "items": {"anyOf": [HEARTBEAT_SCHEMA, {}]},
}


@router.post(
    "/telemetry",
    response_model=IngestOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {
                    "schema": {"type": "object", "required": ["heartbeats"],
                               "properties": {"heartbeats": HEARTBEATS_SCHEMA}},
                    "example": REQUEST_EXAMPLE,
                }
            },
        }
    },
    responses={
        200: {"description": "per-item results"},
        429: {"model": IngestOut, "description": "every item refused by the per-node rate limit"},
    },
)  # fmt: skip
async def ingest(request: Request) -> Response:
    """Ingest a batch of signed heartbeats.

    Each item is accepted (stored durably before this answers), a duplicate (already accepted,
    never counted twice) or rejected with a reason: malformed_field (with the field),
    timestamp_out_of_range, unknown_node, deregistered_node, bad_signature, seq_too_old,
    rate_limited. A malformed envelope is a 4xx naming the field; a batch entirely refused by
    the per-node rate limit is a 429. The body guard has already capped the body at
    MAX_TELEMETRY_BODY_BYTES and parsed it.
    """
    if PARSED_JSON in request.scope:
        payload = request.scope[PARSED_JSON]
    else:  # no body, or an app mounted without the guard
        payload = parse_json_body(await request.body())
    items = telemetry.parse_batch(payload)
    rt = request.app.state.runtime
    # The CPU-bound part (signatures) and the database run in a worker thread.
    client = request.client.host if request.client else "unknown"
    result = await run_in_threadpool(_ingest_sync, rt, items, client)
    out: dict[str, Any] = {
        "batch_id": result.batch_id,
        "accepted": result.count(ItemStatus.ACCEPTED),
        "duplicates": result.count(ItemStatus.DUPLICATE),
        "rejected": result.count(ItemStatus.REJECTED),
        "results": [r.to_json() for r in result.results],
    }
    limited = sum(1 for r in result.results if r.reason is RejectReason.RATE_LIMITED)
    if limited and limited == len(result.results):
        out["error"] = {"code": "rate_limited", "message": "per-node rate limit exceeded"}
        return JSONResponse(out, status_code=429, headers={"Retry-After": str(NODE_RATE_WINDOW_S)})
    return Response(orjson.dumps(out), media_type="application/json")


def _ingest_sync(rt: Any, items: list[Any], client: str) -> telemetry.IngestResult:
    now = dt.datetime.now(dt.UTC)
    limiter = RedisRateLimiter(rt.redis_client, now_s=int(now.timestamp()))
    # The client's signature-verification budget is spent before any signature is checked.
    clients = RedisRateLimiter(rt.redis_client, now_s=int(now.timestamp()), prefix="swarm:rlc")
    budget = telemetry.client_allowance(clients, client, len(items))
    with transaction(rt.engine) as conn:
        result = telemetry.ingest(
            conn, items, now=now, params=rt.params, limiter=limiter, verify_budget=budget
        )
    # Committed: from here on nothing accepted can be lost. Enqueueing and counting are best
    # effort; a lost message is found again by the sweeper.
    try:
        if result.batch_id:
            enqueue(rt.redis.url, TASK_ROLLUP_BATCH, result.batch_id)
        add_counters(rt.redis_client, result.counters)
    except Exception as exc:  # the broker being down must not fail an accepted batch
        # One line, no traceback: during an outage this happens on every batch.
        log.warning(
            "could not enqueue rollup of %s (%s: %s); the sweeper will",
            result.batch_id, type(exc).__name__, exc,
        )  # fmt: skip
    return result


@router.get("/telemetry/stats", response_model=StatsOut)
def stats(request: Request) -> dict[str, Any]:
    """Counters of accepted, duplicate and rejected heartbeats by reason, and rollup backlog."""
    rt = request.app.state.runtime
    with rt.engine.connect() as conn:
        counts = telemetry.stats(conn)
    return {"counters": read_counters(rt.redis_client), **counts}
