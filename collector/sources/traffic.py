"""Azure Monitor's traffic metrics: per-minute tokens and requests of serverless endpoints (one
resource each) and of Foundry deployments (their resource's metrics split by ModelDeploymentName),
fetched with metrics:getBatch or one GetMetric call per resource, and parsed into minutes. The
metrics job (collector/jobs/traffic.py) upserts and rolls them up."""

from __future__ import annotations

import logging
from collections import defaultdict
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from azure.core.rest import HttpRequest
from azure.monitor.querymetrics import MetricsQueryResult, TimeSeriesElement

from collector.azure.arm import AzureCallError, azure_errors, error_from, parse_json, url
from collector.azure.monitor import BATCH_SIZE, endpoint_for, query_batch
from collector.periods import floor_minute
from collector.runs import Run
from collector.settings import MetricSettings, Settings
from collector.sources import Dataset

log = logging.getLogger(__name__)

METRICS_API = "2024-02-01"
SERVERLESS_NAMESPACE = "Microsoft.MachineLearningServices/workspaces/serverlessEndpoints"
# A Foundry resource's metrics, one series per deployment (Learn: "Monitor Azure OpenAI", metrics of
# Microsoft.CognitiveServices/accounts split by the ModelDeploymentName dimension).
FOUNDRY_NAMESPACE = "Microsoft.CognitiveServices/accounts"
FOUNDRY_DIMENSION = "ModelDeploymentName"
FOUNDRY_SPLIT = f"{FOUNDRY_DIMENSION} eq '*'"
NO_METRICS = "no traffic metrics from Azure Monitor"
# The dataset's natural key; each run re-pulls the last `[metrics] overlap_minutes` (late minutes).
DATASET = Dataset(
    job="metrics",
    tables=("traffic_minutes",),
    key=("deployment_id", "minute"),
    window="from each deployment's last stored minute less [metrics] overlap_minutes (at first: first_lookback_hours)",
)
FIELDS = ("input_tokens", "output_tokens", "total_tokens", "requests")
MAX_SPAN = timedelta(hours=24)  # one metrics call covers at most a day of minutes
Minutes = dict[datetime, dict[str, int]]  # minute -> {field: total}
Utilization = dict[datetime, int]  # minute -> its maximum PTU utilization, in basis points
FULL_UTILIZATION = 10_000  # 100%: a provisioned deployment's calls are throttled (429)


@dataclass(frozen=True)
class MeteredDeployment:
    """A deployment whose traffic the metrics job collects, with the limits its hours are rolled up against."""

    resource_id: str
    model: str
    subscription_id: str
    region: str  # its workspace's or Foundry resource's, as metrics:getBatch groups resources by region
    tpm_limit: int | None
    rpm_limit: int | None
    # Foundry: the resource whose metrics hold it, and its name there (the ModelDeploymentName dimension)
    account_id: str = ""
    name: str = ""
    provisioned: bool = False  # PTUs: its headroom is its utilization, not tokens per minute


Window = tuple[MeteredDeployment, datetime, datetime]  # a deployment and the span its pull covers


def _iso(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_metrics(body: dict[str, Any], names: MetricSettings, what: str) -> dict[datetime, dict[str, int]]:
    """{minute: {field: total}} from a metrics answer; metrics map by name, never by position."""
    by_name = {getattr(names, f).lower(): f for f in FIELDS}
    minutes: dict[datetime, dict[str, int]] = defaultdict(lambda: dict.fromkeys(FIELDS, 0))
    values = body.get("value")
    if not isinstance(values, list):
        raise AzureCallError(f"{what}: expected a 'value' list of metrics, got keys {sorted(body)}")
    for metric in values:
        name = ((metric or {}).get("name") or {}).get("value", "") if isinstance(metric, dict) else ""
        field = by_name.get(str(name).lower())
        if field is None:
            log.warning("%s: ignored metric %r (expected one of %s)", what, name, sorted(by_name))
            continue
        for series in metric.get("timeseries") or []:
            for point in (series or {}).get("data") or []:
                stamp, total = point.get("timeStamp"), point.get("total")
                try:
                    minute = floor_minute(datetime.fromisoformat(str(stamp).replace("Z", "+00:00")))
                except ValueError:
                    log.warning("%s: skipped a point with timeStamp %r (expected ISO 8601)", what, stamp)
                    continue
                if total is None:
                    total = 0  # Azure leaves out 'total' for minutes without traffic
                if not isinstance(total, int | Decimal) or isinstance(total, bool):
                    log.warning("%s: skipped a point with total %r (expected a number)", what, total)
                    continue
                minutes[minute][field] += int(total)
    return dict(minutes)


def parse_batch(
    results: Sequence[MetricsQueryResult], resource_ids: Sequence[str], names: MetricSettings, what: str
) -> dict[str, Minutes]:
    """{resource ID: minutes} from a metrics:getBatch answer. A result is matched to its resource by its
    metrics' IDs ("<resource>/providers/Microsoft.Insights/metrics/<name>"), else by its position; an
    empty timeseries is a resource without traffic, not an error."""
    split, answered = _parse_results(results, resource_ids, names, what, "")
    return {owner: split.get((owner, ""), {}) for owner in answered}


def parse_split(
    results: Sequence[MetricsQueryResult],
    deployments: dict[str, dict[str, str]],
    names: MetricSettings,
    what: str,
) -> dict[str, Minutes]:
    """{deployment ID: minutes} from a getBatch answer of Foundry resources split by ModelDeploymentName:
    `deployments` maps each resource asked to {deployment name (lower-case): deployment ID}. Azure sends a
    series only for deployments with traffic: one without is idle; a resource the answer leaves out
    leaves its deployments out (an error of theirs). A series naming a deployment the inventory lacks is
    logged and left out."""
    split, answered = _parse_results(results, list(deployments), names, what, FOUNDRY_DIMENSION)
    out: dict[str, Minutes] = {}
    for owner in answered:
        for name, deployment_id in deployments[owner].items():
            out[deployment_id] = split.get((owner, name), {})
    for owner, name in sorted(set(split) - {(o, n) for o in answered for n in deployments[o]}):
        log.warning(
            "%s: ignored the traffic of deployment %r of %s (expected one of its deployments in the inventory: %s)",
            what,
            name,
            owner,
            ", ".join(sorted(deployments[owner])),
        )
    return out


def _parse_results(
    results: Sequence[MetricsQueryResult], resource_ids: Sequence[str], names: MetricSettings, what: str, dimension: str
) -> tuple[dict[tuple[str, str], Minutes], list[str]]:
    """The minutes per (resource, value of `dimension`, lower-case; '' when not split), and the
    resources answered."""
    by_name = {getattr(names, f).lower(): f for f in FIELDS}
    out: dict[tuple[str, str], Minutes] = {}
    answered: list[str] = []
    for owner, result in _owners(results, resource_ids, what):
        answered.append(owner)
        for metric in result.metrics:
            field = by_name.get(str(metric.name or "").lower())
            if field is None:
                log.warning("%s: ignored metric %r (expected one of %s)", what, metric.name, sorted(by_name))
                continue
            for series in metric.timeseries:
                value = _split_value(series, owner, dimension, what)
                if value is None:
                    continue
                minutes = out.setdefault((owner, value), defaultdict(lambda: dict.fromkeys(FIELDS, 0)))
                for point in series.data:
                    if point.timestamp is None:
                        log.warning("%s: skipped a point of %s without a timeStamp", what, owner)
                        continue
                    minutes[floor_minute(point.timestamp)][field] += int(point.total or 0)
    return {key: dict(minutes) for key, minutes in out.items()}, answered


def _owners(
    results: Sequence[MetricsQueryResult], resource_ids: Sequence[str], what: str
) -> Iterator[tuple[str, MetricsQueryResult]]:
    """Each result with the resource asked that it answers: by its metrics' IDs
    ("<resource>/providers/Microsoft.Insights/metrics/<name>"), else by its position."""
    wanted = {r.lower(): r for r in resource_ids}
    for index, result in enumerate(results):
        ids = {str(m.id or "").lower().split("/providers/microsoft.insights/metrics/")[0] for m in result.metrics}
        owner = next((wanted[i] for i in ids if i in wanted), None)
        if owner is None and not ids and len(results) == len(resource_ids):
            owner = resource_ids[index]
        if owner is None:
            log.warning("%s: ignored a result for %s (expected one of the %d resources asked)", what, ids, len(wanted))
            continue
        yield owner, result


def _split_value(series: TimeSeriesElement, owner: str, dimension: str, what: str) -> str | None:
    """The series' value of `dimension`, lower-case ('' when not split); None (logged) if it has none."""
    if not dimension:
        return ""
    found = {k.lower(): v for k, v in (series.metadata_values or {}).items()}.get(dimension.lower())
    if not found:
        log.warning("%s: skipped a series of %s without %s", what, owner, dimension)
        return None
    return str(found).lower()


def parse_utilization(
    results: Sequence[MetricsQueryResult], deployments: dict[str, dict[str, str]], name: str, what: str
) -> dict[str, Utilization]:
    """{deployment ID: {minute: basis points}} from a getBatch answer of the utilization metric split by
    ModelDeploymentName, aggregated by Maximum: each minute's busiest moment, the one that throttles.
    `deployments` maps each resource asked to {deployment name (lower-case): ID}; a deployment without
    a series had no utilization reported (idle): no minutes, not an error."""
    out: dict[str, Utilization] = {d: {} for held in deployments.values() for d in held.values()}
    for owner, result in _owners(results, list(deployments), what):
        for metric in result.metrics:
            if str(metric.name or "").lower() != name.lower():
                log.warning("%s: ignored metric %r (expected %s)", what, metric.name, name)
                continue
            for series in metric.timeseries:
                value = _split_value(series, owner, FOUNDRY_DIMENSION, what)
                deployment_id = deployments[owner].get(value or "")
                if deployment_id is None:
                    if value is not None:
                        log.warning(
                            "%s: ignored the utilization of %r of %s (expected a provisioned deployment of it: %s)",
                            what,
                            value,
                            owner,
                            ", ".join(sorted(deployments[owner])),
                        )
                    continue
                for point in series.data:
                    if point.maximum is None:
                        continue  # Azure leaves the value out of a minute it has none for
                    basis_points = _basis_points(point.maximum)
                    if point.timestamp is None or basis_points is None:
                        log.warning(
                            "%s: skipped a point of %s with timeStamp %r and maximum %r (expected a timeStamp "
                            "and a percentage)",
                            what,
                            deployment_id,
                            point.timestamp,
                            point.maximum,
                        )
                        continue
                    minute = floor_minute(point.timestamp)
                    out[deployment_id][minute] = max(out[deployment_id].get(minute, 0), basis_points)
    return out


def _basis_points(percent: Any) -> int | None:
    """97.125 (percent) -> 9713 basis points, half up; None for no value or not a number >= 0."""
    if not isinstance(percent, int | float | Decimal) or isinstance(percent, bool) or percent < 0:
        return None
    return int((Decimal(str(percent)) * 100).to_integral_value(ROUND_HALF_UP))


def _calls(
    members: dict[str, list[Window]],
) -> Iterator[tuple[datetime, datetime]]:
    """The spans of one batch's calls: its members' widest window, a day (MAX_SPAN) at a time."""
    cursor = min(s for held in members.values() for _, s, _ in held)
    end = max(e for held in members.values() for _, _, e in held)
    while cursor < end:
        stop = min(cursor + MAX_SPAN, end)
        yield cursor, stop
        cursor = stop


def _batches(
    run: Run, settings: Settings, windows: Iterable[Window]
) -> Iterator[tuple[bool, str, Any, dict[str, list[Window]]]]:
    """The getBatch calls' members: per subscription and region (and Foundry or not), at most 50
    resources a batch (a serverless deployment is a resource; Foundry deployments are their Foundry
    resource's), each with its region's client; (foundry, region, client, {resource: its windows})."""
    groups: dict[tuple[bool, str, str], dict[str, list[Window]]] = defaultdict(lambda: defaultdict(list))
    for window in windows:
        deployment = window[0]
        key = (bool(deployment.account_id), deployment.subscription_id, deployment.region)
        groups[key][deployment.account_id or deployment.resource_id].append(window)
    for (foundry, _subscription, region), by_resource in sorted(groups.items()):
        client = run.clients.metrics(endpoint_for(settings.arm_endpoint, settings.metrics.batch_endpoint, region))
        resources = sorted(by_resource)
        for first in range(0, len(resources), BATCH_SIZE):
            yield foundry, region, client, {r: by_resource[r] for r in resources[first : first + BATCH_SIZE]}


def fetch_utilization(
    run: Run, settings: Settings, windows: dict[str, Window]
) -> dict[str, Utilization | AzureCallError]:
    """The PTU utilization of the provisioned deployments in `windows`: one getBatch call per 50 Foundry
    resources of a subscription and region that hold one (and per day of window), split by deployment.
    A failed call is the error of each deployment it asked for."""
    name = settings.metrics.provisioned_utilization
    provisioned = [w for w in windows.values() if w[0].provisioned and w[0].account_id and name]
    out: dict[str, Utilization | AzureCallError] = {}
    for _foundry, region, client, members in _batches(run, settings, provisioned):
        split = {a: {d.name.lower(): d.resource_id for d, _, _ in held} for a, held in members.items()}
        found: dict[str, Utilization] = {d: {} for held in split.values() for d in held.values()}
        try:
            for cursor, stop in _calls(members):
                what = f"{name} by metrics:getBatch in {region} {_iso(cursor)}/{_iso(stop)}"
                results = query_batch(
                    client, list(members), FOUNDRY_NAMESPACE, [name], cursor, stop, FOUNDRY_SPLIT, "Maximum"
                )
                for deployment_id, minutes in parse_utilization(results, split, name, what).items():
                    found[deployment_id].update(minutes)
        except AzureCallError as exc:
            out.update(dict.fromkeys(found, exc))
            continue
        out.update(found)
    return out


def fetch_batches(run: Run, settings: Settings, windows: dict[str, Window]) -> dict[str, Minutes | AzureCallError]:
    """The minutes of every deployment in `windows` (id -> (deployment, start, end)) through
    metrics:getBatch: one call per 50 resources of a subscription and region (and per day of window),
    each spanning its members' windows; a failed call is the error of each of its members. A serverless
    deployment is a resource of its own; Foundry deployments are asked through their Foundry resource,
    split by ModelDeploymentName (one call covers 50 resources' deployments)."""
    out: dict[str, Minutes | AzureCallError] = {}
    for foundry, region, client, members in _batches(run, settings, windows.values()):
        out.update(_fetch_batch(client, settings, region, foundry, members))
    return out


def _fetch_batch(
    client: Any,
    settings: Settings,
    region: str,
    foundry: bool,
    members: dict[str, list[Window]],
) -> dict[str, Minutes | AzureCallError]:
    """One batch of at most 50 resources, a day of window per call."""
    ids = list(members)
    deployments = [d for held in members.values() for d, _, _ in held]
    names = [getattr(settings.metrics, f) for f in FIELDS]
    namespace = FOUNDRY_NAMESPACE if foundry else settings.metrics.namespace or SERVERLESS_NAMESPACE
    split = {r: {d.name.lower(): d.resource_id for d, _, _ in held} for r, held in members.items()}
    minutes: dict[str, Minutes] = {d.resource_id: {} for d in deployments}
    unanswered: dict[str, str] = {}
    try:
        for cursor, stop in _calls(members):
            what = f"metrics:getBatch in {region} {_iso(cursor)}/{_iso(stop)}"
            if foundry:
                results = query_batch(client, ids, namespace, names, cursor, stop, filter=FOUNDRY_SPLIT)
                answered = parse_split(results, split, settings.metrics, what)
            else:
                answered = parse_batch(
                    query_batch(client, ids, namespace, names, cursor, stop), ids, settings.metrics, what
                )
            for d in deployments:
                if d.resource_id in answered:
                    minutes[d.resource_id].update(answered[d.resource_id])
                else:
                    asked = d.account_id or d.resource_id
                    unanswered.setdefault(d.resource_id, f"{what}: expected a result for {asked}, got none")
    except AzureCallError as exc:
        return dict.fromkeys(minutes, exc)
    # A deployment the answer left out fails its scope (retried next run), never stored as idle.
    return {**minutes, **{i: AzureCallError(why) for i, why in unanswered.items()}}


def fetch_minutes(
    run: Run, settings: Settings, deployment_id: str, start: datetime, end: datetime
) -> dict[datetime, dict[str, int]]:
    """One deployment's minutes through the per-resource ARM metrics API (`[metrics] batch = false`)."""
    names = settings.metrics
    metricnames = ",".join(getattr(names, f) for f in FIELDS)
    out: dict[datetime, dict[str, int]] = {}
    cursor = start
    while cursor < end:
        stop = min(cursor + MAX_SPAN, end)
        what = f"metrics of {deployment_id} {_iso(cursor)}/{_iso(stop)}"
        link = url(
            run.clients.settings.arm_endpoint,
            f"{deployment_id}/providers/Microsoft.Insights/metrics",
            METRICS_API,
            timespan=f"{_iso(cursor)}/{_iso(stop)}",
            interval="PT1M",
            metricnames=metricnames,
            aggregation="total",
            **({"metricnamespace": names.namespace} if names.namespace else {}),
        )
        with azure_errors(what):
            response = run.clients.resources.send_request(HttpRequest("GET", link))
        if response.status_code != 200:
            raise error_from(response, what)
        out.update(parse_metrics(parse_json(response, what), names, what))
        cursor = stop
    return out


def metrics_unsupported(exc: AzureCallError) -> bool:
    """Azure Monitor's answer for a resource type or metric it has no metrics for: 400 with "Failed to
    find metric configuration for provider: ..." (quoted in Azure/azure-sdk-for-net#29584), or a code
    or message saying the type or metric is not supported."""
    text = str(exc).lower()
    return exc.status == 400 and (
        "failed to find metric configuration" in text or "notsupported" in exc.code.lower() or "not supported" in text
    )
