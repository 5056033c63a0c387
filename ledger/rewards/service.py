"""What a provider can claim, and when the rest matures (SPEC 4.7)."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from sqlalchemy import Connection

from ledger.kit.errors import NotFound
from ledger.params.domain import ParameterSet
from ledger.params.domain.epochs import epoch_settles_at
from ledger.rewards.domain import last_matured_epoch, maturity_lag_epochs
from ledger.rewards.repository import RewardsRepository


@dataclass(frozen=True, slots=True)
class Maturing:
    """An epoch's reward that is not claimable yet."""

    epoch: int
    amount_base_units: int
    matures_at: dt.datetime  # the close at which it becomes claimable (at the earliest)


@dataclass(frozen=True, slots=True)
class ProviderRewards:
    provider_id: str
    leaf_epoch: int | None  # the latest root the provider has a leaf in
    claimable_base_units: int  # cumulative claimable: what that leaf commits to
    leaf_index: int | None
    proof: bytes
    maturing: list[Maturing]


def provider_rewards(conn: Connection, provider_id: str, params: ParameterSet) -> ProviderRewards:
    """The provider's cumulative claimable amount in the latest root with its proof, and each
    later epoch's reward that has not matured yet with the time it matures."""
    repo = RewardsRepository(conn)
    if not repo.has_reward_account(provider_id):
        raise NotFound(f"provider {provider_id} is not registered", code="provider_not_found")
    leaf = repo.provider_leaf(provider_id)
    last = repo.last_closed_epoch()
    length, maturity = params.epoch.epoch_length_s, params.epoch.reward_maturity_s
    matured_to = -1 if last is None else last_matured_epoch(last, length, maturity)
    maturing = [
        Maturing(e, amount, matures_at(e, params))
        for e, amount in repo.provider_reward_credits(provider_id, matured_to)
    ]
    if leaf is None:
        return ProviderRewards(provider_id, None, 0, None, b"", maturing)
    epoch, cumulative, index, proof = leaf
    assert cumulative > 0 and len(proof) % 32 == 0
    return ProviderRewards(provider_id, epoch, cumulative, index, proof, maturing)


def matures_at(epoch: int, params: ParameterSet) -> dt.datetime:
    """When a reward of ``epoch`` becomes claimable: the close of the epoch whose end is at
    least ``reward_maturity_s`` after its own (at the earliest; closes run after the grace)."""
    lag = maturity_lag_epochs(params.epoch.epoch_length_s, params.epoch.reward_maturity_s)
    return dt.datetime.fromtimestamp(epoch_settles_at(epoch + lag, params), dt.UTC)


def node_receipts(
    conn: Connection, node_id: str, limit: int, params: ParameterSet
) -> list[dict[str, object]]:
    """The node's receipts, newest first, each with ``matures_at``: when its amount becomes
    claimable (SPEC 4.7)."""
    items = RewardsRepository(conn).node_receipts(node_id, limit)
    for item in items:
        epoch = item.get("epoch")
        if isinstance(epoch, int):
            item["matures_at"] = matures_at(epoch, params).isoformat()
    return items
