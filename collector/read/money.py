"""How an amount is written, everywhere costwatch shows one (CLI, dashboard, alerts, report files and
mails): two decimals rounded half up, thousands separators, then its currency. Only what is shown is
rounded; the store, the sums and the files' figures keep every digit."""

from __future__ import annotations

from decimal import ROUND_HALF_UP, Decimal


def money(value: Decimal | None, currency: str = "", places: int = 2) -> str:
    """'1,234.57 USD'; '-' for None (no figure); never '-0.00'."""
    if value is None:
        return "-"
    rounded = value.quantize(Decimal(1).scaleb(-places), rounding=ROUND_HALF_UP)
    if rounded == 0:
        rounded = abs(rounded)
    text = f"{rounded:,.{places}f}"
    return f"{text} {currency}" if currency else text
