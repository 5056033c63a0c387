"""What every task module shares: the clock, and the retry policy for database outages.

Tasks are thin: they take ids, call a service in one transaction, nothing else. They are
idempotent by construction (the services claim their unit of work in the same transaction that
does it), so late acknowledgement and redelivery after a crash are safe.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from sqlalchemy.exc import OperationalError

from ledger.kit.limits import MAX_RETRIES

#: Task options of a task that must survive a database outage: retried with backoff.
DB_RETRY: dict[str, Any] = {
    "autoretry_for": (OperationalError,),
    "retry_backoff": True,
    "max_retries": MAX_RETRIES,
}


def now() -> dt.datetime:
    """The tasks' clock (the services take time as an argument)."""
    return dt.datetime.now(dt.UTC)
