"""Transfer codes: the business reason of every ledger transfer, in one table (stable, never
reused). Each module books its transfers under its own hundred."""

from __future__ import annotations

from types import MappingProxyType
from typing import Final

EXPIRED_PENDING: Final[int] = 1  # void written by the expiry sweep
REWARD: Final[int] = 100  # epoch reward: emission -> provider rewards_accrued
REWARD_MATURED: Final[int] = 101  # maturity delay over: rewards_accrued -> rewards_claimable
REWARD_CLAIMED: Final[int] = 102  # a final on-chain claim: rewards_claimable -> rewards_claimed
STAKE_BOND: Final[int] = 200  # stake arrived on chain: custody -> provider stake_bonded
STAKE_UNBOND: Final[int] = 201  # unstake requested: stake_bonded -> stake_unbonding
STAKE_WITHDRAW: Final[int] = 202  # unbonding period over: stake_unbonding -> custody
SLASH_HOLD: Final[int] = 300  # pending: provider rewards / stake -> slash_escrow
SLASH_SPLIT: Final[int] = 301  # posted: slash_escrow -> insurance_pool / treasury / burn
SLASH_EXECUTE: Final[int] = 302  # post_pending of a hold after the appeal window
SLASH_VOID: Final[int] = 303  # void_pending of a hold (penalty voided)
SLASH_REFUND: Final[int] = 304  # refund of an overturned executed slash from insurance
# Rewards a node lost to a penalty voided or overturned later, recomputed per closed epoch with
# the node eligible (issue 15 point 3; booked by the epochs side, see docs/slashing.md).
SLASH_REWARD_RESTORE: Final[int] = 305

#: Every code and what it books (for explanations and the audit).
CODES: Final = MappingProxyType(
    {
        EXPIRED_PENDING: "expired pending transfer voided",
        REWARD: "epoch reward",
        REWARD_MATURED: "reward matured (claimable)",
        REWARD_CLAIMED: "reward claimed on chain",
        STAKE_BOND: "stake bonded",
        STAKE_UNBOND: "unbonding requested",
        STAKE_WITHDRAW: "unbonded stake withdrawn",
        SLASH_HOLD: "slash held in escrow",
        SLASH_SPLIT: "slashed funds split (insurance / treasury / burn)",
        SLASH_EXECUTE: "slash executed",
        SLASH_VOID: "slash voided",
        SLASH_REFUND: "executed slash refunded",
    }
)
assert len(CODES) == 12 and all(0 < c <= 65_535 for c in CODES)
