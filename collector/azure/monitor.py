"""Azure Monitor's metrics:getBatch, through the official `MetricsClient` (azure-monitor-querymetrics).

One call answers up to 50 resources of one subscription, region and resource type, where the per-resource
ARM metrics API takes one call each: a tenant with 1,500 serverless deployments makes 30 calls a run, not
1,500. The data plane is regional (https://<region>.metrics.monitor.azure.com), so there is one client per
region; against another ARM endpoint (the emulator, a proxy) that endpoint answers both.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta

from azure.monitor.querymetrics import MetricsClient, MetricsQueryResult

from collector.azure.arm import AzureCallError, azure_errors

BATCH_SIZE = 50  # resources per metrics:getBatch call, the API's limit
PUBLIC_ARM = "https://management.azure.com"


def endpoint_for(arm_endpoint: str, configured: str, region: str) -> str:
    """The data-plane endpoint of a region: `[metrics] batch_endpoint` with {region} filled in, else
    Azure's regional one for the public cloud, else the ARM endpoint itself."""
    if configured:
        return configured.format(region=region)
    if arm_endpoint.rstrip("/").lower() == PUBLIC_ARM:
        return f"https://{region}.metrics.monitor.azure.com"
    return arm_endpoint


def query_batch(
    client: MetricsClient,
    resource_ids: Sequence[str],
    namespace: str,
    metric_names: Sequence[str],
    start: datetime,
    end: datetime,
    filter: str | None = None,
    aggregation: str = "Total",
) -> list[MetricsQueryResult]:
    """One batch's per-minute values (their `aggregation`); AzureCallError (with Azure's status and
    code) on failure."""
    if not 1 <= len(resource_ids) <= BATCH_SIZE:
        raise ValueError(f"a batch holds 1 to {BATCH_SIZE} resources, got {len(resource_ids)}")
    what = f"metrics:getBatch of {len(resource_ids)} resource(s) from {resource_ids[0]} {start:%Y-%m-%dT%H:%MZ}"
    with azure_errors(what):
        results = client.query_resources(
            resource_ids=list(resource_ids),
            metric_namespace=namespace,
            metric_names=list(metric_names),
            timespan=(start, end),
            granularity=timedelta(minutes=1),
            aggregations=[aggregation],
            filter=filter,
        )
    if not isinstance(results, list):
        raise AzureCallError(f"{what}: expected a list of results, got {type(results).__name__}")
    return results
