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
    if value and abs(value) < _SMALL:
        # Azure writes small figures in exponent form, e.g. 1.5E-05 (the recorded grouped query of
        # Azure/azure-cli-extensions test_data_grouping_in_subscription_scopde.yaml).
        mantissa, _, exponent = format(value.normalize(), "E").partition("E")
        return f"{mantissa if '.' in mantissa else mantissa + '.0'}E{int(exponent):03d}"  # E-05
    text = format(value, "f")
    # A JSON number without a fraction parses as an int; Azure's costs are floats.
    return text if "." in text else f"{text}.0"


_SMALL = Decimal("0.0001")


# A Decimal leaves json.dumps as a string between two markers, and the quotes and markers are then
# cut away: the C encoder does the walking, where a Python one took most of the emulator's time on
# large cost answers (docs/performance.md#emulator-json). No Azure string starts or ends with a NUL byte.
_OPEN, _CLOSE = "\x00decimal:", "\x00"
_OPEN_JSON, _CLOSE_JSON = '"\\u0000decimal:', '\\u0000"'


def _marked(value: Any) -> str:
    if isinstance(value, Decimal):
        return _OPEN + _number(value) + _CLOSE
    raise TypeError(f"{type(value).__name__} is not JSON serializable")


def dumps(value: Any) -> bytes:
    """UTF-8 JSON of dicts, lists, strings, numbers (Decimal exact), bools and None."""
    text = json.dumps(value, default=_marked, separators=(",", ":"))
    return text.replace(_OPEN_JSON, "").replace(_CLOSE_JSON, "").encode()
