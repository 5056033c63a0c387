"""The epoch computation: from node rollups and network conditions to exact per-node rewards.

:func:`compute_epoch` runs the steps of SPEC 4 in order, each a named function below: put the
nodes in canonical order and refuse what cannot be computed (:func:`_canonical_nodes`,
:func:`_lookup_tables`), size the pool, weigh every node (:func:`_weigh`), allocate the pool
exactly, then write one receipt per node (:func:`_receipts`) and the result (:func:`_result`).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import NamedTuple

from ledger.kit.limits import MAX_NODES_PER_EPOCH
from ledger.kit.money import PPM, Rounding, mul_div
from ledger.params.domain import ParameterSet, PerformanceParams, ProviderTypeParams
from ledger.rewards.domain.allocation import allocate_exact
from ledger.rewards.domain.eligibility import (
    NON_PERFORMANCE_REASONS,
    IneligibilityReason,
    node_reasons,
)
from ledger.rewards.domain.inputs import (
    NetworkConditions,
    NodeRewardInput,
    RewardInputError,
    node_id_key,
    require_int,
)
from ledger.rewards.domain.multipliers import (
    ResourceClass,
    resource_class,
    scarcity_multiplier_ppm,
)
from ledger.rewards.domain.pool import PoolScale, compute_pool_scale, pool_base_units
from ledger.rewards.domain.receipts import CALCULATOR_VERSION, EpochRewards, RewardReceipt
from ledger.rewards.domain.scores import (
    error_rate_score_ppm,
    performance_ppm,
    rating_percentiles_ppm,
    response_time_score_ppm,
    uptime_score_ppm,
)

__all__ = ["compute_epoch"]


def compute_epoch(
    epoch: int,
    nodes: Sequence[NodeRewardInput],
    network: NetworkConditions,
    previous_scale_ppm: int | None,
    params: ParameterSet,
) -> EpochRewards:
    """Compute every node's reward of ``epoch`` exactly (SPEC 4).

    ``nodes`` may come in any order (the result is the same); node ids must be unique and each
    rollup must belong to its node and to ``epoch``. ``previous_scale_ppm`` is the scale the
    previous epoch used (``None`` for the first epoch). Unknown commitment tiers or resource
    classes and inconsistent rollups raise :class:`RewardInputError`, an unknown provider type
    the parameter set's ``UnknownProviderTypeError``, rather than paying anyone on a guess.

    Ideal amounts: for node ``i`` with ideal weight ``v_i`` and actual weight ``w_i``,
    ``ideal_i = max(amount_i, floor(pool x v_i / (sum(w) - w_i + v_i)))``: the allocation
    formula without the remainder step (an exact remainder step per node would cost O(n^2)),
    and never below what the node actually got, since its remainder unit is earned too.
    """
    ordered = _canonical_nodes(epoch, nodes, network, params)
    scale = compute_pool_scale(network, previous_scale_ppm, params)
    pool = pool_base_units(scale.scale_ppm, params.pool)
    tables = _lookup_tables(epoch, ordered, network, params)
    percentiles = rating_percentiles_ppm(
        [(n.rollup.rating_sum, n.rollup.rating_count) for n in ordered]
    )
    weighed = _weigh(ordered, percentiles, tables, params)
    amounts = allocate_exact(pool, weighed.weights, [n.node_id for n in ordered])
    receipts, provider_totals = _receipts(epoch, ordered, weighed, amounts, pool, params)
    rated_nodes = sum(1 for p in percentiles if p is not None)
    return _result(epoch, pool, scale, weighed, receipts, provider_totals, rated_nodes, params)


class _Tables(NamedTuple):
    """Per-type, per-tier and per-class figures of the epoch, looked up once, not per node."""

    type_rows: Mapping[str, ProviderTypeParams]
    tier_ppm: Mapping[str, int]
    scarcity_by_class: Mapping[str, int]
    underserved: frozenset[str]


class _Draft(NamedTuple):
    """Per-node figures of the weighing, kept until the amounts are known."""

    reasons: tuple[IneligibilityReason, ...]
    uptime: int
    received: int
    error_rate: int | None
    uptime_score: int
    error_rate_score: int
    response_time_score: int
    user_rating_score: int
    rated: bool
    performance: int
    resource_class: ResourceClass
    scarcity: int
    region: int
    commitment: int
    row: ProviderTypeParams


class _Weighed(NamedTuple):
    """Every node's weight and ideal weight, in canonical order, with its draft."""

    weights: list[int]
    ideal_weights: list[int]
    drafts: list[_Draft]
    total_weight: int


def _canonical_nodes(
    epoch: int, nodes: Sequence[NodeRewardInput], network: NetworkConditions, params: ParameterSet
) -> list[NodeRewardInput]:
    """Check the epoch's shape and return the nodes in node id order, refusing duplicates."""
    require_int("epoch", epoch, 0)
    # Ten times the 100k nodes the calculator is benchmarked with: beyond it a close would take
    # minutes in one worker task, so refuse instead of timing out halfway.
    if len(nodes) > MAX_NODES_PER_EPOCH:
        raise RewardInputError(f"at most {MAX_NODES_PER_EPOCH} nodes per epoch", field="nodes")
    classes = params.multipliers.scarcity_resource_classes
    for name in network.resource_demand_supply_ppm:
        if name not in classes:
            raise RewardInputError(
                f"unknown resource class {name!r}; known: {', '.join(classes)}",
                field="resource_demand_supply_ppm",
            )
    # Canonical order first: everything after, including the tie-break, follows node id order,
    # so the input order cannot change the result.
    ordered = sorted(nodes, key=node_id_key)
    for prev, cur in itertools.pairwise(ordered):
        if prev.node_id == cur.node_id:
            raise RewardInputError(f"duplicate node_id {cur.node_id!r}", field="nodes")
    return ordered


def _lookup_tables(
    epoch: int, ordered: list[NodeRewardInput], network: NetworkConditions, params: ParameterSet
) -> _Tables:
    """Build the epoch's lookup tables, checking each node against them and against ``epoch``."""
    mult = params.multipliers
    rating_min = params.telemetry.user_rating_min
    rating_max = params.telemetry.user_rating_max
    type_rows: dict[str, ProviderTypeParams] = {}
    tier_ppm = {t.name: t.multiplier_ppm for t in mult.commitment_tiers}
    scarcity_by_class = {
        name: scarcity_multiplier_ppm(network.resource_demand_supply_ppm.get(name), mult)
        for name in mult.scarcity_resource_classes
    }
    for node in ordered:
        r = node.rollup
        if r.epoch != epoch:
            raise RewardInputError(
                f"is {r.epoch}, not epoch {epoch}", field=f"nodes[{node.node_id}].rollup.epoch"
            )
        if r.rating_count < 0 or not (
            rating_min * r.rating_count <= r.rating_sum <= rating_max * r.rating_count
        ):
            raise RewardInputError(
                f"{r.rating_sum} over {r.rating_count} ratings is outside "
                f"{rating_min} .. {rating_max} each",
                field=f"nodes[{node.node_id}].rollup.rating_sum",
            )
        if node.provider_type not in type_rows:
            type_rows[node.provider_type] = params.provider_type(node.provider_type)
        if node.commitment_tier not in tier_ppm:
            raise RewardInputError(
                f"unknown commitment tier {node.commitment_tier!r}; known: {', '.join(tier_ppm)}",
                field=f"nodes[{node.node_id}].commitment_tier",
            )
    return _Tables(type_rows, tier_ppm, scarcity_by_class, frozenset(mult.underserved_regions))


class _Scores:
    """The four scores and the performance of a node, each computed once per distinct input.

    Scores depend on a handful of integers that repeat across nodes (uptime has at most
    heartbeats_expected + 1 values), so each is computed once per distinct input and the
    per-node cost is a dictionary lookup, while the public score functions stay the one
    definition of each score.
    """

    __slots__ = ("_error", "_params", "_performance", "_response", "_uptime")

    def __init__(self, performance: PerformanceParams) -> None:
        self._params = performance
        self._uptime: dict[int, int] = {}
        self._error: dict[int | None, int] = {}
        self._response: dict[tuple[int | None, int], int] = {}
        self._performance: dict[tuple[int, int, int, int], int] = {}

    def of(
        self,
        uptime: int,
        error_rate: int | None,
        latency_key: tuple[int | None, int],
        percentile: int | None,
    ) -> tuple[int, int, int, int, int]:
        """Return the (uptime, error rate, response time, user rating) scores and the
        performance in ppm; ``latency_key`` is (p50 latency, the type's target) in ms."""
        perf_params = self._params
        s_uptime = self._uptime.get(uptime)
        if s_uptime is None:
            s_uptime = self._uptime[uptime] = uptime_score_ppm(uptime, perf_params)
        s_error = self._error.get(error_rate)
        if s_error is None:
            s_error = self._error[error_rate] = error_rate_score_ppm(error_rate, perf_params)
        s_response = self._response.get(latency_key)
        if s_response is None:
            s_response = self._response[latency_key] = response_time_score_ppm(*latency_key)
        s_rating = perf_params.unrated_rating_score_ppm if percentile is None else percentile
        score_key = (s_uptime, s_error, s_response, s_rating)
        perf = self._performance.get(score_key)
        if perf is None:
            perf = self._performance[score_key] = performance_ppm(*score_key, perf_params)
        return s_uptime, s_error, s_response, s_rating, perf


def _weigh(
    ordered: list[NodeRewardInput],
    percentiles: list[int | None],
    tables: _Tables,
    params: ParameterSet,
) -> _Weighed:
    """Score every node and multiply its factors into its weight and its ideal weight."""
    mult = params.multipliers
    good_standing = mult.standing_good_ppm
    min_heartbeats_ppm = params.telemetry.min_heartbeats_ppm
    type_rows, tier_ppm, scarcity_by_class, underserved = tables
    scores = _Scores(params.performance)
    weights: list[int] = []
    ideal_weights: list[int] = []
    drafts: list[_Draft] = []
    for node, percentile in zip(ordered, percentiles, strict=True):
        r = node.rollup
        row = type_rows[node.provider_type]
        # Rollup ratios are computed properties: read each once.
        uptime = r.uptime_ppm
        received = r.received_ppm
        error_rate = r.error_rate_ppm
        reasons = node_reasons(node, received, min_heartbeats_ppm)
        s_uptime, s_error, s_response, s_rating, perf = scores.of(
            uptime, error_rate, (r.latency_p50_ms, row.latency_target_ms), percentile
        )
        rclass = resource_class(row)
        # A class the parameter set does not list has no scarcity signal: neutral 1.0.
        scarcity = scarcity_by_class.get(rclass, PPM)
        region_ppm = (
            mult.region_underserved_multiplier_ppm
            if node.region in underserved
            else mult.region_default_multiplier_ppm
        )
        commitment = tier_ppm[node.commitment_tier]
        # The factors that depend on neither performance nor standing, shared with the ideal.
        base = node.capacity_units_ppm * row.type_multiplier_ppm * commitment
        base = base * scarcity * region_ppm
        weights.append(base * perf * node.standing_ppm if not reasons else 0)
        can_earn = NON_PERFORMANCE_REASONS.isdisjoint(reasons)
        ideal_weights.append(base * PPM * good_standing if can_earn else 0)
        drafts.append(
            _Draft(
                reasons=reasons,
                uptime=uptime,
                received=received,
                error_rate=error_rate,
                uptime_score=s_uptime,
                error_rate_score=s_error,
                response_time_score=s_response,
                user_rating_score=s_rating,
                rated=percentile is not None,
                performance=perf,
                resource_class=rclass,
                scarcity=scarcity,
                region=region_ppm,
                commitment=commitment,
                row=row,
            )
        )
    return _Weighed(weights, ideal_weights, drafts, sum(weights))


def _receipts(
    epoch: int,
    ordered: list[NodeRewardInput],
    weighed: _Weighed,
    amounts: list[int],
    pool: int,
    params: ParameterSet,
) -> tuple[list[RewardReceipt], dict[str, int]]:
    """Write every node's receipt, with its ideal, and sum the amounts per provider."""
    total_weight = weighed.total_weight
    params_version = params.version
    params_hash = params.content_hash()
    receipts: list[RewardReceipt] = []
    provider_totals: dict[str, int] = {}
    for node, w, v, amount, d in zip(
        ordered, weighed.weights, weighed.ideal_weights, amounts, weighed.drafts, strict=True
    ):
        denominator = total_weight - w + v
        # Floor, like the allocation; the max() keeps the node's own remainder unit (see
        # compute_epoch). The denominator is at least v, so the ideal never exceeds the pool.
        ideal_floor = mul_div(pool, v, denominator, Rounding.DOWN) if v else 0
        ideal = max(amount, ideal_floor)
        assert ideal <= pool
        receipts.append(_receipt(epoch, node, d, w, v, amount, ideal, params_version, params_hash))
        provider_totals[node.provider_id] = provider_totals.get(node.provider_id, 0) + amount
    return receipts, provider_totals


def _receipt(
    epoch: int,
    node: NodeRewardInput,
    d: _Draft,
    weight: int,
    ideal_weight: int,
    amount: int,
    ideal: int,
    params_version: int,
    params_hash: str,
) -> RewardReceipt:
    # One keyword per receipt field, in field order: the length is the receipt's, not logic's.
    r = node.rollup
    return RewardReceipt(
        epoch=epoch,
        node_id=node.node_id,
        provider_id=node.provider_id,
        provider_type=node.provider_type,
        region=node.region,
        resource_class=d.resource_class,
        commitment_tier=node.commitment_tier,
        heartbeats_expected=r.heartbeats_expected,
        heartbeats_received=r.heartbeats_received,
        heartbeats_up=r.heartbeats_up,
        heartbeats_excused=r.heartbeats_excused,
        uptime_ppm=d.uptime,
        received_ppm=d.received,
        jobs_ok=r.jobs_ok,
        jobs_failed=r.jobs_failed,
        error_rate_ppm=d.error_rate,
        latency_p50_ms=r.latency_p50_ms,
        latency_target_ms=d.row.latency_target_ms,
        rating_sum=r.rating_sum,
        rating_count=r.rating_count,
        jailed=node.jailed,
        tombstoned=node.tombstoned,
        under_staked=node.under_staked,
        eligible=not d.reasons,
        ineligible_reasons=d.reasons,
        uptime_score_ppm=d.uptime_score,
        error_rate_score_ppm=d.error_rate_score,
        response_time_score_ppm=d.response_time_score,
        user_rating_score_ppm=d.user_rating_score,
        user_rated=d.rated,
        performance_ppm=d.performance,
        capacity_units_ppm=node.capacity_units_ppm,
        type_multiplier_ppm=d.row.type_multiplier_ppm,
        commitment_multiplier_ppm=d.commitment,
        scarcity_multiplier_ppm=d.scarcity,
        region_multiplier_ppm=d.region,
        standing_ppm=node.standing_ppm,
        weight=weight,
        ideal_weight=ideal_weight,
        amount_base_units=amount,
        ideal_base_units=ideal,
        params_version=params_version,
        params_hash=params_hash,
        calculator_version=CALCULATOR_VERSION,
    )


def _result(
    epoch: int,
    pool: int,
    scale: PoolScale,
    weighed: _Weighed,
    receipts: list[RewardReceipt],
    provider_totals: dict[str, int],
    rated_nodes: int,
    params: ParameterSet,
) -> EpochRewards:
    """Assemble the epoch's result, checking that the pool is accounted for to the base unit."""
    distributed = sum(provider_totals.values())
    undistributed = pool - distributed
    # The allocation sums to the pool exactly unless no node has weight: then nothing is paid.
    assert undistributed == (pool if weighed.total_weight == 0 else 0)
    return EpochRewards(
        epoch=epoch,
        base_emission_base_units=params.pool.base_emission_per_epoch_base_units,
        pool_base_units=pool,
        scale=scale,
        total_weight=weighed.total_weight,
        eligible_nodes=sum(1 for d in weighed.drafts if not d.reasons),
        rated_nodes=rated_nodes,
        receipts=tuple(receipts),
        undistributed_base_units=undistributed,
        provider_totals=MappingProxyType(dict(sorted(provider_totals.items()))),
        params_version=params.version,
        params_hash=params.content_hash(),
        calculator_version=CALCULATOR_VERSION,
    )
