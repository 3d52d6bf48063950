"""Number formatting shared by the report writers: exact decimals for files, rounded money for people."""

from __future__ import annotations

from decimal import ROUND_HALF_EVEN, Decimal


def plain(value: Decimal | None, places: int = 0) -> str:
    """A decimal as plain text with at least `places` decimals, every stored digit kept, no exponent
    and no trailing zeros beyond `places` (so equal amounts read the same from any database); '' for None."""
    if value is None:
        return ""
    if value == 0:
        value = Decimal(0)  # no "-0.000000"
    normal = value.normalize()
    exponent = normal.as_tuple().exponent
    digits = max(places, -exponent if isinstance(exponent, int) and exponent < 0 else 0)
    return f"{normal:.{digits}f}"


def percent(value: Decimal | None, signed: bool = True) -> str:
    """'+12.3%' / '-4.0%'; '-' for None (nothing to compare with)."""
    if value is None:
        return "-"
    rounded = value.quantize(Decimal("0.1"), rounding=ROUND_HALF_EVEN)
    if rounded == 0:
        rounded = abs(rounded)
    return f"{rounded:+.1f}%" if signed else f"{rounded:.1f}%"


def quantity(value: Decimal | None) -> str:
    """'1,234.5' with up to 3 decimals for people; '' for None."""
    if value is None:
        return ""
    rounded = value.quantize(Decimal("0.001"), rounding=ROUND_HALF_EVEN).normalize()
    exponent = rounded.as_tuple().exponent
    digits = -exponent if isinstance(exponent, int) and exponent < 0 else 0
    return f"{rounded:,.{digits}f}"
