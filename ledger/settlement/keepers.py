"""What settlement needs from other modules' state, declared in one place (as the other
modules' ``keepers.py``):

- accounting: ``create_transfer``, the one way the chain watcher books a final claim
  (``rewards_claimable -> rewards_claimed``, code 102);
- staking: ``bond_stake``, ``request_unbond`` and ``withdraw``, through which the watcher
  mirrors the vault's ``Staked``, ``UnstakeRequested`` and ``Withdrawn`` events.
"""

from __future__ import annotations

from ledger.accounting.service import create_transfer
from ledger.staking.service import bond_stake, request_unbond, withdraw

__all__ = ["bond_stake", "create_transfer", "request_unbond", "withdraw"]
