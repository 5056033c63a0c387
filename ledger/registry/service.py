"""Registry use cases: providers and nodes (register, update, deregister), maintenance windows.

Every change of a node is a new version; nothing in its history is edited.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import enum
from dataclasses import asdict
from typing import Any

from sqlalchemy import Connection

from ledger.kit.errors import Conflict, InvalidInput, NotFound
from ledger.kit.limits import MAX_MAINTENANCE_WINDOW_S
from ledger.params.domain import ParameterSet
from ledger.registry import keepers
from ledger.registry.domain import (
    NODE_ID_RE,
    HardwareProfile,
    NodeStatus,
    canonical_gpu_class,
    capacity_units_ppm,
    required_stake_base_units,
    validate_address,
    validate_profile,
)
from ledger.registry.repository import NodeRow, RegistryRepository


def register_provider(conn: Connection, *, owner_address: str, payout_address: str) -> str:
    """Register a provider (idempotent) and open its ledger accounts; returns its id."""
    pid = validate_address(owner_address, "owner_address")
    payout = validate_address(payout_address, "payout_address")
    stored, created = RegistryRepository(conn).upsert_provider(pid, payout)
    if not created and stored != payout:
        raise Conflict(
            f"provider {pid} exists with another payout address",
            code="exists_with_different_payout_address",
            field="payout_address",
        )
    keepers.open_provider_accounts(conn, pid)
    return pid


def register_node(
    conn: Connection,
    *,
    node_id: str,
    provider_id: str,
    provider_type: str,
    region: str,
    hardware: HardwareProfile,
    node_address: str,
    params: ParameterSet,
    now: dt.datetime,
) -> NodeRow:
    """Register a new node, or return it unchanged if registered with the same profile."""
    return _write_node(
        conn, node_id=node_id, provider_id=provider_id, provider_type=provider_type,
        region=region, hardware=hardware, node_address=node_address, params=params,
        mode=_Write.REGISTER, now=now,
    )  # fmt: skip


def update_node(
    conn: Connection,
    *,
    node_id: str,
    provider_type: str,
    region: str,
    hardware: HardwareProfile,
    node_address: str,
    params: ParameterSet,
    now: dt.datetime,
) -> NodeRow:
    """Record a new version of an active node (new profile, region, type or key)."""
    current = RegistryRepository(conn).get_node(node_id)
    if current is None:
        raise NotFound(f"node {node_id} is not registered", code="node_not_found")
    return _write_node(
        conn, node_id=node_id, provider_id=current.provider_id, provider_type=provider_type,
        region=region, hardware=hardware, node_address=node_address, params=params,
        mode=_Write.UPDATE, now=now,
    )  # fmt: skip


class _Write(enum.StrEnum):
    """Which command writes a node version."""

    REGISTER = "register"  # a new node, or a repeat of its registration
    UPDATE = "update"  # a new version of a registered node


#: Fields of a version that a repeated registration need not repeat: they are derived from the
#: parameters in force, or are when it was written.
_DERIVED_FIELDS = frozenset({"required_stake_base_units", "params_version", "created_at"})


def _write_node(
    conn: Connection,
    *,
    node_id: str,
    provider_id: str,
    provider_type: str,
    region: str,
    hardware: HardwareProfile,
    node_address: str,
    params: ParameterSet,
    mode: _Write,
    now: dt.datetime,
) -> NodeRow:
    """Check the input, then append the node's next version (or find the same one stored)."""
    if not isinstance(node_id, str) or not NODE_ID_RE.match(node_id):
        raise InvalidInput(
            "node_id: 1-64 letters, digits, '.', '_', ':' or '-'",
            field="node_id",
            code="invalid_node_id",
        )
    address = validate_address(node_address, "node_address")
    # The class is stored under the parameter set's name (an unknown one is refused here).
    hardware = dataclasses.replace(
        hardware, gpu_class=canonical_gpu_class(hardware.gpu_class, params)
    )
    validate_profile(provider_type, region, hardware, params)
    repo = RegistryRepository(conn)
    if not repo.provider_exists(provider_id):
        raise InvalidInput(
            f"provider_id: provider {provider_id} is not registered",
            field="provider_id",
            code="provider_not_found",
        )
    current = repo.lock_node(node_id)
    version = _active_version(
        node_id, provider_id, provider_type, region, hardware, address, params, now
    )
    if current is None:
        if mode is _Write.UPDATE:
            raise NotFound(f"node {node_id} is not registered", code="node_not_found")
        version["version"] = 1
    else:
        if current.status is NodeStatus.DEREGISTERED:
            raise Conflict(
                f"node {node_id} was deregistered; register a new node id",
                code="node_deregistered", field="node_id",
            )  # fmt: skip
        if mode is _Write.REGISTER:
            return _repeated_registration(repo, current, version)
        version["version"] = current.version + 1
    return _append_version(repo, version)


def _active_version(
    node_id: str,
    provider_id: str,
    provider_type: str,
    region: str,
    hardware: HardwareProfile,
    address: str,
    params: ParameterSet,
    now: dt.datetime,
) -> dict[str, Any]:
    """The columns of an active node version (all but its number)."""
    return {
        "node_id": node_id,
        "provider_id": provider_id,
        "provider_type": provider_type,
        "region": region,
        **asdict(hardware),
        "node_address": address,
        "capacity_units_ppm": capacity_units_ppm(hardware, params),
        "required_stake_base_units": required_stake_base_units(provider_type, hardware, params),
        "status": NodeStatus.ACTIVE,
        "params_version": params.version,
        "created_at": now,
    }


def _repeated_registration(
    repo: RegistryRepository, current: NodeRow, version: dict[str, Any]
) -> NodeRow:
    """A registration of a registered node: the same one again returns it unchanged; another
    provider or another profile is a conflict (a new profile is an update)."""
    node_id = current.node_id
    if current.provider_id != version["provider_id"]:
        raise Conflict(
            f"node {node_id} belongs to another provider",
            code="exists_with_different_provider_id", field="provider_id",
        )  # fmt: skip
    latest = repo.node_history(node_id)[-1]
    if all(latest[k] == version[k] for k in version if k not in _DERIVED_FIELDS):
        return current
    raise Conflict(
        f"node {node_id} is registered with another profile; use update",
        code="exists_with_different_profile", field="node_id",
    )  # fmt: skip


def _append_version(repo: RegistryRepository, version: dict[str, Any]) -> NodeRow:
    """Append a version and return the node as it now is."""
    repo.write_version(version)
    row = repo.get_node(version["node_id"])
    assert row is not None and row.version == version["version"], (row, version["version"])
    return row


def deregister_node(
    conn: Connection, *, node_id: str, params: ParameterSet, now: dt.datetime
) -> NodeRow:
    """Deregister (a new version with status deregistered); its heartbeats are refused after."""
    repo = RegistryRepository(conn)
    current = repo.lock_node(node_id)
    if current is None:
        raise NotFound(f"node {node_id} is not registered", code="node_not_found")
    if current.status is NodeStatus.DEREGISTERED:
        return current
    latest = repo.node_history(node_id)[-1]
    latest["required_stake_base_units"] = int(latest["required_stake_base_units"])
    latest.update(
        version=current.version + 1, status=NodeStatus.DEREGISTERED,
        params_version=params.version, created_at=now,
    )  # fmt: skip
    return _append_version(repo, latest)


def declare_maintenance(
    conn: Connection,
    *,
    node_id: str,
    start_ts: int,
    end_ts: int,
    now: dt.datetime,
    params: ParameterSet,
) -> int:
    """Declare planned downtime ahead of time, within the node's budget per rolling window.

    Heartbeats missed inside a declared window do not count as downtime.
    """
    repo = RegistryRepository(conn)
    node = repo.lock_node(node_id)
    if node is None or node.status is not NodeStatus.ACTIVE:
        raise NotFound(f"node {node_id} is not an active node", code="node_not_found")
    now_ts = int(now.timestamp())
    for fld, v in (("start_ts", start_ts), ("end_ts", end_ts)):
        if type(v) is not int or v < 0:
            raise InvalidInput(f"{fld}: unix seconds", field=fld)
    if start_ts <= now_ts:
        raise InvalidInput(
            "start_ts: maintenance must be declared before it starts",
            field="start_ts",
            code="maintenance_not_ahead",
        )
    if not 0 < end_ts - start_ts <= MAX_MAINTENANCE_WINDOW_S:
        raise InvalidInput(
            f"end_ts: a window lasts 1 s to {MAX_MAINTENANCE_WINDOW_S} s",
            field="end_ts",
            code="maintenance_window_invalid",
        )
    budget = params.performance.maintenance_budget_s
    span = params.performance.maintenance_window_s
    # Budget over any rolling span that contains the new window: check the span ending at its
    # end and the one starting at its start (the worst cases for a set of intervals).
    for lo, hi in ((end_ts - span, end_ts), (start_ts, start_ts + span)):
        used = sum(
            max(0, min(e, hi) - max(s, lo))
            for _, s, e in repo.maintenance_between([node_id], lo, hi)
        )
        if used + (min(end_ts, hi) - max(start_ts, lo)) > budget:
            raise InvalidInput(
                f"end_ts: the window would use more than the {budget} s of planned downtime "
                f"allowed per {span // 86400} days ({used} s already declared)",
                field="end_ts",
                code="maintenance_budget_exceeded",
            )
    return repo.add_maintenance(node_id, start_ts, end_ts, now)


def list_nodes(
    conn: Connection, *, provider_id: str | None, after_node_id: str, limit: int
) -> list[NodeRow]:
    """Current version of each node by node id, after ``after_node_id``; one provider's if
    ``provider_id`` is given."""
    return RegistryRepository(conn).list_nodes(provider_id, after_node_id, limit)


def node_with_history(conn: Connection, node_id: str) -> tuple[NodeRow, list[dict[str, Any]]]:
    """A node's current version and every version of it, oldest first."""
    repo = RegistryRepository(conn)
    row = repo.get_node(node_id)
    if row is None:
        raise NotFound(f"node {node_id} is not registered", code="node_not_found")
    return row, repo.node_history(node_id)
