"""Closing reward epochs: rollups in, exact rewards out, posted to the ledger once.

``close_epoch`` runs in the caller's transaction. Everything it writes (ledger transfers with
deterministic ids, the epoch row, receipts, merkle leaves) commits together, so a crash half
way leaves nothing, and a second closer (a retry, a duplicate task, a concurrent CLI call)
waits on the epoch's advisory lock and then finds the epoch closed.
"""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection

from ledger.accounting.domain import codes
from ledger.accounting.domain.transfers import TransferRequest
from ledger.accounting.repository import LedgerRepository
from ledger.accounting.service import create_transfers, open_system_accounts
from ledger.kit.errors import Conflict
from ledger.params.domain import ParameterSet
from ledger.params.domain.epochs import epoch_end, epoch_settles_at, require_settled
from ledger.registry.repository import RegistryRepository
from ledger.rewards.domain import (
    CALCULATOR_VERSION,
    EpochRewards,
    NetworkConditions,
    NodeRewardInput,
    RewardReceipt,
    compute_epoch,
    inputs_digest,
)
from ledger.rewards.domain.merkle import build_tree
from ledger.rewards.repository import EpochRow, RewardsRepository
from ledger.slashing import domain as sl
from ledger.slashing.standing import standings_as_of
from ledger.staking import service as staking
from ledger.staking.domain import DEFAULT_COMMITMENT_TIER
from ledger.telemetry import service as telemetry


@dataclass(frozen=True)
class CloseResult:
    epoch: EpochRow
    closed_now: bool  # False: it was already closed (nothing was written)
    rewards: EpochRewards | None = None


def provenance_digest(root: bytes, inputs: str, params_hash: str, calculator: str) -> str:
    """What the root commits to besides the amounts (posted on chain beside it)."""
    return hashlib.sha256(
        b"swarm-epoch-provenance/v1|" + root + f"|{inputs}|{params_hash}|{calculator}".encode()
    ).hexdigest()


def gather_inputs(
    conn: Connection, epoch: int, params: ParameterSet, *, from_raw: bool = False
) -> tuple[list[NodeRewardInput], NetworkConditions]:
    """The reward inputs of an epoch, all as of the epoch's end: the nodes active then (their
    version then), their rollups, and stake compliance from the ledger's transfers until then.
    The same function serves the close and ``verify epoch``, so both see the same inputs.

    ``from_raw`` recomputes the rollups from the raw heartbeats (``verify epoch``).
    """
    as_of = epoch_end(epoch, params)
    nodes = RegistryRepository(conn).nodes_as_of(as_of)
    ids = [n[0] for n in nodes]
    rollups = (telemetry.epoch_rollups_from_raw if from_raw else telemetry.epoch_rollups)(
        conn, epoch, params, ids
    )
    standing = standings_as_of(conn, epoch, params, ids)
    good = sl.new_standing("-")
    stake = staking.stake_compliance(conn, nodes, as_of)
    tiers = staking.commitment_tiers_as_of(conn, stake.required, as_of, params)
    under_since = stake.under_since
    inputs = []
    util_sum = util_n = active = 0
    for node_id, provider_id, ptype, region, capacity_ppm, _ in nodes:
        r = rollups[node_id]
        st = standing.get(node_id, good)
        # Capacity that was on duty: declared maintenance is not downtime, but earns nothing.
        capacity = capacity_ppm * r.availability_ppm // 1_000_000
        inputs.append(
            NodeRewardInput(
                node_id=node_id, provider_id=provider_id, provider_type=ptype, region=region,
                capacity_units_ppm=capacity,
                commitment_tier=tiers.get(provider_id, DEFAULT_COMMITMENT_TIER),
                standing_ppm=st.standing_ppm, jailed=st.status == sl.STATUS_JAILED,
                tombstoned=st.status == sl.STATUS_TOMBSTONED,
                # Under stake: rewards continue for a 24 h grace, then stop until compliant.
                under_staked=not sl.under_stake_rewards_eligible(
                    under_since.get(provider_id), int(as_of.timestamp()), params
                ),
                rollup=r,
            )
        )  # fmt: skip
        if r.heartbeats_received:
            active += 1
            util_sum += r.gpu_util_ppm_sum
            util_n += r.heartbeats_received
    # Network utilization: mean GPU utilization reported this epoch (rounded down).
    network = NetworkConditions(
        utilization_ppm=util_sum // util_n if util_n else 0, active_nodes=active
    )
    return inputs, network


def close_epoch(
    conn: Connection, epoch: int, *, now: dt.datetime, params: ParameterSet
) -> CloseResult:
    """Close ``epoch``: compute every node's reward and post one linked batch of transfers."""
    require_settled(epoch, now, params)
    repo = RewardsRepository(conn)
    repo.lock_epoch(epoch)
    done = repo.get_epoch(epoch)
    if done is not None:
        return CloseResult(done, closed_now=False)
    last = repo.last_closed()
    if last is not None and epoch != last.epoch + 1:
        raise Conflict(
            f"epoch {epoch}: epochs close in order; the next to close is {last.epoch + 1}",
            code="epoch_out_of_order", field="epoch",
        )  # fmt: skip
    telemetry.catch_up(conn, now=now)
    inputs, network = gather_inputs(conn, epoch, params)
    result = compute_epoch(epoch, inputs, network, last.scale_ppm if last else None, params)
    _post_rewards(conn, epoch, result, now)

    cumulative = repo.cumulative_before(epoch)
    for provider, amount in result.provider_totals.items():
        if amount:
            cumulative[provider] = cumulative.get(provider, 0) + amount
    leaves = sorted((p, c) for p, c in cumulative.items() if c > 0)
    digest = inputs_digest(inputs, network)
    if leaves:
        tree = build_tree(leaves)
        root = tree.root
        repo.copy_leaves(
            epoch,
            (
                (p, result.provider_totals.get(p, 0), c, i, b"".join(tree.proof(i)))
                for i, (p, c) in enumerate(leaves)
            ),
        )
    else:
        root = bytes(32)
    repo.copy_receipts(
        epoch,
        (
            (r.node_id, r.provider_id, r.amount_base_units, r.ideal_base_units, receipt_values(r))
            for r in result.receipts
        ),
    )
    repo.insert_epoch(
        {
            "epoch": epoch,
            "pool": result.pool_base_units,
            "distributed": result.distributed_base_units,
            "undistributed": result.undistributed_base_units,
            "scale_ppm": result.scale.scale_ppm,
            "scale": orjson.dumps(_plain(result.scale)).decode(),
            "network": orjson.dumps(_plain(network)).decode(),
            "total_weight": result.total_weight,
            "node_count": len(result.receipts),
            "eligible_nodes": result.eligible_nodes,
            "params_version": result.params_version,
            "params_hash": result.params_hash,
            "calculator_version": CALCULATOR_VERSION,
            "inputs_digest": digest,
            "root": root,
            "provenance": provenance_digest(root, digest, result.params_hash, CALCULATOR_VERSION),
            "leaf_count": len(leaves),
            "receipt_fields": orjson.dumps(list(RewardReceipt._fields)).decode(),
            "closed_at": now,
        }
    )
    row = repo.get_epoch(epoch)
    assert row is not None
    return CloseResult(row, closed_now=True, rewards=result)


#: Receipt fields beyond 64 bits: JSON strings, so no client parses them into a float.
BIG_RECEIPT_FIELDS = ("weight", "ideal_weight", "amount_base_units", "ideal_base_units")


_BIG_INDEXES = tuple(RewardReceipt._fields.index(f) for f in BIG_RECEIPT_FIELDS)


def receipt_values(r: RewardReceipt) -> list[Any]:
    """A receipt's values in ``RewardReceipt._fields`` order, big integers as strings."""
    values = list(r)
    for i in _BIG_INDEXES:
        values[i] = str(values[i])
    return values


def _plain(obj: Any) -> dict[str, Any]:
    out = {}
    for name in obj.__dataclass_fields__:
        v = getattr(obj, name)
        out[name] = dict(v) if hasattr(v, "items") else v
    return out


def _post_rewards(conn: Connection, epoch: int, result: EpochRewards, now: dt.datetime) -> None:
    """One linked batch: emission -> each provider's accrued rewards. Deterministic ids make a
    retry find them (the batch is applied once or not at all)."""
    payees = sorted((p, a) for p, a in result.provider_totals.items() if a > 0)
    if not payees:
        return
    emission = open_system_accounts(conn)["emission"]
    repo = LedgerRepository(conn)
    accrued = repo.accounts_by_owner_kind([p for p, _ in payees], "rewards_accrued")
    requests = [
        TransferRequest(
            f"reward:{epoch}:{provider}", emission, accrued[provider], amount, codes.REWARD,
            epoch=epoch,
        )
        for provider, amount in payees
    ]  # fmt: skip
    create_transfers(conn, requests, now=now)


def due_epochs(conn: Connection, *, now: dt.datetime, params: ParameterSet) -> list[int]:
    """Epochs that have settled and are not closed yet, oldest first (at most 24 per call).

    The first epoch ever closed is the one before the current one: a fresh ledger does not
    mint rewards for the past.
    """
    now_s = int(now.timestamp())
    current = now_s // params.epoch.epoch_length_s
    last = RewardsRepository(conn).last_closed()
    start = last.epoch + 1 if last else current - 1
    return [e for e in range(start, current) if now_s >= epoch_settles_at(e, params)][:24]


@dataclass(frozen=True)
class EpochCheck:
    epoch: int
    differences: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences


def verify_epoch(conn: Connection, epoch: int, *, params: ParameterSet) -> EpochCheck:
    """Recompute a closed epoch from the raw heartbeats (not the stored rollups or results)
    and the ledger, and compare node amounts, provider totals, transfers and the root."""
    repo = RewardsRepository(conn)
    stored = repo.get_epoch(epoch)
    if stored is None:
        return EpochCheck(epoch, [f"epoch {epoch} is not closed"])
    prev = repo.get_epoch(epoch - 1)
    inputs, network = gather_inputs(conn, epoch, params, from_raw=True)
    result = compute_epoch(epoch, inputs, network, prev.scale_ppm if prev else None, params)
    diffs: list[str] = []
    if result.pool_base_units != stored.pool_base_units:
        diffs.append(f"pool: recomputed {result.pool_base_units}, stored {stored.pool_base_units}")
    receipts = repo.receipts(epoch)
    for r in result.receipts:
        got = receipts.pop(r.node_id, None)
        if got is None:
            diffs.append(f"node {r.node_id}: recomputed {r.amount_base_units}, no stored receipt")
        elif got[0] != r.amount_base_units:
            diffs.append(f"node {r.node_id}: recomputed {r.amount_base_units}, stored {got[0]}")
    diffs += [f"node {n}: stored receipt but not in the recomputation" for n in sorted(receipts)]
    ledger = repo.reward_totals(epoch)
    for provider, amount in result.provider_totals.items():
        booked = ledger.get(provider, (0, 0))[0]
        if booked != amount:
            diffs.append(f"provider {provider}: recomputed {amount}, ledger paid {booked}")
    leaves = sorted((p, c) for p, (_, c) in ledger.items() if c > 0)
    root = build_tree(leaves).root if leaves else bytes(32)
    if root != stored.merkle_root:
        diffs.append(f"root: recomputed {root.hex()}, stored {stored.merkle_root.hex()}")
    digest = inputs_digest(inputs, network)
    if digest != stored.inputs_digest:
        diffs.append(f"inputs digest: recomputed {digest}, stored {stored.inputs_digest}")
    return EpochCheck(epoch, diffs)
