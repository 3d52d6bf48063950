"""The model a Foundry resource's meter bills (its token kind: collector.units.token_type).

Microsoft bills every model of a Foundry resource on that one resource, and its meters name the
model in their own spelling: "gpt-4o-mini-0718-Inp-glbl Tokens", "gpt 4o 0513 Input global Tokens",
"gpt 4o 1120 cached Inp glbl", "gpt-35-turbo-4k-Input-regional", "R1 Outp glbl Tokens" (DeepSeek-R1),
"gpt-4-8K-Batch-Inp-glbl Tokens" (serviceName "Foundry Models"; examples from public cost exports
and retail price sheets, tests/unit/test_foundry_models.py). So a meter's model is the deployed model of
that resource whose name, squashed to letters and digits, begins the squashed meter (the longest
such name wins: gpt-4o-mini over gpt-4o), also matched without its vendor ("DeepSeek-R1" as "R1").
A meter naming no deployed model (the model's deployment was removed, or a non-token meter) keeps
the words before its version code, so it is never filed under another model.

Provisioned throughput is billed per PTU and hour on one meter per deployment type that names no
model ("Provisioned Managed Global Unit", "... Data Zone Unit", "... Regional Unit": the Azure
Reservation product names on Learn's provisioned-throughput onboarding page). Its model is the one
model of the resource's provisioned deployments of that type; with several, the meter's spend is
filed under a label naming them, as the bill does not split PTU hours by model.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable, Mapping

# The kinds of Microsoft.CognitiveServices/accounts that deploy models: Foundry (AIServices) and Azure
# OpenAI. Speech, Vision, Language... accounts are billed too, but are not model deployments.
MODEL_KINDS = ("aiservices", "openai")
NO_MODEL = "(no model)"  # a Foundry resource's meter that bills no model (e.g. an agent or search meter)

_WORD = re.compile(r"[a-z0-9]+")
_VERSION = re.compile(r"^\d{4}$")  # the model version as MMDD: 0718 for 2024-07-18
_KIND_WORDS = {
    "inp",
    "input",
    "outp",
    "output",
    "out",
    "cached",
    "cache",
    "batch",
    "glbl",
    "global",
    "dzone",
    "datazone",
    "regional",
    "regnl",
    "rgnl",
    "tokens",
    "token",
    "ptu",
    "provisioned",
    "aud",
    "txt",
}


_PTU_METER = re.compile(r"^provisioned\s+managed\s+(global|data\s*zone|regional)\b", re.IGNORECASE)
_PTU_SKUS = {
    "global": "GlobalProvisionedManaged",
    "datazone": "DataZoneProvisionedManaged",
    "regional": "ProvisionedManaged",
}
# The standard deployment type a token meter names (its words, after the model's).
_TYPE_WORDS = {
    "glbl": "Global",
    "global": "Global",
    "dzone": "DataZone",
    "datazone": "DataZone",
    "regional": "",
    "regnl": "",
    "rgnl": "",
}


def is_model_account(kind: str) -> bool:
    return kind.lower() in MODEL_KINDS


def _squash(text: str) -> str:
    return "".join(_WORD.findall(text.lower()))


def _aliases(model: str) -> list[str]:
    """The squashed names a meter may give the model: whole, and without its vendor's prefix."""
    names = [_squash(model)]
    if "-" in model:
        names.append(_squash(model.split("-", 1)[1]))
    return [n for n in names if n]


def is_provisioned(sku: str) -> bool:
    """Whether a deployment's sku.name is a provisioned (PTU) type: ProvisionedManaged and its Global
    and DataZone kin."""
    return "provisioned" in sku.lower()


def provisioned_sku(meter: str) -> str | None:
    """The provisioned deployment type (sku.name) whose PTU hours the meter bills; None for other meters."""
    found = _PTU_METER.match(meter.strip())
    return None if found is None else _PTU_SKUS[_squash(found.group(1))]


def meter_sku(meter: str) -> str:
    """The deployment type (sku.name) a Foundry meter bills: GlobalStandard, DataZoneBatch, Standard
    (regional), GlobalProvisionedManaged...; '' when the meter names none."""
    provisioned = provisioned_sku(meter)
    if provisioned is not None:
        return provisioned
    words = _WORD.findall(meter.lower())
    placed = next((_TYPE_WORDS[w] for w in reversed(words) if w in _TYPE_WORDS), None)
    if placed is None:
        return ""
    return f"{placed}Batch" if "batch" in words else f"{placed}Standard" if placed else "Standard"


def model_of_meter(meter: str, models: Iterable[str], provisioned: Mapping[str, Collection[str]] | None = None) -> str:
    """The deployed model (one of `models`) the meter bills, else the meter's own model words, else
    NO_MODEL. A PTU meter's model is the one model of `provisioned[its sku]` (the resource's
    provisioned deployments by type)."""
    sku = provisioned_sku(meter)
    if sku is not None:
        held = sorted(set((provisioned or {}).get(sku, ())))
        if not held:
            return NO_MODEL
        return held[0] if len(held) == 1 else f"(PTUs of {', '.join(held)})"
    squashed = _squash(meter)
    best = ""
    best_length = 0
    for model in models:
        for alias in _aliases(model):
            if squashed.startswith(alias) and len(alias) > best_length:
                best, best_length = model, len(alias)
    if best:
        return best
    words = _WORD.findall(meter.lower())
    kept: list[str] = []
    for word in words:
        if _VERSION.match(word) or word in _KIND_WORDS:
            break
        kept.append(word)
    if not kept or len(kept) == len(words):
        return NO_MODEL  # no token or version word: not a model's meter
    return "-".join(kept)
