"""What epochs needs from other modules, as Cosmos SDK modules declare their expected keepers.

Every use epochs makes of another module's service, repository or standing is imported here and
only here (tests/unit/test_module_boundaries.py checks it), so this file is the whole list of
what a change elsewhere can break in closing an epoch. Other modules' ``domain`` packages (the
reward arithmetic, the merkle tree, standing and under-stake rules, transfer codes) and the
``kit`` toolbox are imported where they are used. Epochs has no SQL of its own.

- telemetry: every queued batch rolled up before an epoch closes (``catch_up``), and the
  epoch's rollups, stored (``epoch_rollups``) or recomputed from raw heartbeats
  (``epoch_rollups_from_raw``, for ``verify epoch``);
- registry: the nodes active as of the epoch's end, in their version then (``NodeAsOf``);
- staking: stake compliance (under stake since when) and the providers' commitment tiers, as
  of the epoch's end;
- slashing: the nodes' standing (jail, tombstone, penalty factor) as of the epoch; for
  restoring what a reversed penalty cost, the reversed penalties, the epochs each was in
  effect for, and a node's fair standing without them;
- rewards: the epoch rows, receipts and merkle leaves, and the epoch's advisory lock
  (``RewardsRepository``, ``EpochRow``);
- prices: the SWARM price feed as of the epoch's end (reference and current);
- params: the registry of stored parameter sets (the set each epoch was computed under);
- accounting: the system accounts, the providers' ``rewards_accrued`` accounts and the one
  linked batch of reward transfers (``create_transfers``).
"""

from __future__ import annotations

from ledger.accounting.repository import LedgerRepository
from ledger.accounting.service import (
    create_transfers,
    open_provider_accounts,
    open_system_accounts,
)
from ledger.params.service import ensure_stored, params_of_hash
from ledger.prices.service import feed_as_of
from ledger.registry.repository import NodeAsOf, RegistryRepository
from ledger.rewards.repository import EpochRow, RewardsRepository
from ledger.slashing.service import get_penalty
from ledger.slashing.standing import (
    fair_standing,
    restoration_span,
    reversed_penalties,
    standings_as_of,
)
from ledger.staking.service import commitment_tiers_as_of, stake_compliance
from ledger.telemetry.service import catch_up, epoch_rollups, epoch_rollups_from_raw

__all__ = [
    "EpochRow",
    "LedgerRepository",
    "NodeAsOf",
    "RegistryRepository",
    "RewardsRepository",
    "catch_up",
    "commitment_tiers_as_of",
    "create_transfers",
    "ensure_stored",
    "epoch_rollups",
    "epoch_rollups_from_raw",
    "fair_standing",
    "feed_as_of",
    "get_penalty",
    "open_provider_accounts",
    "open_system_accounts",
    "params_of_hash",
    "restoration_span",
    "reversed_penalties",
    "stake_compliance",
    "standings_as_of",
]
