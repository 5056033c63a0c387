"""Step 3 of an epoch: the four performance scores and their weighted sum (SPEC 4.3).

Uptime, error rate, response time and user rating each score in ppm (0 .. 1e6); the performance
matrix weighs them: ``performance = sum(weight_m x score_m) / 1e6``, rounded down. Every score
is a pure function of a few integers, so the epoch computes each distinct input once.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence

from ledger.kit.money import PPM, Rounding, mul_div
from ledger.params.domain import PerformanceParams

__all__ = [
    "error_rate_score_ppm",
    "performance_ppm",
    "rating_percentiles_ppm",
    "response_time_score_ppm",
    "uptime_score_ppm",
]


def uptime_score_ppm(uptime_ppm: int, performance: PerformanceParams) -> int:
    """Return the uptime score: 0 below the floor (90%), 1e6 from the target (99.9%) up.

    In between it rises linearly, ``(uptime - floor) x 1e6 / (target - floor)`` rounded down; at
    exactly the floor it is 0.
    """
    floor = performance.uptime_floor_ppm
    target = performance.uptime_target_ppm
    if uptime_ppm < floor:
        return 0
    if uptime_ppm >= target:
        return PPM
    return mul_div(uptime_ppm - floor, PPM, target - floor, Rounding.DOWN)


def error_rate_score_ppm(error_rate_ppm: int | None, performance: PerformanceParams) -> int:
    """Return the error rate score ``max(0, 1 - err / 5%)`` in ppm, rounded down.

    ``None`` (the node ran no job) scores ``no_jobs_error_score_ppm`` (1.0 by default).
    """
    if error_rate_ppm is None:
        return performance.no_jobs_error_score_ppm
    zero_at = performance.error_rate_zero_score_ppm
    if error_rate_ppm >= zero_at:
        return 0
    return mul_div(zero_at - error_rate_ppm, PPM, zero_at, Rounding.DOWN)


def response_time_score_ppm(latency_p50_ms: int | None, latency_target_ms: int) -> int:
    """Return the response time score ``min(1, target / p50)`` in ppm, rounded down.

    ``None`` (no latency received) scores 0: an unmeasured node is not a fast one. A p50 of
    0 ms is at or under any target and scores 1e6.
    """
    if latency_p50_ms is None:
        return 0
    if latency_p50_ms <= latency_target_ms:
        return PPM
    return mul_div(latency_target_ms, PPM, latency_p50_ms, Rounding.DOWN)


def rating_percentiles_ppm(ratings: Sequence[tuple[int, int]]) -> list[int | None]:
    """Return each node's user rating percentile in ppm, ``None`` for unrated nodes.

    ``ratings[i]`` is ``(rating_sum, rating_count)``; a node is rated when the count is
    positive. Among the ``n`` rated nodes, node ``i`` with mean ``m_i = sum_i / count_i``
    scores ``(lower_i + ties_i / 2) / (n - 1)`` where ``lower_i`` counts rated nodes with a
    strictly lower mean and ``ties_i`` the *other* rated nodes with an equal mean; computed as
    ``(2 lower + ties) x 1e6 / (2 (n - 1))`` rounded down. The lowest mean scores 0, the highest
    1e6, and when all means are equal everyone scores 0.5. A single rated node scores 1e6.

    The means are compared exactly without fractions: with ``C`` the largest count and
    ``K = C^2 + 1``, the integer key ``floor(sum x K / count)`` orders the means exactly (two
    different means differ by at least ``1 / C^2``, so their keys differ), which lets one sort
    plus binary searches do the ranking in O(n log n).
    """
    rated = [(s, c) for s, c in ratings if c > 0]
    n = len(rated)
    if n == 0:
        return [None] * len(ratings)
    max_count = max(c for _, c in rated)
    scale = max_count * max_count + 1
    sorted_keys = sorted(s * scale // c for s, c in rated)  # floor; exact order, see above
    denominator = 2 * (n - 1)
    result: list[int | None] = []
    for s, c in ratings:
        if c <= 0:
            result.append(None)
            continue
        if n == 1:
            result.append(PPM)
            continue
        key = s * scale // c
        lower = bisect.bisect_left(sorted_keys, key)
        ties = bisect.bisect_right(sorted_keys, key, lower) - lower - 1
        # 0 <= 2 lower + ties <= 2 (n - 1): the lowest mean scores 0, the highest 1e6.
        assert 0 <= 2 * lower + ties <= denominator
        result.append(mul_div(2 * lower + ties, PPM, denominator, Rounding.DOWN))
    return result


def performance_ppm(
    uptime_score: int,
    error_rate_score: int,
    response_time_score: int,
    user_rating_score: int,
    performance: PerformanceParams,
) -> int:
    """Return ``sum(weight_m x score_m) / 1e6`` in ppm, one division rounded down.

    The metric weights sum to 1e6 (the parameter set enforces it), so perfect scores give
    exactly 1e6.
    """
    assert (
        performance.weight_uptime_ppm
        + performance.weight_error_rate_ppm
        + performance.weight_response_time_ppm
        + performance.weight_user_rating_ppm
        == PPM
    )
    total = (
        performance.weight_uptime_ppm * uptime_score
        + performance.weight_error_rate_ppm * error_rate_score
        + performance.weight_response_time_ppm * response_time_score
        + performance.weight_user_rating_ppm * user_rating_score
    )
    return mul_div(total, 1, PPM, Rounding.DOWN)
