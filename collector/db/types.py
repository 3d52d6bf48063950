"""Exact money in SQL: NUMERIC on PostgreSQL, decimal text on SQLite, summed exactly on both.

SQLite has no decimal type: SQLAlchemy's Numeric would store a binary float there and lose cents on
sums. So on SQLite a Money column holds the decimal's text, and `money_sum()` and `money_add()` compile
to an aggregate and a function that add Decimals in Python (registered on every SQLite connection by
`collector.db.engine`).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from sqlalchemy import Numeric, String
from sqlalchemy.engine import Dialect
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.functions import GenericFunction
from sqlalchemy.types import TypeDecorator, TypeEngine


class Money(TypeDecorator[Decimal]):
    impl = Numeric
    cache_ok = True

    def load_dialect_impl(self, dialect: Dialect) -> TypeEngine[Any]:
        if dialect.name == "sqlite":
            return dialect.type_descriptor(String(48))
        return dialect.type_descriptor(Numeric(asdecimal=True))

    def process_bind_param(self, value: Any, dialect: Dialect) -> Any:
        if value is None:
            return None
        if not isinstance(value, Decimal):
            raise TypeError(f"money must be a Decimal, got {type(value).__name__}")
        return str(value) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> Decimal | None:
        if value is None:
            return None
        return value if isinstance(value, Decimal) else Decimal(str(value))


class money_sum(GenericFunction[Decimal]):
    """SUM() of a Money expression, exact on every backend."""

    type = Money()
    inherit_cache = True
    name = "money_sum"


@compiles(money_sum)
def _money_sum_default(element: money_sum, compiler: Any, **kw: Any) -> str:
    return f"SUM({compiler.process(element.clauses, **kw)})"


@compiles(money_sum, "sqlite")
def _money_sum_sqlite(element: money_sum, compiler: Any, **kw: Any) -> str:
    return f"decimal_sum({compiler.process(element.clauses, **kw)})"


class money_add(GenericFunction[Decimal]):
    """a + b of two Money expressions, exact on every backend."""

    type = Money()
    inherit_cache = True
    name = "money_add"


@compiles(money_add)
def _money_add_default(element: money_add, compiler: Any, **kw: Any) -> str:
    a, b = (compiler.process(clause, **kw) for clause in element.clauses)
    return f"({a} + {b})"


@compiles(money_add, "sqlite")
def _money_add_sqlite(element: money_add, compiler: Any, **kw: Any) -> str:
    return f"decimal_add({compiler.process(element.clauses, **kw)})"


def decimal_add(a: str | None, b: str | None) -> str | None:
    """SQLite function: exact sum of two decimal texts; NULL when either is, like +."""
    return None if a is None or b is None else str(Decimal(a) + Decimal(b))


class DecimalSum:
    """SQLite aggregate: exact sum of decimal text; NULL when there were no rows, like SUM()."""

    def __init__(self) -> None:
        self.total: Decimal | None = None

    def step(self, value: Any) -> None:
        if value is None:
            return
        amount = Decimal(value) if isinstance(value, str) else Decimal(str(value))
        self.total = amount if self.total is None else self.total + amount

    def finalize(self) -> str | None:
        return None if self.total is None else str(self.total)
