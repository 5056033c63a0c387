"""Closing reward epochs: rollups in, exact rewards out, posted to the ledger once.

``close_epoch`` runs in the caller's transaction. Everything it writes (ledger transfers with
deterministic ids, the epoch row, receipts, merkle leaves) commits together, so a crash half
way leaves nothing, and a second closer (a retry, a duplicate task, a concurrent CLI call)
waits on the epoch's advisory lock and then finds the epoch closed.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import Connection

from ledger.accounting.domain import codes
from ledger.accounting.domain.accounts import AccountKind
from ledger.accounting.domain.transfers import TransferRequest
from ledger.epochs import keepers
from ledger.epochs.repository import (
    CLOSE_LOCK_NAMESPACE,
    EVALUATE_LOCK_NAMESPACE,
    StepsRepository,
)
from ledger.kit import outbox
from ledger.kit.errors import Conflict, NotFound
from ledger.kit.money import PPM
from ledger.params.domain import ParameterSet
from ledger.params.domain.epochs import epoch_end, epoch_settles_at, require_settled
from ledger.prices.domain import FeedReading
from ledger.rewards.domain import (
    CALCULATOR_VERSION,
    EpochRewards,
    MaturityFacts,
    NetworkConditions,
    NodeRewardInput,
    RewardReceipt,
    compute_epoch,
    inputs_digest,
    last_matured_epoch,
    maturing_amounts,
    measured_conditions,
    provenance_digest,
)
from ledger.rewards.domain.merkle import build_tree
from ledger.slashing import domain as sl
from ledger.staking.domain import DEFAULT_COMMITMENT_TIER
from ledger.telemetry.domain import NodeEpochRollup


@dataclass(frozen=True)
class CloseResult:
    epoch: keepers.EpochRow
    closed_now: bool  # False: it was already closed (nothing was written)
    rewards: EpochRewards | None = None


def gather_inputs(
    conn: Connection, epoch: int, params: ParameterSet, *, from_raw: bool = False
) -> tuple[list[NodeRewardInput], NetworkConditions]:
    """The reward inputs of an epoch, all as of the epoch's end: the nodes active then (their
    version then), their rollups, and stake compliance from the ledger's transfers until then.
    The same function serves the close and ``verify epoch``, so both see the same inputs.

    ``from_raw`` recomputes the rollups from the raw heartbeats (``verify epoch``).
    """
    as_of = epoch_end(epoch, params)
    nodes = keepers.RegistryRepository(conn).nodes_as_of(as_of)
    ids = [n[0] for n in nodes]
    read_rollups = keepers.epoch_rollups_from_raw if from_raw else keepers.epoch_rollups
    rollups = read_rollups(conn, epoch, params, ids)
    facts = _node_facts(conn, epoch, params, nodes, ids, as_of)
    inputs = [_node_input(node, rollups[node[0]], facts, params) for node in nodes]
    feed = keepers.feed_as_of(conn, as_of, params)
    return inputs, _network_conditions(inputs, feed, params)


def gather_stored_inputs(
    conn: Connection, stored: keepers.EpochRow, params: ParameterSet, *, code: str
) -> tuple[list[NodeRewardInput], NetworkConditions]:
    """:func:`gather_inputs` of a closed epoch, refused (409 ``code``) unless they hash to the
    digest the epoch stored: what is recomputed from them is then what the epoch was closed
    from."""
    inputs, network = gather_inputs(conn, stored.epoch, params)
    digest = inputs_digest(inputs, network)
    if digest != stored.inputs_digest:
        raise Conflict(
            f"epoch {stored.epoch}: its inputs read now hash to {digest}, not the stored "
            f"{stored.inputs_digest}; run `swarm-ledger verify epoch {stored.epoch}`",
            code=code, field="epoch",
        )  # fmt: skip
    return inputs, network


@dataclass(frozen=True, slots=True)
class _NodeFacts:
    """What slashing and staking know of the epoch's nodes and providers as of its end."""

    standing: dict[str, sl.NodeStanding]
    good: sl.NodeStanding  # the standing of a node slashing has no record of
    under_since: dict[str, int]
    tiers: dict[str, str]
    as_of_s: int


def _node_facts(
    conn: Connection,
    epoch: int,
    params: ParameterSet,
    nodes: Sequence[keepers.NodeAsOf],
    ids: Sequence[str],
    as_of: dt.datetime,
) -> _NodeFacts:
    """Read the standing of the nodes, and stake compliance and tiers of their providers."""
    standing = keepers.standings_as_of(conn, epoch, params, ids)
    stake = keepers.stake_compliance(conn, nodes, as_of)
    tiers = keepers.commitment_tiers_as_of(conn, stake.required, as_of, params)
    return _NodeFacts(
        standing, sl.new_standing("-"), stake.under_since, tiers, int(as_of.timestamp())
    )


def _node_input(
    node: keepers.NodeAsOf, r: NodeEpochRollup, facts: _NodeFacts, params: ParameterSet
) -> NodeRewardInput:
    """One node's reward input from its version, its rollup and what others know of it."""
    node_id, provider_id, ptype, region, capacity_ppm, _ = node
    st = facts.standing.get(node_id, facts.good)
    # Capacity that was on duty: declared maintenance is not downtime, but earns nothing.
    capacity = capacity_ppm * r.availability_ppm // PPM
    return NodeRewardInput(
        node_id=node_id, provider_id=provider_id, provider_type=ptype, region=region,
        capacity_units_ppm=capacity,
        commitment_tier=facts.tiers.get(provider_id, DEFAULT_COMMITMENT_TIER),
        standing_ppm=st.standing_ppm, jailed=st.status == sl.StandingStatus.JAILED,
        tombstoned=st.status == sl.StandingStatus.TOMBSTONED,
        # Under stake: rewards continue for a 24 h grace, then stop until compliant.
        under_staked=not sl.under_stake_rewards_eligible(
            facts.under_since.get(provider_id), facts.as_of_s, params
        ),
        rollup=r,
    )  # fmt: skip


def _network_conditions(
    inputs: Sequence[NodeRewardInput], feed: FeedReading, params: ParameterSet
) -> NetworkConditions:
    """The epoch's network conditions, every one measured (docs/rewards.md):

    - utilization: mean GPU utilization over every heartbeat accepted this epoch (down);
    - active nodes: nodes that sent at least one heartbeat;
    - prices: the feed's fresh reference and current price, or none (no-feed factor);
    - demand / supply per resource class: capacity-weighted mean utilization of its nodes.
    """
    measured = measured_conditions(inputs, params)
    return NetworkConditions(
        utilization_ppm=measured.utilization_ppm,
        active_nodes=measured.active_nodes,
        reference_price=feed.reference_price,
        current_price=feed.current_price,
        resource_demand_supply_ppm=measured.resource_demand_supply_ppm,
    )


def close_epoch(
    conn: Connection, epoch: int, *, now: dt.datetime, params: ParameterSet
) -> CloseResult:
    """Close ``epoch``: compute every node's reward and post one linked batch of transfers."""
    require_settled(epoch, now, params)
    repo = keepers.RewardsRepository(conn)
    repo.lock_epoch(epoch)
    done = repo.get_epoch(epoch)
    if done is not None:
        return CloseResult(done, closed_now=False)
    last = _previous_epoch(repo, epoch)
    keepers.catch_up(conn, now=now)
    inputs, network = gather_inputs(conn, epoch, params)
    result = compute_epoch(epoch, inputs, network, last.scale_ppm if last else None, params)
    keepers.ensure_stored(conn, params)
    _post_rewards(conn, epoch, result, now)
    claimable, matured = _mature_rewards(conn, repo, epoch, params, now)
    root, leaf_count = _store_leaves(repo, epoch, claimable, matured)
    _store_receipts(repo, epoch, result)
    digest = inputs_digest(inputs, network)
    # The feed as the epoch saw it (prices used, or why not: missing or stale) is kept with it.
    feed = keepers.feed_as_of(conn, epoch_end(epoch, params), params).to_json()
    values = _epoch_values(epoch, result, network, digest, root, leaf_count, now)
    values["network"] = orjson.dumps({**_plain(network), "price_feed": feed}).decode()
    repo.insert_epoch(values)
    if leaf_count:  # a root with nothing claimable yet (all zeros) is never posted
        outbox.put(conn, "root", str(epoch), root_payload(epoch, root, digest, result.params_hash,
                                                         leaf_count), now)  # fmt: skip
    row = repo.get_epoch(epoch)
    assert row is not None
    return CloseResult(row, closed_now=True, rewards=result)


def root_payload(
    epoch: int, root: bytes, inputs: str, params_hash: str, leaf_count: int
) -> dict[str, Any]:
    """What the settlement job posts on chain for a closed epoch (RewardsDistributor.postRoot):
    the root, the inputs digest and parameter-set hash (both SHA-256, so bytes32), and the
    calculator version."""
    return {
        "epoch": epoch, "root": "0x" + root.hex(), "inputs_digest": "0x" + inputs,
        "params_hash": "0x" + params_hash, "calculator_version": CALCULATOR_VERSION,
        "leaf_count": leaf_count,
    }  # fmt: skip


def _previous_epoch(repo: keepers.RewardsRepository, epoch: int) -> keepers.EpochRow | None:
    """The last closed epoch, refusing to close ``epoch`` unless it is the next one."""
    last = repo.last_closed()
    if last is not None and epoch != last.epoch + 1:
        raise Conflict(
            f"epoch {epoch}: epochs close in order; the next to close is {last.epoch + 1}",
            code="epoch_out_of_order", field="epoch",
        )  # fmt: skip
    return last


def _mature_rewards(
    conn: Connection,
    repo: keepers.RewardsRepository,
    epoch: int,
    params: ParameterSet,
    now: dt.datetime,
) -> tuple[dict[str, int], dict[str, int]]:
    """Move what has matured by this close from each provider's rewards_accrued to its
    rewards_claimable (one linked batch, deterministic ids). Returns every provider's
    cumulative claimable amount after it, and what matured now (SPEC 4.7, docs/rewards.md)."""
    length = params.epoch.epoch_length_s
    matured_to = last_matured_epoch(epoch, length, params.epoch.reward_maturity_s)
    recent = repo.recent_reward_credits(matured_to, epoch)
    balances = repo.reward_balances()
    facts, ids = {}, {}
    for provider, kinds in balances.items():
        accrued = kinds.get(AccountKind.REWARDS_ACCRUED)
        if accrued is None:
            continue
        aid, credits, debits, pending = accrued
        claimable = kinds.get(AccountKind.REWARDS_CLAIMABLE)
        if claimable is None:  # a provider registered before claimable accounts existed
            cid = keepers.open_provider_accounts(conn, provider)[AccountKind.REWARDS_CLAIMABLE]
            claimable = (cid, 0, 0, 0)
        facts[provider] = MaturityFacts(
            matured_credits=max(0, credits - recent.get(provider, 0)),
            already_claimable=claimable[1],
            accrued_available=credits - debits - pending,
        )
        ids[provider] = (aid, claimable[0])
    matured = maturing_amounts(facts)
    requests = [
        TransferRequest(
            f"mature:{epoch}:{provider}", ids[provider][0], ids[provider][1], amount,
            codes.REWARD_MATURED, epoch=epoch,
        )
        for provider, amount in matured.items()
    ]  # fmt: skip
    if requests:
        keepers.create_transfers(conn, requests, now=now)
    cumulative = {p: f.already_claimable + matured.get(p, 0) for p, f in facts.items()}
    return cumulative, matured


def _store_leaves(
    repo: keepers.RewardsRepository,
    epoch: int,
    claimable: dict[str, int],
    matured: dict[str, int],
) -> tuple[bytes, int]:
    """Store every provider's cumulative claimable amount with its merkle proof; return the
    root (all zeros while nothing is claimable yet) and the number of leaves."""
    before = repo.cumulative_before(epoch)
    # A leaf never decreases: claims on chain pay cumulative minus already claimed.
    assert all(claimable.get(p, 0) >= c for p, c in before.items()), "a leaf would decrease"
    assert sum(claimable.values()) == sum(before.values()) + sum(matured.values())
    leaves = sorted((p, c) for p, c in claimable.items() if c > 0)
    if not leaves:
        return bytes(32), 0
    tree = build_tree(leaves)
    repo.copy_leaves(
        epoch,
        ((p, matured.get(p, 0), c, i, b"".join(tree.proof(i))) for i, (p, c) in enumerate(leaves)),
    )
    return tree.root, len(leaves)


def _store_receipts(repo: keepers.RewardsRepository, epoch: int, result: EpochRewards) -> None:
    repo.copy_receipts(
        epoch,
        (
            (r.node_id, r.provider_id, r.amount_base_units, r.ideal_base_units, receipt_values(r))
            for r in result.receipts
        ),
    )


def _epoch_values(
    epoch: int,
    result: EpochRewards,
    network: NetworkConditions,
    digest: str,
    root: bytes,
    leaf_count: int,
    now: dt.datetime,
) -> dict[str, Any]:
    """The epoch row: the pool, its scaling, and what the root commits to."""
    return {
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
        "leaf_count": leaf_count,
        "receipt_fields": orjson.dumps(list(RewardReceipt._fields)).decode(),
        "closed_at": now,
    }


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
    # The batch pays out exactly what the allocation distributed, no more and no less.
    assert sum(a for _, a in payees) == result.distributed_base_units
    if not payees:
        return
    emission = keepers.open_system_accounts(conn)[AccountKind.EMISSION]
    repo = keepers.LedgerRepository(conn)
    accrued = repo.accounts_by_owner_kind([p for p, _ in payees], AccountKind.REWARDS_ACCRUED)
    requests = [
        TransferRequest(
            f"reward:{epoch}:{provider}", emission, accrued[provider], amount, codes.REWARD,
            epoch=epoch,
        )
        for provider, amount in payees
    ]  # fmt: skip
    keepers.create_transfers(conn, requests, now=now)


def due_epochs(conn: Connection, *, now: dt.datetime, params: ParameterSet) -> list[int]:
    """Epochs that have settled and are not closed yet, oldest first (at most 24 per call).

    The first epoch ever closed is the one before the current one: a fresh ledger does not
    mint rewards for the past.
    """
    now_s = int(now.timestamp())
    current = now_s // params.epoch.epoch_length_s
    last = keepers.RewardsRepository(conn).last_closed()
    start = last.epoch + 1 if last else current - 1
    return [e for e in range(start, current) if now_s >= epoch_settles_at(e, params)][:24]


@dataclass(frozen=True)
class EpochCheck:
    epoch: int
    differences: list[str]

    @property
    def ok(self) -> bool:
        return not self.differences


def verify_epoch(conn: Connection, epoch: int, *, params: ParameterSet | None = None) -> EpochCheck:
    """Recompute a closed epoch from the raw heartbeats (not the stored rollups or results)
    and the ledger, and compare node amounts, provider totals, transfers and the root.

    The recomputation runs under the parameter set the epoch was closed under (found by the
    hash it recorded), whatever ``params`` the caller runs with; ``params`` is only a fallback
    for an epoch closed before sets were stored, and only when its hash is the recorded one.
    """
    repo = keepers.RewardsRepository(conn)
    stored = repo.get_epoch(epoch)
    if stored is None:
        return EpochCheck(epoch, [f"epoch {epoch} is not closed"])
    try:
        params = keepers.params_of_hash(conn, stored.params_hash)
    except NotFound:
        if params is None or params.content_hash() != stored.params_hash:
            return EpochCheck(epoch, [f"parameter set {stored.params_hash} is not stored"])
    except Conflict as err:  # the stored set was altered
        return EpochCheck(epoch, [err.message])
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
    # The root commits to what had matured into claimable by this close, from the ledger.
    leaves = sorted((p, c) for p, c in repo.claimable_through(epoch).items() if c > 0)
    root = build_tree(leaves).root if leaves else bytes(32)
    if root != stored.merkle_root:
        diffs.append(f"root: recomputed {root.hex()}, stored {stored.merkle_root.hex()}")
    digest = inputs_digest(inputs, network)
    if digest != stored.inputs_digest:
        diffs.append(f"inputs digest: recomputed {digest}, stored {stored.inputs_digest}")
    return EpochCheck(epoch, diffs)


# --- the steps after a close, for beat's sweeps (issue 10) ----------------------------------


def next_epoch_to_close(conn: Connection, *, now: dt.datetime, params: ParameterSet) -> int | None:
    """The oldest settled epoch not closed yet, unless a closer holds it right now.

    Epochs close in order, so only the oldest is ever enqueued (the close of N enqueues N+1).
    A close killed mid-way released its lock with its connection: the next check finds it.
    """
    due = due_epochs(conn, now=now, params=params)
    if not due:
        return None
    if StepsRepository(conn).is_locked(CLOSE_LOCK_NAMESPACE, due[0]):
        return None  # a close is running; it enqueues the next one when it commits
    return due[0]


def epochs_to_evaluate(conn: Connection, *, newest: int) -> list[int]:
    """Closed epochs (among the ``newest``) never evaluated and not being evaluated now."""
    steps = StepsRepository(conn)
    return [e for e in steps.unevaluated(newest) if not steps.is_locked(EVALUATE_LOCK_NAMESPACE, e)]


def begin_evaluation(conn: Connection, epoch: int) -> bool:
    """Take the epoch's evaluation lock; False if its evaluation already committed."""
    steps = StepsRepository(conn)
    steps.lock_evaluation(epoch)
    return not steps.is_evaluated(epoch)


def record_evaluation(conn: Connection, epoch: int, penalties: int, now: dt.datetime) -> None:
    """Mark the epoch evaluated, in the evaluation's transaction."""
    StepsRepository(conn).mark_evaluated(epoch, penalties, now)


@dataclass(frozen=True)
class EpochSummary:
    """One closed and evaluated epoch, as the demo prints it."""

    epoch: int
    pool_base_units: int
    nodes_paid: int
    node_count: int
    root: bytes
    violations: int
    penalties: int


def evaluated_epochs_after(conn: Connection, after: int, limit: int = 24) -> list[EpochSummary]:
    """Epochs closed and evaluated after ``after``, oldest first."""
    return [EpochSummary(*row) for row in StepsRepository(conn).evaluated_after(after, limit)]


def verify_leaves(conn: Connection) -> list[str]:
    """The claimable-leaf invariants (SPEC 4.7), over every closed epoch; returns breaches.

    - ``leaves_never_decrease``: a provider's cumulative claimable never goes down from one
      epoch's root to the next, and a provider once in a root stays in every later one;
    - ``latest_leaves_equal_claimable``: the latest root's leaves are exactly the providers'
      ``rewards_claimable`` credits (what matured, nothing else);
    - ``nothing_held_in_claimable``: no hold (pending debit) and no slash ever touches a
      ``rewards_claimable`` account: held and slashed base units stay in ``rewards_accrued``.
      The only debits a claimable account carries are claims (code 102 ``REWARD_CLAIMED``,
      booked by the chain watcher once a claim is final);
    - ``claimed_within_latest_leaf``: what a provider claimed never exceeds its cumulative
      leaf in the latest root.
    """
    repo = keepers.RewardsRepository(conn)
    out: list[str] = []
    last: dict[str, int] = {}
    by_epoch: dict[int, dict[str, int]] = {}
    for epoch, provider, cumulative in repo.leaf_history():
        by_epoch.setdefault(epoch, {})[provider] = cumulative
    for epoch in sorted(by_epoch):
        leaves = by_epoch[epoch]
        for provider, before in last.items():
            if leaves.get(provider, 0) < before:
                out.append(
                    f"leaves_never_decrease: epoch {epoch} provider {provider}: "
                    f"{leaves.get(provider, 0)} < {before}"
                )
        last = leaves
    accounts = repo.claimable_accounts()
    credited = {p: c for p, (c, _, _) in accounts.items() if c > 0}
    if by_epoch and last != credited:
        root_total, ledger_total = sum(last.values()), sum(credited.values())
        out.append(f"latest_leaves_equal_claimable: root {root_total} != ledger {ledger_total}")
    touched = sorted(p for p, (_, debits, pending) in accounts.items() if debits or pending)
    ledger = keepers.LedgerRepository(conn)
    ids = ledger.accounts_by_owner_kind(touched, AccountKind.REWARDS_CLAIMABLE)
    for provider in touched:
        claimed, other = _claimable_debits(ledger, ids[provider])
        pending = accounts[provider][2]
        if other or pending:
            out.append(
                f"nothing_held_in_claimable: provider {provider} claimable has debits "
                f"{other} posted other than claims, {pending} pending"
            )
        if claimed > last.get(provider, 0):
            out.append(
                f"claimed_within_latest_leaf: provider {provider} claimed {claimed} > "
                f"latest leaf {last.get(provider, 0)}"
            )
    return out


#: Transfer kinds that move a posted amount (a pending debit is a hold, counted apart).
_MOVING_KINDS = frozenset({"posted", "post_pending", "reversal"})


def _claimable_debits(ledger: keepers.LedgerRepository, account_id: int) -> tuple[int, int]:
    """(claims, every other posted debit) of a ``rewards_claimable`` account, in base units."""
    claimed = other = 0
    after = 0
    while True:
        page = ledger.account_transfers(account_id, after_seq=after, limit=1_000)
        for t, _ in page:
            if t.debit_account_id == account_id and t.kind in _MOVING_KINDS:
                if t.code == codes.REWARD_CLAIMED:
                    claimed += t.amount
                else:
                    other += t.amount
        if len(page) < 1_000:
            return claimed, other
        after = page[-1][0].seq
