"""Drive a whole reward epoch through the real services at a chosen (simulated) time."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine

from ledger.accounting.service import open_system_accounts
from ledger.kit.db import transaction
from ledger.kit.money import BASE_UNITS_PER_SWARM
from ledger.params.domain import ParameterSet
from ledger.staking import service as staking
from ledger.telemetry import service as telemetry
from tests.integration.fleet import FleetNode, now_ts


def at(ts: int) -> dt.datetime:
    return dt.datetime.fromtimestamp(ts, dt.UTC)


def future_epoch(params: ParameterSet, ahead: int = 2) -> int:
    """An epoch that starts after nodes registered now (so they are active as of its end)."""
    return now_ts() // params.epoch.epoch_length_s + ahead


def bond(engine: Engine, nodes: list[FleetNode], when: dt.datetime,
         swarm: int = 1_000_000) -> None:  # fmt: skip
    with transaction(engine) as conn:
        open_system_accounts(conn)
        for provider in sorted({n.provider_id for n in nodes}):
            staking.bond_stake(
                conn, provider_id=provider, amount_base_units=swarm * BASE_UNITS_PER_SWARM,
                bond_id=f"test-{provider}", now=when,
            )  # fmt: skip


def send_epoch(
    engine: Engine,
    nodes: list[FleetNode],
    epoch: int,
    params: ParameterSet,
    shape: Callable[[FleetNode, int], dict[str, Any] | None] = lambda n, k: {},
) -> int:
    """One heartbeat per node per interval of ``epoch``; ``shape`` may change a heartbeat's
    fields or return None to skip it. Returns how many were accepted."""
    start = epoch * params.epoch.epoch_length_s
    interval = params.telemetry.heartbeat_interval_s
    accepted = 0
    for k in range(params.epoch.epoch_length_s // interval):
        ts = start + k * interval
        beats = []
        for n in nodes:
            over = shape(n, k)
            if over is not None:
                beats.append(n.heartbeat(ts, **over))
        with transaction(engine) as conn:
            res = telemetry.ingest(conn, beats, now=at(ts), params=params)
        accepted += sum(r.status == "accepted" for r in res.results)
    return accepted
