"""Telemetry ingestion: signed heartbeat batches (up to 1,000), per-item results."""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

import orjson
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse, Response
from starlette.concurrency import run_in_threadpool

from ledger.kit.db import transaction
from ledger.kit.errors import Malformed, TooLarge
from ledger.kit.limits import MAX_TELEMETRY_BODY_BYTES, NODE_RATE_WINDOW_S
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


@router.post(
    "/telemetry",
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"example": REQUEST_EXAMPLE}},
        }
    },
    responses={200: {"description": "per-item results"}, 429: {"description": "rate limited"}},
)
async def ingest(request: Request) -> Response:
    """Ingest a batch of signed heartbeats.

    Each item is accepted (stored durably before this answers), a duplicate (already accepted,
    never counted twice) or rejected with a reason: malformed_field (with the field),
    timestamp_out_of_range, unknown_node, deregistered_node, bad_signature, seq_too_old,
    rate_limited. A malformed envelope is a 4xx naming the field; a batch entirely refused by
    the per-node rate limit is a 429.
    """
    body = await request.body()
    if len(body) > MAX_TELEMETRY_BODY_BYTES:
        raise TooLarge(
            f"body: larger than {MAX_TELEMETRY_BODY_BYTES} bytes",
            field="body",
            code="body_too_large",
        )
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError as exc:
        raise Malformed(f"body: not JSON ({exc.msg})", field="body", code="invalid_json") from exc
    items = telemetry.parse_batch(payload)
    rt = request.app.state.runtime
    # The CPU-bound part (signatures) and the database run in a worker thread.
    result = await run_in_threadpool(_ingest_sync, rt, items)
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


def _ingest_sync(rt: Any, items: list[Any]) -> telemetry.IngestResult:
    now = dt.datetime.now(dt.UTC)
    limiter = RedisRateLimiter(rt.redis_client, now_s=int(now.timestamp()))
    with transaction(rt.engine) as conn:
        result = telemetry.ingest(conn, items, now=now, params=rt.params, limiter=limiter)
    # Committed: from here on nothing accepted can be lost. Enqueueing and counting are best
    # effort; a lost message is found again by the sweeper.
    try:
        if result.batch_id:
            enqueue(rt.redis.url, TASK_ROLLUP_BATCH, result.batch_id)
        add_counters(rt.redis_client, result.counters)
    except Exception:  # the broker being down must not fail an accepted batch
        log.exception("could not enqueue rollup of %s; the sweeper will", result.batch_id)
    return result


@router.get("/telemetry/stats")
def stats(request: Request) -> dict[str, Any]:
    """Counters of accepted, duplicate and rejected heartbeats by reason, and rollup backlog."""
    rt = request.app.state.runtime
    with rt.engine.connect() as conn:
        counts = telemetry.stats(conn)
    return {"counters": read_counters(rt.redis_client), **counts}
