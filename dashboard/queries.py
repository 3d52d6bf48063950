"""Cached, parameterised reads for the dashboard pages (never string-built SQL).

Every read that carries project data takes `scope`: None for a viewer who sees every project, else
the sorted lower-case project names the viewer may see (`dashboard.auth.Viewer.scope`). The scope is
applied here, before anything reaches a page, a chart or a download, and it is part of each cache
key, so one viewer's cached answer is never served to another. Spend figures come from
`collector.read.spend.spend` (the query behind `costwatch spend`), filtered and regrouped exactly.
"""

from __future__ import annotations

import functools
import os
from collections import defaultdict
from collections.abc import Collection
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal
from typing import Any

import pandas as pd
import streamlit as st
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from collector.attribution import UNATTRIBUTED, model_name
from collector.db.engine import make_engine, require_current_schema
from collector.foundry_models import meter_sku
from collector.read import costs as read_costs
from collector.read import inventory as read_inventory
from collector.read.alerts import alerts
from collector.read.budgets import ProjectKey, project_cost_centers
from collector.read.deployment_costs import DeploymentCost, foundry_deployment_costs
from collector.read.events import inventory_events
from collector.read.freshness import last_run
from collector.read.quota import quota_history as quota_history_of
from collector.read.spend import spend
from collector.runs import as_utc, utcnow
from collector.settings import ENV_PREFIX, Settings, load_settings
from dashboard.auth import alert_project, allowed
from dashboard.figures import SERVERLESS, TrafficDay, base_dimensions, pushed_filters, regroup

Scope = tuple[str, ...] | None
Filters = tuple[tuple[str, tuple[str, ...]], ...]

SPEND_COLUMNS = ["currency", "cost", "estimated"]


def settings() -> Settings:
    """The settings, parsed again only when the COSTWATCH_ environment or the settings file changed
    (a page asks for them a dozen times)."""
    env = tuple(sorted((k, v) for k, v in os.environ.items() if k.startswith(ENV_PREFIX)))
    path = os.environ.get(f"{ENV_PREFIX}CONFIG")
    stamp = os.stat(path).st_mtime_ns if path and os.path.isfile(path) else None
    return _settings(env, stamp)


@functools.lru_cache(maxsize=4)
def _settings(env: tuple[tuple[str, str], ...], config_stamp: int | None) -> Settings:
    return load_settings()


@st.cache_resource(max_entries=4)
def _engine(url: str) -> Engine:
    return make_engine(url)


def store_url() -> str:
    """The dashboard's store: `[dashboard] database_url` (a read-only role) if set, else the store's."""
    url = settings().dashboard.database_url or settings().database_url
    return url.get_secret_value()


def engine() -> Engine:
    """The dashboard's connection (see `store_url`)."""
    return _engine(store_url())


@st.cache_data(ttl=10, max_entries=4, show_spinner=False)
def _store_ready(url: str) -> bool:
    require_current_schema(_engine(url), url)
    return True


def check_store() -> None:
    """Raise the store's fault (unreachable, wrong schema...) before a page draws half of itself; a
    store that answered is not asked again for 10 s."""
    _store_ready(store_url())


def _session() -> Session:
    return Session(engine())


# --- spend ------------------------------------------------------------------------------------


@st.cache_data(ttl=60, max_entries=4)
def data_span() -> tuple[date | None, date | None]:
    """First and last day with cost data (the whole store: only dates, nothing per project)."""
    with _session() as session:
        return read_costs.data_span(session)


@st.cache_data(ttl=300, max_entries=4)
def cost_centers() -> dict[ProjectKey, str]:
    """(subscription, project) -> its cost center: the budget alert's rule (collector.read.budgets)."""
    with _session() as session:
        return project_cost_centers(session, settings().alerts.cost_center_tag)


@st.cache_data(ttl=300, max_entries=4)
def subscription_names() -> dict[str, str]:
    with _session() as session:
        return read_inventory.subscription_names(session)


def _spend_rows(
    date_from: date, date_to: date, by: tuple[str, ...], filters: Filters, scope: Scope
) -> list[dict[str, Any]]:
    dims = base_dimensions(by, [name for name, _ in filters], scope is not None)
    centers = cost_centers() if {"cost_center"} & {*by, *dict(filters)} else {}
    with _session() as session:
        rows = spend(session, date_from, date_to, dims, where=pushed_filters(filters, scope, centers))
    return regroup(rows, by, filters, scope, centers)


@st.cache_data(ttl=300, max_entries=128)
def spend_frame(date_from: date, date_to: date, by: tuple[str, ...], filters: Filters, scope: Scope) -> pd.DataFrame:
    """Exact spend per `by` and currency in [date_from, date_to], filtered, restricted to `scope`."""
    rows = _spend_rows(date_from, date_to, by, filters, scope)
    return pd.DataFrame(rows, columns=[*by, *SPEND_COLUMNS])


@st.cache_data(ttl=300, max_entries=32)
def filter_options(date_from: date, date_to: date, scope: Scope) -> dict[str, list[str]]:
    """The values each filter can take in the period, within the scope."""
    rows = _spend_rows(date_from, date_to, ("subscription", "project", "model", "cost_center"), (), scope)
    out: dict[str, set[str]] = defaultdict(set)
    for row in rows:
        for name in ("subscription", "project", "model", "cost_center", "currency"):
            if row[name]:
                out[name].add(str(row[name]))
    return {name: sorted(values) for name, values in out.items()}


@st.cache_data(ttl=300, max_entries=32)
def cost_rows_frame(resource: str, date_from: date, date_to: date, scope: Scope) -> pd.DataFrame:
    """The stored cost rows of one resource (as Azure last stated them), if its project is in scope."""
    with _session() as session:
        rows = read_costs.cost_rows(session, resource, date_from, date_to, scope)
    return pd.DataFrame(
        [
            {
                "day": r.usage_date,
                "meter": r.meter,
                "category": r.meter_category,
                "subcategory": r.meter_subcategory,
                "charge": r.charge_type,
                "quantity": r.quantity,
                "cost": r.cost,
                "currency": r.currency,
                "estimated": r.is_estimated,
                "run": r.run_id,
            }
            for r in rows
        ],
        columns=[
            "day",
            "meter",
            "category",
            "subcategory",
            "charge",
            "quantity",
            "cost",
            "currency",
            "estimated",
            "run",
        ],
    )


@st.cache_data(ttl=300, max_entries=16)
def unattributed_frame(date_from: date, date_to: date, scope: Scope) -> pd.DataFrame:
    """AI spend no project could be given, per resource, with the attribution's reason. Unattributed
    spend belongs to no project, so only viewers who see every project get it."""
    columns = ["resource", "subscription", "model", "currency", "cost", "estimated", "rule", "why"]
    if scope is not None:
        return pd.DataFrame(columns=columns)
    with _session() as session:
        rows = spend(
            session, date_from, date_to, ["subscription", "model", "resource"], where={"project": [UNATTRIBUTED]}
        )
        reasons = read_costs.attribution_reasons(session, {r.keys["resource"] for r in rows})
    return pd.DataFrame(
        [
            {
                "resource": r.keys["resource"],
                "subscription": r.keys["subscription"],
                "model": r.keys["model"],
                "currency": r.currency,
                "cost": r.cost,
                "estimated": r.estimated,
                "rule": reasons.get(r.keys["resource"], ("not attributed yet", ""))[0],
                "why": reasons.get(r.keys["resource"], ("", "the next `costwatch collect` attributes it"))[1],
            }
            for r in rows
        ],
        columns=columns,
    )


# --- collection -------------------------------------------------------------------------------


@st.cache_data(ttl=60, max_entries=4)
def freshness() -> dict[str, object]:
    with _session() as session:
        finished, status = last_run(session)
    first_day, last_day = data_span()
    return {
        "last_run": finished,
        "last_status": status,
        "first_day": first_day,
        "last_day": last_day,
    }


@st.cache_data(ttl=30, max_entries=4)
def status_frame(with_scopes: bool = True) -> pd.DataFrame:
    """When each job (and, with_scopes, each scope) last succeeded. Scope lines name subscriptions and
    resources and carry their errors: pages show them only to viewers who see everything."""
    from collector.read.freshness import freshness as job_freshness

    with _session() as session:
        lines = job_freshness(session, settings())
    return pd.DataFrame(
        [
            {
                "job": f.job,
                "scope": f.scope or "(all)",
                "last success": f.last_success,
                "age": _age(f.age),
                "state": "STALE" if f.stale else "fresh",
                "last status": f.last_status,
                "error": (f.last_error or "")[:200],
            }
            for f in lines
            if with_scopes or not f.scope
        ],
        columns=["job", "scope", "last success", "age", "state", "last status", "error"],
    )


def _age(age: timedelta | None) -> str:
    if age is None:
        return "never"
    minutes = int(age.total_seconds() // 60)
    return f"{minutes} min" if minutes < 120 else f"{minutes // 60} h" if minutes < 48 * 60 else f"{minutes // 1440} d"


# --- quota ------------------------------------------------------------------------------------


@st.cache_data(ttl=300, max_entries=16)
def project_places(scope: Scope) -> list[tuple[str, str]]:
    """(subscription, region) of the projects in scope: where a project owner's quota lives."""
    with _session() as session:
        places = read_inventory.project_places(session)
    return sorted({(subscription, region) for project, subscription, region in places if allowed(scope, project)})


def _places(scope: Scope) -> set[tuple[str, str]] | None:
    return None if scope is None else set(project_places(scope))


def _in(places: set[tuple[str, str]] | None, subscription: str, region: str) -> bool:
    return places is None or (subscription, region.lower()) in places


@st.cache_data(ttl=60, max_entries=16)
def quota_frame(scope: Scope) -> pd.DataFrame:
    """The latest usage per quota line (VM cores, Foundry capacity); a project owner sees their
    projects' subscriptions and regions."""
    from collector.read.quota import latest_quota, measure

    with _session() as session:
        rows = latest_quota(session)
    places = _places(scope)
    return pd.DataFrame(
        [
            {
                "subscription": q.subscription_id,
                "region": q.location,
                "provider": q.provider.rsplit(".", 1)[-1],
                "family": q.localized_name or q.name,
                "current": q.current,
                "limit": "unlimited" if q.limit < 0 else str(q.limit),
                "percent": None if q.percent is None else float(q.percent),
                "as of": q.as_of,
                "name": q.name,
                "provider_id": q.provider,
                "unit_label": measure(q.provider, q.name),
            }
            for q in rows
            if _in(places, q.subscription_id, q.location)
        ],
        columns=[
            "subscription",
            "region",
            "provider",
            "family",
            "current",
            "limit",
            "percent",
            "as of",
            "name",
            "provider_id",
            "unit_label",
        ],
    )


@st.cache_data(ttl=60, max_entries=32)
def quota_history(subscription: str, region: str, provider: str, name: str, days: int, scope: Scope) -> pd.DataFrame:
    """Every snapshot of one family in the last `days` days."""
    columns = ["taken_at", "current", "limit"]
    if not _in(_places(scope), subscription, region):
        return pd.DataFrame(columns=columns)
    with _session() as session:
        rows = quota_history_of(session, subscription, region, provider, name, utcnow() - timedelta(days=days))
    return pd.DataFrame([dict(zip(columns, row, strict=True)) for row in rows], columns=columns)


# --- deployments and traffic ------------------------------------------------------------------


@st.cache_data(ttl=60, max_entries=16)
def deployments_frame(window_hours: int, scope: Scope) -> pd.DataFrame:
    from collector.read.headroom import deployment_headroom

    with _session() as session:
        rows = deployment_headroom(session, settings(), timedelta(hours=window_hours), utcnow())
    return pd.DataFrame([vars(r) for r in rows if allowed(scope, r.project)])


@st.cache_data(ttl=300, max_entries=16)
def foundry_costs(date_from: date, date_to: date) -> dict[str, DeploymentCost]:
    """Deployment resource ID (lower-case) -> what that Foundry deployment cost (the page shows only
    the deployments of the viewer's scope: deployments_frame)."""
    with _session() as session:
        return foundry_deployment_costs(session, date_from, date_to)


@st.cache_data(ttl=300, max_entries=16)
def traffic_days(first_day: date, scope: Scope) -> list[TrafficDay]:
    """Serverless and Foundry traffic per deployment and UTC day since first_day, from the hourly
    rollups; a Foundry deployment's offer is its type (sku.name), its project its resource's."""
    deployments = {}
    with _session() as session:
        for d, project in read_inventory.deployments(session, scope, kind="serverless"):
            deployments[d.resource_id] = (d.name, project, model_name(d.model_id), SERVERLESS)
        for d, project in read_inventory.foundry_deployments(session, scope):
            deployments[d.resource_id] = (d.name, project, model_name(d.model_id), d.sku_name)
        since = datetime.combine(first_day, datetime.min.time(), tzinfo=UTC)
        hours = read_inventory.traffic_hours(session, deployments, since)
        days: dict[tuple[str, date], list[int]] = {}
        for h in hours:
            slot = days.setdefault((h.deployment_id, as_utc(h.hour).date()), [0, 0, 0, 0, 0, 0])
            for i, value in enumerate((h.input_tokens, h.output_tokens, h.total_tokens, h.requests, h.minutes)):
                slot[i] += value
            slot[5] = max(slot[5], h.peak_tpm)
    out = []
    for (deployment_id, day), (i, o, total, requests, minutes, peak) in sorted(days.items()):
        name, project, model, offer = deployments[deployment_id]
        out.append(TrafficDay(name, project, model, day, i, o, total, requests, minutes, peak, offer))
    return out


@st.cache_data(ttl=60, max_entries=32)
def traffic_hours_frame(deployment: str, project: str, first_hour: datetime, scope: Scope) -> pd.DataFrame:
    """Hourly peak tokens and requests per minute of one serverless deployment."""
    columns = ["hour", "peak_tpm", "peak_rpm", "total_tokens", "requests", "minutes_near_tpm", "minutes_at_limit"]
    if not allowed(scope, project):
        return pd.DataFrame(columns=columns)
    with _session() as session:
        ids = [d.resource_id for d, p in read_inventory.deployments(session, scope, name=deployment) if p == project]
        rows = sorted(read_inventory.traffic_hours(session, ids, first_hour), key=lambda h: h.hour)
    return pd.DataFrame(
        [
            {
                "hour": as_utc(h.hour),
                "peak_tpm": h.peak_tpm,
                "peak_rpm": h.peak_rpm,
                "total_tokens": h.total_tokens,
                "requests": h.requests,
                "minutes_near_tpm": h.minutes_near_tpm,
                "minutes_at_limit": h.minutes_at_limit,
            }
            for h in rows
        ],
        columns=columns,
    )


@st.cache_data(ttl=300, max_entries=16)
def token_spend_days(
    date_from: date, date_to: date, scope: Scope
) -> dict[tuple[str, str, str, date], dict[str, Decimal]]:
    """(lower-case project, lower-case model, offer, day) -> {currency: cost}: serverless (SaaS) spend,
    and Foundry spend by the deployment type its meter names (a PTU meter's: the provisioned type)."""
    with _session() as session:
        rows = spend(session, date_from, date_to, ["project", "model", "spend_kind", "meter", "day"])
    out: dict[tuple[str, str, str, date], dict[str, Decimal]] = defaultdict(dict)
    for r in rows:
        kind = r.keys["spend_kind"]
        if kind not in ("marketplace", "foundry") or not allowed(scope, r.keys["project"]):
            continue
        offer = SERVERLESS if kind == "marketplace" else meter_sku(r.keys["meter"])
        key = (r.keys["project"].lower(), r.keys["model"].lower(), offer, r.keys["day"])
        out[key][r.currency] = out[key].get(r.currency, Decimal(0)) + r.cost
    return dict(out)


@st.cache_data(ttl=300, max_entries=16)
def managed_frame(scope: Scope) -> pd.DataFrame:
    """Current managed-compute deployments with their VM size, instances and endpoint."""
    columns = ["project", "deployment", "model", "endpoint", "instance_type", "instance_count"]
    with _session() as session:
        deployments = read_inventory.deployments(session, scope, kind="managed")
    return pd.DataFrame(
        [
            {
                "project": project,
                "deployment": d.name,
                "model": model_name(d.model_id),
                "endpoint": d.resource_id.lower().split("/deployments/")[0],
                "instance_type": d.instance_type,
                "instance_count": d.instance_count,
            }
            for d, project in deployments
            if d.removed_at is None
        ],
        columns=columns,
    )


@st.cache_data(ttl=300, max_entries=16)
def vm_hours(date_from: date, date_to: date, scope: Scope) -> list[tuple[str, str, Decimal, Decimal, int]]:
    """(managed resource, currency, cost, hours, days) of Virtual Machines meters: what an instance-hour
    costs on your own bill. Scoped like every read; prices measured in other projects are not shown."""
    with _session() as session:
        rows = read_costs.vm_hours(session, date_from, date_to)
    return [
        (resource, currency, cost, hours, days)
        for resource, project, currency, cost, hours, days in rows
        if allowed(scope, project)
    ]


@st.cache_data(ttl=300, max_entries=16)
def resource_spend(date_from: date, date_to: date, resources: tuple[str, ...], scope: Scope) -> pd.DataFrame:
    """Spend per resource, day and currency for the given resources (managed endpoints' cost per hour)."""
    where: dict[str, Collection[str]] = {"resource": resources}
    if scope is not None:
        where["project"] = scope
    with _session() as session:
        rows = spend(session, date_from, date_to, ["resource", "day"], where=where)
    return pd.DataFrame(
        [{"resource": r.keys["resource"], "day": r.keys["day"], "currency": r.currency, "cost": r.cost} for r in rows],
        columns=["resource", "day", "currency", "cost"],
    )


# --- alerts and inventory ---------------------------------------------------------------------


ALERT_COLUMNS = [
    "severity",
    "state",
    "rule",
    "subject",
    "message",
    "value",
    "threshold",
    "since",
    "acknowledged",
    "silenced until",
    "link",
    "project",
    "key",
]


@st.cache_data(ttl=30, max_entries=16)
def alerts_frame(state: str, scope: Scope) -> pd.DataFrame:
    """Alerts in a state; a project owner sees those about their projects (from the alert's link)."""
    with _session() as session:
        rows = alerts(session, state)
    out = []
    for a in rows:
        project = alert_project(a.link)
        if scope is not None and not allowed(scope, project):
            continue
        out.append(
            {
                "severity": a.severity,
                "state": a.state,
                "rule": a.rule,
                "subject": a.subject,
                "message": a.message,
                "value": a.value,
                "threshold": a.threshold,
                "since": as_utc(a.first_seen),
                "acknowledged": a.acknowledged_by or "",
                "silenced until": as_utc(a.silenced_until) if a.silenced_until else None,
                "link": a.link,
                "project": project or "",
                "key": a.key,
            }
        )
    return pd.DataFrame(out, columns=ALERT_COLUMNS)


@st.cache_data(ttl=60, max_entries=16)
def marketplace_frame(scope: Scope) -> pd.DataFrame:
    with _session() as session:
        rows = read_inventory.marketplace_subscriptions(session)
    return pd.DataFrame(
        [
            {
                "project": project,
                "model": model_name(m.model_id),
                "offer": m.offer_id,
                "plan": m.plan_id,
                "status": m.status + (" (gone)" if m.removed_at else ""),
                "since": m.first_seen,
            }
            for m, project in rows
            if allowed(scope, project)
        ],
        columns=["project", "model", "offer", "plan", "status", "since"],
    )


@st.cache_data(ttl=60, max_entries=16)
def events_frame(days: int, scope: Scope) -> pd.DataFrame:
    """Inventory changes; a project owner sees those of objects under their projects' workspaces and
    of the SaaS resources attributed to their projects."""
    with _session() as session:
        rows = inventory_events(session, utcnow() - timedelta(days=days))[::-1]  # newest first
        workspaces = (
            [] if scope is None else [w.lower() + "/" for w in read_inventory.project_workspace_ids(session, scope)]
        )
    return pd.DataFrame(
        [
            {
                "when": e.observed_at,
                "what": e.resource_type.replace("_", " "),
                "change": e.kind,
                "from": e.old_value,
                "to": e.new_value,
                "resource": e.resource_id,
            }
            for e, project in rows
            if scope is None
            or allowed(scope, project)
            or any((e.resource_id.lower() + "/").startswith(w) for w in workspaces)
        ],
        columns=["when", "what", "change", "from", "to", "resource"],
    )
