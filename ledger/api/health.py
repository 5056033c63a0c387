"""Health and service information."""

from __future__ import annotations

import redis
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy import text

from ledger.kit.limits import HEALTH_TIMEOUT_S, OUTAGE_RETRY_AFTER_S


class HealthOut(BaseModel):
    status: str
    database: str
    redis: str
    ledger_head_seq: int | None = None


router = APIRouter(tags=["public"])


@router.get(
    "/healthz",
    response_model=HealthOut,
    responses={503: {"model": HealthOut, "description": "PostgreSQL or Redis is down"}},
)
def healthz(request: Request) -> JSONResponse:
    """Checks the database (and reads the chain head) and Redis; 503 if either is down."""
    rt = request.app.state.runtime
    out = HealthOut(status="ok", database="ok", redis="ok")
    try:
        with rt.engine.connect() as conn:
            out.ledger_head_seq = conn.execute(
                text("SELECT last_seq FROM ledger_head WHERE id = 1")
            ).scalar_one()
    except Exception as exc:  # any failure means unhealthy; the reason is reported
        out.database = f"error: {type(exc).__name__}"
    try:
        client = redis.Redis.from_url(
            rt.redis.url, socket_timeout=HEALTH_TIMEOUT_S, socket_connect_timeout=HEALTH_TIMEOUT_S
        )
        client.ping()
        client.close()
    except Exception as exc:
        out.redis = f"error: {type(exc).__name__}"
    ok = out.database == "ok" and out.redis == "ok"
    out.status = "ok" if ok else "degraded"
    if ok:
        return JSONResponse(out.model_dump())
    return JSONResponse(
        out.model_dump(), status_code=503, headers={"Retry-After": str(OUTAGE_RETRY_AFTER_S)}
    )
