"""Azure Monitor's metrics answers read by the traffic job: by name, with empty series as no traffic."""

from __future__ import annotations

import copy
from pathlib import Path

from azure.monitor.querymetrics import MetricsQueryResult

from collector.settings import MetricSettings
from collector.sources.traffic import parse_batch, parse_metrics, parse_utilization
from tests.contract.conftest import spec_body

# Source: Azure/azure-rest-api-specs, Microsoft.Insights/stable/2024-02-01/examples/GetMetric.json: a
# storage account's BlobCount, hourly, with average/minimum/maximum only (no `total`).
EXAMPLE = "spec_2024-02-01_GetMetric.json"
NAMES = MetricSettings(requests="BlobCount")  # the example's metric, read as if it were the requests


def test_points_without_a_total_and_empty_series_are_zero_traffic(contract: Path) -> None:
    body = spec_body(contract / "monitor", EXAMPLE)
    minutes = parse_metrics(body, NAMES, "example")
    assert minutes and all(
        m == {"input_tokens": 0, "output_tokens": 0, "total_tokens": 0, "requests": 0} for m in minutes.values()
    )
    empty = copy.deepcopy(body)
    for metric in empty["value"]:
        metric["timeseries"] = []  # as the SDK's recorded test_metrics_granularity answer has it
    assert parse_metrics(empty, NAMES, "example") == {}


def test_a_batch_answer_is_matched_to_its_resource_by_the_metric_ids(contract: Path) -> None:
    body = spec_body(contract / "monitor", EXAMPLE)
    resource = body["value"][0]["id"].split("/providers/Microsoft.Insights/metrics/")[0]
    start, end = body["timespan"].split("/")
    entry = {"starttime": start, "endtime": end, "interval": body["interval"], "value": body["value"]}
    for metric in entry["value"]:
        for series in metric["timeseries"]:
            for point in series["data"]:
                point["total"] = 3  # the token metrics' aggregation
    # An empty result (no metrics to name its resource) is matched by its position: the first asked.
    results = [MetricsQueryResult._from_generated(e) for e in ({"value": []}, entry)]  # the SDK's own parsing
    other = "/subscriptions/s/resourcegroups/rg/providers/x/y/other"
    found = parse_batch(results, [other, resource], NAMES, "example")
    assert found[other] == {}  # no traffic, not an error
    points = sum(len(s["data"]) for m in body["value"] if m["name"]["value"] == "BlobCount" for s in m["timeseries"])
    assert sum(m["requests"] for m in found[resource].values()) == 3 * points > 0


def test_utilization_is_each_minutes_maximum_per_deployment_in_basis_points(contract: Path) -> None:
    """The example is split by a dimension ("Tier eq '*'") and answers maximum: read as a Foundry
    resource's AzureOpenAIProvisionedManagedUtilizationV2 split by ModelDeploymentName, aggregated by
    Maximum (Learn, supported metrics of Microsoft.CognitiveServices/accounts: Percent, Average and
    Maximum, dimension ModelDeploymentName). Azure names the dimension lower-case in metadatavalues
    ("tier" for the filter's "Tier"), so the deployment's is matched whatever its case."""
    body = spec_body(contract / "monitor", EXAMPLE)
    resource = body["value"][0]["id"].split("/providers/Microsoft.Insights/metrics/")[0]
    start, end = body["timespan"].split("/")
    for metric in body["value"]:
        for series in metric["timeseries"]:
            for value in series["metadatavalues"]:
                value["name"] = {"value": "modeldeploymentname", "localizedValue": "modeldeploymentname"}
    entry = {"starttime": start, "endtime": end, "interval": body["interval"], "value": body["value"]}
    results = [MetricsQueryResult._from_generated(entry)]
    tiers = {
        str(v["value"]).lower(): [p["maximum"] for p in series["data"]]
        for m in body["value"]
        if m["name"]["value"] == "BlobCount"
        for series in m["timeseries"]
        for v in series["metadatavalues"]
    }
    asked = {resource: {tier: f"{resource}/deployments/{tier}" for tier in tiers}}
    found = parse_utilization(results, asked, "BlobCount", "example")  # BlobCapacity: another metric, ignored
    for tier, maxima in tiers.items():
        minutes = found[f"{resource}/deployments/{tier}"]
        assert sorted(minutes.values()) == sorted(round(m * 100) for m in maxima) and len(minutes) == len(maxima)
