"""VM-core quota of the tenant's subscriptions: Azure ML and Compute usages per region.

Limits, and the cores used by things the emulator does not model (training clusters,
plain VMs), are drawn once per (subscription, region, provider) when the tenant is
generated. The cores of the managed online deployments are added on every read, so
scaling a deployment moves the Azure ML numbers at once. Compute usages leave the
deployments out: Azure ML's quota is separate from the subscription's VM quota.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from .catalog import VM_FAMILIES, VM_SIZES
from .inventory import OnlineDeployment

ML_PROVIDER = "Microsoft.MachineLearningServices"
COMPUTE_PROVIDER = "Microsoft.Compute"
PROVIDERS: tuple[str, ...] = (ML_PROVIDER, COMPUTE_PROVIDER)
FOUNDRY_PROVIDER = "Microsoft.CognitiveServices"  # its usages come from emulator/foundry.py
UNLIMITED = -1

# The regional totals, as the two APIs name them.
ML_TOTAL = "totalCores"
ML_TOTAL_LABEL = "Total Cluster Dedicated Regional vCPUs"
COMPUTE_TOTAL = "cores"
COMPUTE_TOTAL_LABEL = "Total Regional vCPUs"

# Limits a family's base line is drawn from. GPU families often have no quota at all
# (limit 0), as in Azure's own examples: a reader must not divide by it.
_LIMIT_CHOICES: dict[str, dict[str, tuple[int, ...]]] = {
    ML_PROVIDER: {
        "standardDSv2Family": (24, 48, 100),
        "standardFSv2Family": (24, 48),
        "standardNCSv3Family": (0, 24, 48),
        "standardNCADSA100v4Family": (0, 24, 48, 96),
        "standardNDAMSA100v4Family": (0, 0, 96),
    },
    COMPUTE_PROVIDER: {
        "standardDSv2Family": (100, 350),
        "standardFSv2Family": (100, 200),
        "standardNCSv3Family": (0, 24, 48),
        "standardNCADSA100v4Family": (0, 24, 48),
        "standardNDAMSA100v4Family": (0, 0, 96),
    },
}
_BASE_SHARE = 0.4  # drawn usage stays below this share of the limit: "most are low"
_TOTAL_LIMITS = (200, 300, 500)


@dataclass(frozen=True)
class QuotaLine:
    """One family's limit and the cores in use outside the managed deployments."""

    provider: str
    family: str
    other: int
    limit: int  # UNLIMITED (-1), or 0 for no quota


@dataclass(frozen=True)
class Usage:
    """One entry of a usages list, with the tenant's current numbers."""

    subscription_id: str
    location: str
    provider: str
    name: str  # name.value
    localized_name: str
    current: int
    limit: int
    unit: str = "Count"
    is_total: bool = False
    # Below the subscription: "workspaces/<name>" for a workspace's share of the family's quota, which
    # Azure ML lists after the family's own line with the same name.value and limit.
    workspace: str = ""

    def truth(self) -> dict[str, Any]:
        return {
            "subscription_id": self.subscription_id,
            "location": self.location,
            "provider": self.provider,
            "name": self.name,
            "localized_name": self.localized_name,
            "current": self.current,
            "limit": self.limit,
            "unit": self.unit,
        }


def family_label(provider: str, family: str) -> str:
    suffix = "Cluster Dedicated vCPUs" if provider == ML_PROVIDER else "vCPUs"
    return f"{VM_FAMILIES[family]} {suffix}"


def deployment_cores(deployments: Iterable[OnlineDeployment]) -> dict[tuple[str, str, str], int]:
    """Cores of managed deployments per (subscription, region, family)."""
    cores: dict[tuple[str, str, str], int] = {}
    for d in deployments:
        size = VM_SIZES[d.vm_size]
        key = (d.subscription_id.lower(), d.location.lower(), size.family)
        cores[key] = cores.get(key, 0) + size.cores * d.instance_count
    return cores


@dataclass(frozen=True)
class QuotaBook:
    """The drawn base of every (subscription, region, provider); usages are computed from it."""

    lines: Mapping[tuple[str, str, str], tuple[QuotaLine, ...]]
    total_limits: Mapping[tuple[str, str, str], int]
    # Microsoft.CognitiveServices usages per (subscription, region), as served (emulator/foundry.py).
    foundry: Mapping[tuple[str, str], tuple[Usage, ...]] = field(default_factory=dict)

    @classmethod
    def empty(cls) -> QuotaBook:
        return cls({}, {})

    @property
    def regions(self) -> frozenset[str]:
        return frozenset(region for _, region, _ in self.lines)

    def usages(
        self, subscription_id: str, location: str, provider: str, deployments: Iterable[OnlineDeployment]
    ) -> list[Usage]:
        """The usages list of one scope; empty for a region or subscription the tenant lacks."""
        sub, region = subscription_id.lower(), location.lower()
        if provider == FOUNDRY_PROVIDER:
            return list(self.foundry.get((sub, region), ()))
        lines = self.lines.get((sub, region, provider))
        if lines is None:
            return []
        cores = deployment_cores(deployments) if provider == ML_PROVIDER else {}
        families = [
            Usage(
                sub,
                region,
                provider,
                line.family,
                family_label(provider, line.family),
                line.other + cores.get((sub, region, line.family), 0),
                line.limit,
            )
            for line in lines
        ]
        name, label = (ML_TOTAL, ML_TOTAL_LABEL) if provider == ML_PROVIDER else (COMPUTE_TOTAL, COMPUTE_TOTAL_LABEL)
        total = Usage(
            sub,
            region,
            provider,
            name,
            label,
            sum(u.current for u in families),
            self.total_limits[(sub, region, provider)],
            is_total=True,
        )
        return [total, *families]

    def breakdown(self, family: Usage, deployments: Iterable[OnlineDeployment]) -> list[Usage]:
        """Each workspace's share of one Azure ML family line: the cores of its managed deployments."""
        if family.provider != ML_PROVIDER or family.is_total:
            return []
        shares: dict[str, int] = {}
        for d in deployments:
            size = VM_SIZES[d.vm_size]
            if (d.subscription_id.lower(), d.location.lower(), size.family) == (
                family.subscription_id,
                family.location,
                family.name,
            ):
                workspace = d.endpoint_id.split("/onlineEndpoints/")[0].rsplit("/", 1)[-1]
                shares[workspace] = shares.get(workspace, 0) + size.cores * d.instance_count
        return [replace(family, current=cores, workspace=workspace) for workspace, cores in sorted(shares.items())]

    def all_usages(self, deployments: Sequence[OnlineDeployment]) -> list[Usage]:
        vm = [u for sub, region, provider in self.lines for u in self.usages(sub, region, provider, deployments)]
        return vm + [u for lines in self.foundry.values() for u in lines]


def build_quota_book(
    seed: int,
    subscription_ids: Sequence[str],
    regions: Iterable[str],
    overrides: Mapping[tuple[str, str], Sequence[QuotaLine]],
    deployments: Sequence[OnlineDeployment],
    *,
    quiet: bool = False,
    foundry: Mapping[tuple[str, str], tuple[Usage, ...]] | None = None,
) -> QuotaBook:
    """Draw the base lines; `overrides` (per subscription and region) place the scenarios.

    Each scope draws from its own stream, so adding subscriptions or regions leaves the
    others unchanged. A total's limit is at least 2.5 times its usage at generation, so
    only families (never totals) reach the alerting levels.

    `quiet` (a quiet tenant): every limit is positive (no 0, no unlimited) and a total's
    limit is at least 3 times its usage, so with quiet overrides nothing reaches 50%.
    """
    cores = deployment_cores(deployments)
    lines: dict[tuple[str, str, str], tuple[QuotaLine, ...]] = {}
    totals: dict[tuple[str, str, str], int] = {}
    for sub in (s.lower() for s in subscription_ids):
        for region in sorted({r.lower() for r in regions}):
            placed = {(o.provider, o.family): o for o in overrides.get((sub, region), ())}
            for provider in PROVIDERS:
                rng = random.Random(f"{seed}|quota|{sub}|{region}|{provider}")
                scope: list[QuotaLine] = []
                for family, choices in _LIMIT_CHOICES[provider].items():
                    limit = rng.choice([c for c in choices if c > 0] if quiet else choices)
                    other = int(limit * rng.uniform(0.0, _BASE_SHARE))
                    scope.append(placed.get((provider, family), QuotaLine(provider, family, other, limit)))
                used = sum(
                    line.other + (cores.get((sub, region, line.family), 0) if provider == ML_PROVIDER else 0)
                    for line in scope
                )
                # 2.5 x usage (3 x when quiet), rounded up to 50
                floor = -(-used * (6 if quiet else 5) // 2 // 50) * 50
                lines[(sub, region, provider)] = tuple(scope)
                totals[(sub, region, provider)] = max(rng.choice(_TOTAL_LIMITS), floor)
    return QuotaBook(lines, totals, foundry or {})
