"""What registry needs from other modules, as Cosmos SDK modules declare their expected keepers.

Every use registry makes of another module's service or repository goes through this file, so
the list below is the whole of its dependency on their state:

- accounting: ``open_provider_accounts``, the ledger accounts of a newly registered provider.
"""

from __future__ import annotations

from ledger.accounting.service import open_provider_accounts

__all__ = ["open_provider_accounts"]
