"""Azure's quota usages: the VM-core usages of Azure Machine Learning and Compute and the model
capacity of Cognitive Services, per subscription and region, fetched and parsed into snapshot rows
(the quota job, collector/jobs/quota.py, stores them).

Azure ML's list repeats each family's `name.value` at three levels: the subscription's line (type
`.../vmFamily/usages`, id `.../locations/<loc>/usages/<name>`) is the quota; lines of type
`.../workspaces/usages` and `.../workspaces/computes/usages` (Azure also spells them `workspace/...`)
are that quota's breakdown by workspace and compute, with the same limit. Only the subscription's line
is the family's figure: taking a workspace's share as it would understate the quota
(docs/azure.md, limits: the subscription's 12 of 24 NC cores would read 6 of 24).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from decimal import Decimal
from typing import Any

from collector.azure.arm import list_all, url
from collector.azure.clients import AzureClients
from collector.sources import Dataset

log = logging.getLogger(__name__)

ML_PROVIDER = "Microsoft.MachineLearningServices"
COMPUTE_PROVIDER = "Microsoft.Compute"
FOUNDRY_PROVIDER = "Microsoft.CognitiveServices"
# One snapshot per family, region and subscription at each run's time.
DATASET = Dataset(
    job="quota",
    tables=("quota_snapshots",),
    key=("subscription_id", "location", "provider", "name", "taken_at"),
    window="a snapshot at each run's time",
)
API_VERSIONS = {ML_PROVIDER: "2025-09-01", COMPUTE_PROVIDER: "2025-04-01", FOUNDRY_PROVIDER: "2025-06-01"}


def region(name: str) -> str:
    """'East US 2' -> 'eastus2', the form the usages API takes."""
    return name.replace(" ", "").lower()


def parse_usage(item: dict[str, Any], provider: str) -> dict[str, Any] | None:
    name = item.get("name") if isinstance(item.get("name"), dict) else {}
    current, limit = item.get("currentValue"), item.get("limit")
    if not isinstance(name, dict) or not name.get("value") or not _is_int(current) or not _is_int(limit):
        return None
    assert current is not None and limit is not None
    return {
        "provider": provider,
        "name": str(name["value"]),
        "localized_name": str(name.get("localizedValue") or ""),
        "current_value": int(current),
        "limit_value": int(limit),
        "unit": str(item.get("unit") or ""),
    }


def _is_int(value: Any) -> bool:
    return isinstance(value, int | Decimal) and not isinstance(value, bool) and value == int(value)


def is_breakdown(item: dict[str, Any]) -> bool:
    """A workspace's or compute's share of a subscription's quota, not a quota of its own."""
    kind, item_id = str(item.get("type") or "").lower(), str(item.get("id") or "").lower()
    return "/workspace" in kind or "/workspaces/" in item_id


def usages(
    clients: AzureClients, subscription_id: str, location: str, providers: Iterable[str]
) -> Iterator[dict[str, Any]]:
    """The subscription-level usages of the providers in one region."""
    for provider in providers:
        api_version = API_VERSIONS[provider]
        path = f"/subscriptions/{subscription_id}/providers/{provider}/locations/{location}/usages"
        what = f"list {provider} usages in {subscription_id}/{location}"
        items = list_all(clients.resources, url(clients.settings.arm_endpoint, path, api_version), what)
        yield from subscription_usages(items, provider, what)


def subscription_usages(items: Iterable[dict[str, Any]], provider: str, what: str) -> list[dict[str, Any]]:
    """One row per name from a usages list: the subscription's lines, without the breakdown."""
    seen: dict[str, dict[str, Any]] = {}
    breakdown = 0
    for item in items:
        if is_breakdown(item):
            breakdown += 1
            continue
        row = parse_usage(item, provider)
        if row is None:
            log.warning("%s: skipped an item without name.value, currentValue and limit as integers: %r", what, item)
            continue
        first = seen.setdefault(row["name"], row)
        if first is not row:
            # Two subscription-level lines for one name: keep the first, never write both nor let the
            # second overwrite it unseen.
            log.warning(
                "%s: expected one subscription-level line per name, got %r twice (%s of %s, then %s of %s); "
                "kept the first",
                what,
                row["name"],
                first["current_value"],
                first["limit_value"],
                row["current_value"],
                row["limit_value"],
            )
    if breakdown:
        log.debug("%s: left out %d workspace and compute lines, a breakdown of the quota", what, breakdown)
    return list(seen.values())
