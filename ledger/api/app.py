"""The FastAPI application."""

from __future__ import annotations

from fastapi import FastAPI

from ledger.api import (
    routers_accounts,
    routers_public,
    routers_registry,
    routers_rewards,
    routers_slashing,
    routers_telemetry,
)
from ledger.api.errors import install_error_handlers
from ledger.runtime import Runtime, get_runtime


def create_app(runtime: Runtime | None = None) -> FastAPI:
    """Build the app around a runtime (tests pass their own; the server uses the process one)."""
    app = FastAPI(
        title="Swarm ledger",
        version="0.1.0",
        description=(
            "Staking, rewards and slashing ledger of Swarm. Amounts are strings of integer base "
            "units (1 SWARM = 10^18). Errors are JSON: {error: {code, message, field}}."
        ),
    )
    app.state.runtime = runtime or get_runtime()
    install_error_handlers(app)
    app.include_router(routers_public.router)
    app.include_router(routers_accounts.router)
    app.include_router(routers_registry.router)
    app.include_router(routers_telemetry.router)
    app.include_router(routers_rewards.router)
    app.include_router(routers_slashing.router)
    return app
