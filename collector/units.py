"""The unit of a meter's quantity: from the meter's own name, else as the operator states it.

A cost query's rows carry no unit (the Query API takes five groupings, all spent on what a row is), and
Marketplace model meters are composite ("<plan> - paygo-inference-input-tokens", MeterCategory "SaaS"):
some plans bill per 1K tokens, others per 1M. So a unit is the one the meter's name states ("... 1M
tokens", "per 1K"), else the one `[costs] units` gives for that meter (from the plan's price sheet),
else it is unknown and the reports say so. It is never assumed: a wrong one would misstate every cost
per token by a factor of a thousand.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from decimal import Decimal
from functools import cache

TOKENS_1K = "1K tokens"
TOKENS_1M = "1M tokens"
TOKENS = "tokens"
HOURS = "hours"
UNKNOWN_TOKENS = "tokens, unit not stated"  # a token meter whose scale neither its name nor the settings give
KNOWN = (TOKENS_1K, TOKENS_1M, TOKENS, HOURS)
TOKENS_PER_UNIT = {TOKENS_1K: 1_000, TOKENS_1M: 1_000_000, TOKENS: 1}

_MILLION = re.compile(r"(\b1\s*m\b|\bmillion\b|\b1,?000,?000\b)")
_THOUSAND = re.compile(r"(\b1\s*k\b|\bthousand\b|\b1,?000\b)")


_WORDS = re.compile(r"[a-z0-9]+")


def token_type(meter: str) -> str:
    """cached input | input | output | total for token meters, else ''. Marketplace meters spell the
    kind out ("paygo-inference-input-tokens"); Foundry meters abbreviate it ("gpt-4o-mini-0718-Inp-glbl
    Tokens", "gpt 4o 1120 cached Inp glbl")."""
    words = _WORDS.findall(meter.lower())
    if not {"tokens", "token", "inp", "outp", "input", "output"} & set(words):
        return ""  # "gpt-35-turbo-4k-Input-regional" is a token meter without the word
    if "cached" in words or "cache" in words:
        return "cached input"
    if {"input", "inp"} & set(words):
        return "input"
    if {"output", "outp", "out"} & set(words):
        return "output"
    return "total"


def meter_unit(meter: str, meter_category: str = "", stated: Mapping[str, str] | None = None) -> str:
    """The unit of the meter's quantity, one of KNOWN; UNKNOWN_TOKENS or '' when costwatch cannot know."""
    name = meter.lower()
    given = {k.lower(): v for k, v in (stated or {}).items()}.get(name)
    if given:
        return given
    if token_type(meter):
        words = name.replace("-", " ")
        if _MILLION.search(words):
            return TOKENS_1M
        if _THOUSAND.search(words):
            return TOKENS_1K
        return UNKNOWN_TOKENS
    if "hosting" in name or meter_category.lower() == "virtual machines":
        return HOURS
    return ""


def unit_lookup(stated: Mapping[str, str]) -> Callable[[str, str], str]:
    """meter_unit with `stated`, worked out once per meter: a month's FOCUS file asks it for every row."""
    lowered = {k.lower(): v for k, v in stated.items()}

    @cache
    def unit(meter: str, meter_category: str) -> str:
        return meter_unit(meter, meter_category, lowered)

    return unit


def tokens(quantity: Decimal | None, unit: str) -> Decimal | None:
    """The quantity in tokens; None when it is not tokens of a known scale."""
    per = TOKENS_PER_UNIT.get(unit)
    return None if quantity is None or per is None else quantity * per


def per_million_tokens(cost: Decimal, token_count: Decimal | None) -> Decimal | None:
    """Cost per 1,000,000 tokens; None when not computable."""
    if token_count is None or token_count <= 0:
        return None
    return cost * 1_000_000 / token_count


def normalised(unit: str) -> str:
    """'1K', '1k tokens', '1M', 'Hours', ... -> one of KNOWN; ValueError naming the accepted forms."""
    text = unit.strip().lower().removesuffix(" tokens").removesuffix("tokens").strip()
    found = {"1k": TOKENS_1K, "1m": TOKENS_1M, "": TOKENS, "1": TOKENS, "hours": HOURS, "hour": HOURS, "1 hour": HOURS}
    if text not in found:
        raise ValueError(f"unknown unit {unit!r}; use 1K tokens, 1M tokens, tokens or hours")
    return found[text]
