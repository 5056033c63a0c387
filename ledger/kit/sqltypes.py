"""Column types: money is NUMERIC(78,0) in SQL and ``int`` in Python, converted exactly."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric
from sqlalchemy.engine import Dialect
from sqlalchemy.types import TypeDecorator


class Amount(TypeDecorator[int]):
    """An integer count of base units stored as NUMERIC(78,0) (room for any uint256).

    psycopg reads NUMERIC as Decimal; ``int(Decimal)`` of a value with no fraction is exact at any
    size (no arithmetic happens in Decimal, so its 28-digit context never rounds anything).
    """

    impl = Numeric(78, 0)
    cache_ok = True

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if type(value) is not int:
            raise TypeError(f"Amount columns take int base units, got {type(value).__name__}")
        return value

    def process_result_value(self, value: Any, dialect: Dialect) -> int | None:
        if value is None:
            return None
        if isinstance(value, Decimal):
            if value != value.to_integral_value():
                raise ValueError(f"non-integral amount read from the database: {value}")
            return int(value)
        return int(value)
