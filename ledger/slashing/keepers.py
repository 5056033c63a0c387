"""What slashing needs from other modules, as Cosmos SDK modules declare their expected keepers.

Every use slashing makes of another module's service or repository is imported here and only
here (tests/unit/test_module_boundaries.py checks it), so this file is the whole list of what a
change elsewhere can break in slashing. Other modules' ``domain`` packages (values and pure
rules) and the ``kit`` toolbox are imported where they are used.

- accounting: the provider's accounts (balances that a hold can still take), the stored hold
  transfers, the system accounts (slash escrow, insurance pool, treasury, burn) and the linked
  transfer batch that places, posts, voids, splits and refunds a slash;
- registry: a node's provider, the nodes and hardware identities active as of an epoch's end;
- telemetry: every queued batch rolled up before an epoch is judged, and its rollups;
- staking: the providers' bonded-stake movements (the stake at risk of an infraction), their
  unbonding entries (what a hold may take from each, locked) and stake compliance (under
  stake) as of an epoch's end;
- rewards: the nodes' rewards of an epoch (what the ladder's reward multiplier withholds).
"""

from __future__ import annotations

from ledger.accounting.repository import AccountRow, LedgerRepository
from ledger.accounting.service import create_transfers, open_system_accounts
from ledger.registry.repository import NodeAsOf, RegistryRepository
from ledger.rewards.repository import RewardsRepository
from ledger.staking.repository import StakingRepository
from ledger.staking.service import stake_compliance, unbonding_entries_of
from ledger.telemetry.service import catch_up, epoch_rollups

__all__ = [
    "AccountRow",
    "LedgerRepository",
    "NodeAsOf",
    "RegistryRepository",
    "RewardsRepository",
    "StakingRepository",
    "catch_up",
    "create_transfers",
    "epoch_rollups",
    "open_system_accounts",
    "stake_compliance",
    "unbonding_entries_of",
]
