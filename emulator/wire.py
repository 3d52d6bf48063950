"""JSON encoding for the wire: Decimals become JSON numbers with their exact digits.

Azure sends costs as JSON floats. Writing a Decimal's own digits is the same number for
every value that fits a float (the emulator keeps single-record costs within 15 significant
digits), and for longer sums a float-parsing client simply rounds, as it would with Azure.
"""

from __future__ import annotations

import json
from decimal import Decimal
from typing import Any


def _number(value: Decimal) -> str:
    text = format(value, "f")
    # A JSON number without a fraction parses as an int; Azure's costs are floats.
    return text if "." in text else f"{text}.0"


def _encode(value: Any, out: list[str]) -> None:
    if isinstance(value, dict):
        out.append("{")
        for i, (key, item) in enumerate(value.items()):
            if i:
                out.append(",")
            out.append(json.dumps(str(key)))
            out.append(":")
            _encode(item, out)
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out)
        out.append("]")
    elif isinstance(value, Decimal):
        out.append(_number(value))
    else:
        out.append(json.dumps(value))


def dumps(value: Any) -> bytes:
    """UTF-8 JSON of dicts, lists, strings, numbers (Decimal exact), bools and None."""
    out: list[str] = []
    _encode(value, out)
    return "".join(out).encode()
