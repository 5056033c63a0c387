"""The graduated ladder of poor performance: offences counted over a rolling window, and the
rung an offence lands on."""

from __future__ import annotations

from collections.abc import Iterable

from ledger.kit.limits import MAX_OFFENCE_HISTORY
from ledger.params.domain import LadderStep, ParameterSet
from ledger.slashing.domain.errors import SlashingError, require_int


def count_offences(history: Iterable[tuple[int, bool]], now_s: int, window_s: int) -> int:
    """Counted offences of one node in the rolling window ``(now_s - window_s, now_s]``.

    ``history`` is ``(at_s, counted)`` per past offence (its infraction time); ``counted`` is
    False for waived or voided ones, which never climb the ladder. An offence exactly
    ``window_s`` old has left the window; one after ``now_s`` is ignored (recomputing the past).
    """
    require_int("now_s", now_s)
    require_int("window_s", window_s, 1)
    count = 0
    for i, (at_s, counted) in enumerate(history):
        if i >= MAX_OFFENCE_HISTORY:
            raise SlashingError(
                f"at most {MAX_OFFENCE_HISTORY} entries", code="too_long", field="history"
            )
        if counted and now_s - window_s < require_int("history.at_s", at_s) <= now_s:
            count += 1
    return count


def ladder_step(prior_offences_in_window: int, params: ParameterSet) -> LadderStep:
    """The rung for an offence with ``prior_offences_in_window`` earlier ones in the window.

    The first offence (0 prior) is rung 1; the last rung applies to every later offence.
    """
    require_int("prior_offences_in_window", prior_offences_in_window)
    return params.slashing.ladder_step(prior_offences_in_window + 1)
