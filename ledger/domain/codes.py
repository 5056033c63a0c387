"""Transfer codes: the business reason of every ledger transfer (stable, never reused)."""

from __future__ import annotations

from typing import Final

EXPIRED_PENDING: Final[int] = 1  # void written by the expiry sweep
REWARD: Final[int] = 100  # epoch reward: emission -> provider rewards_accrued
STAKE_BOND: Final[int] = 200  # stake arrived on chain: custody -> provider stake_bonded
