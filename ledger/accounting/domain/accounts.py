"""The kinds of account the ledger opens for the system and for every provider."""

from __future__ import annotations

import enum


class AccountKind(enum.StrEnum):
    """What an account holds. Stored as its value in ``accounts.kind``; one owner holds at most
    one account of a kind per asset."""

    # System accounts (owner ``system``).
    EMISSION = "emission"  # where new SWARM comes from: runs negative by what was minted
    REWARD_POOL = "reward_pool"
    TREASURY = "treasury"
    INSURANCE_POOL = "insurance_pool"
    BURN = "burn"
    SLASH_ESCROW = "slash_escrow"  # slashes held pending their appeal window
    ONCHAIN_CUSTODY = "onchain_custody"  # the stake the vault holds on chain (debit-normal)
    # Provider accounts (owner: the provider's address).
    REWARDS_ACCRUED = "rewards_accrued"  # credited, not yet matured: slashing takes from here
    REWARDS_CLAIMABLE = "rewards_claimable"  # matured: what the merkle leaf promises
    REWARDS_CLAIMED = "rewards_claimed"
    STAKE_BONDED = "stake_bonded"
    STAKE_UNBONDING = "stake_unbonding"
