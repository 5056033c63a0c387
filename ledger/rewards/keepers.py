"""What rewards needs from other modules, as Cosmos SDK modules declare their expected keepers.

Every use rewards makes of another module's service or repository would be imported here and
only here (tests/unit/test_module_boundaries.py checks it), so this file is the whole list of
what a change elsewhere can break in rewards. The API needs one thing: whether a node is
registered (an unknown node's receipts are a 404, like an unknown provider's rewards). The
calculator (``rewards.domain``) takes its inputs as values, built by ``epochs`` from the other
modules' state; it reads only other modules' ``domain`` packages (the parameter set, the
telemetry rollup value, the accounting transfer codes), and the repository streams its COPY
rows with the ``kit.db`` helpers. Those imports are free and stay where they are used.

One dependency is not a Python import: ``RewardsRepository.reward_totals`` reads accounting's
``transfers`` and ``accounts`` tables in SQL (what the ledger paid as rewards, for
``verify epoch``).
"""

from __future__ import annotations

from sqlalchemy import Connection

from ledger.registry.repository import RegistryRepository

__all__ = ["node_is_registered"]


def node_is_registered(conn: Connection, node_id: str) -> bool:
    """Whether the registry knows ``node_id`` (in any status, deregistered included)."""
    return RegistryRepository(conn).get_node(node_id) is not None
