"""Step 5 of an epoch: the exact largest-remainder allocation of the pool (SPEC 4.6).

``floor(pool x w_i / sum(w))`` each; the leftover base units go one each to the largest
remainders, ties by key ascending. The amounts sum to the pool exactly.
"""

from __future__ import annotations

from collections.abc import Sequence

from ledger.rewards.domain.inputs import require_int

__all__ = ["allocate_exact"]


def allocate_exact(
    pool_base_units: int, weights: Sequence[int], tie_keys: Sequence[str]
) -> list[int]:
    """Split ``pool_base_units`` in proportion to ``weights``, exactly (SPEC 4.6).

    ``floor(pool x w_i / sum(w))`` each; the ``pool - sum(floors)`` leftover base units (fewer
    than the number of weights) go one each to the largest remainders ``pool x w_i mod sum(w)``,
    equal remainders ordered by ``tie_keys`` ascending. The result sums to the pool exactly. A
    zero weight never receives anything. When every weight is 0 nothing can be split and all
    amounts are 0; the caller reports the pool as undistributed.
    """
    require_int("pool_base_units", pool_base_units, 0)
    if len(weights) != len(tie_keys):
        raise ValueError("weights and tie_keys must have the same length")
    total = 0
    for i, w in enumerate(weights):
        total += require_int(f"weights[{i}]", w, 0)
    if total == 0:
        return [0] * len(weights)
    amounts: list[int] = []
    remainders: list[int] = []
    for w in weights:
        q, r = divmod(pool_base_units * w, total)  # floor: the remainder is ranked below
        amounts.append(q)
        remainders.append(r)
    leftover = pool_base_units - sum(amounts)
    # Each floor loses less than one unit, so fewer units are left over than there are weights;
    # what the floors lost, the remainders hold: sum(r_i) = pool x total - total x sum(q_i).
    assert 0 <= leftover < len(weights)
    assert sum(remainders) == leftover * total
    if leftover:
        # Largest remainder first; equal remainders by tie key. Every remainder is below
        # `total` and they sum to leftover x total, so more than `leftover` of them are
        # positive and the units never reach a zero-weight (zero-remainder) entry.
        order = sorted(range(len(weights)), key=lambda i: (-remainders[i], tie_keys[i]))
        assert remainders[order[leftover - 1]] > 0
        for i in order[:leftover]:
            amounts[i] += 1
    assert sum(amounts) == pool_base_units
    return amounts
