"""The epoch clock: which seconds an epoch covers and when it may be judged (pure).

Epoch ``n`` covers ``[n x epoch_length_s, (n + 1) x epoch_length_s)`` in Unix seconds; it may
close (and be judged) from its end plus ``epoch_settle_grace_s``, so late heartbeats of its
last slot are in before anything is computed from it.
"""

from __future__ import annotations

import datetime as dt

from ledger.kit.errors import Conflict
from ledger.params.domain.schema import ParameterSet


def epoch_start_s(epoch: int, params: ParameterSet) -> int:
    """First Unix second of ``epoch``."""
    return epoch * params.epoch.epoch_length_s


def epoch_end(epoch: int, params: ParameterSet) -> dt.datetime:
    """The instant ``epoch`` ends (the first second of the next): inputs are read as of it."""
    return dt.datetime.fromtimestamp((epoch + 1) * params.epoch.epoch_length_s, dt.UTC)


def epoch_settles_at(epoch: int, params: ParameterSet) -> int:
    """Unix second from which an epoch may close: its end plus the settle grace."""
    return (epoch + 1) * params.epoch.epoch_length_s + params.epoch.epoch_settle_grace_s


def require_settled(epoch: int, now: dt.datetime, params: ParameterSet) -> None:
    """Refuse to close or judge an epoch before its end plus the settle grace."""
    if int(now.timestamp()) < epoch_settles_at(epoch, params):
        settles = dt.datetime.fromtimestamp(epoch_settles_at(epoch, params), dt.UTC)
        raise Conflict(
            f"epoch {epoch} settles at {settles.isoformat()} (end + grace)",
            code="epoch_not_settled", field="epoch",
        )  # fmt: skip
