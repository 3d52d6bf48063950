"""Quota from Azure's usages examples: the subscription's line is the family's figure."""

from __future__ import annotations

from pathlib import Path

from collector.sources.quota import COMPUTE_PROVIDER, ML_PROVIDER, subscription_usages
from tests.contract.conftest import spec_body

NC = "Standard NC Family Cluster Dedicated vCPUs"


def test_ml_usages_keep_the_subscription_figure_not_a_workspace_share(contract: Path) -> None:
    # Source: Azure/azure-rest-api-specs, Microsoft.MachineLearningServices/stable/2025-09-01/examples/
    # Usage/list.json (README of ../shared/azure-contract). NC is listed at the subscription (12 of 24),
    # then per workspace (6, 6) and per compute (6, 6), spelled both `workspaces/` and `workspace/`.
    items = spec_body(contract / "ml", "spec_2025-09-01_Usage_list.json")["value"]
    rows = {r["name"]: r for r in subscription_usages(items, ML_PROVIDER, "example")}
    assert (rows[NC]["current_value"], rows[NC]["limit_value"]) == (12, 24)
    assert (rows["Standard DSv2 Family Cluster Dedicated vCPUs"]["current_value"]) == 2
    assert rows["Standard NC Family Cluster LowPriority vCPUs"]["current_value"] == 18
    assert rows["Standard NC Family Cluster LowPriority vCPUs"]["limit_value"] == -1  # unlimited
    assert rows["Total Cluster Dedicated Regional vCPUs"]["current_value"] == 14
    assert len(rows) == len({i["name"]["value"] for i in items}) == 23  # one row per name, none lost


def test_compute_usages_examples(contract: Path) -> None:
    # Source: Microsoft.Compute/ComputeRP/stable/2025-04-01 Usage_List_{Maximum,Minimum}Set_Gen.json.
    maximum = spec_body(contract / "compute", "spec_2025-04-01_Usage_List_MaximumSet_Gen.json")["value"]
    rows = subscription_usages(maximum, COMPUTE_PROVIDER, "example")
    assert len(rows) == len(maximum) and all(isinstance(r["current_value"], int) for r in rows)
    # The minimum example's item has `name: {}`: skipped with a warning, never stored under "".
    minimum = spec_body(contract / "compute", "spec_2025-04-01_Usage_List_MinimumSet_Gen.json")["value"]
    assert subscription_usages(minimum, COMPUTE_PROVIDER, "example") == []
