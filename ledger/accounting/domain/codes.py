"""Transfer codes: the business reason of every ledger transfer (stable, never reused)."""

from __future__ import annotations

from typing import Final

EXPIRED_PENDING: Final[int] = 1  # void written by the expiry sweep
REWARD: Final[int] = 100  # epoch reward: emission -> provider rewards_accrued
STAKE_BOND: Final[int] = 200  # stake arrived on chain: custody -> provider stake_bonded
STAKE_UNBOND: Final[int] = 201  # unstake requested: stake_bonded -> stake_unbonding
STAKE_WITHDRAW: Final[int] = 202  # unbonding period over: stake_unbonding -> custody
