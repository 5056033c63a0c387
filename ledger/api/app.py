"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from ledger.accounting import router as accounting
from ledger.api import health
from ledger.api.docs import install_docs
from ledger.api.errors import install_error_handlers
from ledger.api.guard import BodyGuard
from ledger.api.openapi import install_openapi
from ledger.epochs import router as epochs
from ledger.kit.limits import MAX_TELEMETRY_BODY_BYTES
from ledger.prices import router as prices
from ledger.registry import router as registry
from ledger.rewards import router as rewards
from ledger.runtime import Runtime, get_runtime
from ledger.settlement import router as settlement
from ledger.slashing import router as slashing
from ledger.staking import router as staking
from ledger.telemetry import router as telemetry

#: Every module's router, in the order the OpenAPI document lists them.
ROUTERS = (
    health,
    accounting,
    registry,
    telemetry,
    rewards,
    prices,
    staking,
    slashing,
    epochs,
    settlement,
)
#: Routes whose body may exceed MAX_BODY_BYTES, with their own cap.
BODY_CAPS = {"/v1/telemetry": MAX_TELEMETRY_BODY_BYTES}
TITLE = "Swarm ledger"


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """Build the app around a runtime (tests pass their own; the server uses the process one)."""
    app = FastAPI(
        title=TITLE,
        version="0.1.0",
        description=(
            "Staking, rewards and slashing ledger of Swarm. Amounts are strings of integer base "
            "units (1 SWARM = 10^18). Errors are JSON: {error: {code, message, field}}; a "
            "dependency outage is a 503 with Retry-After."
        ),
        docs_url=None,
        redoc_url=None,
    )
    app.state.runtime = runtime or get_runtime()
    install_error_handlers(app)
    for module in ROUTERS:
        app.include_router(module.router)
    install_openapi(app)
    install_docs(app, TITLE)
    app.add_middleware(BodyGuard, caps=BODY_CAPS)
    return app
