"""Each deployment's peak tokens and requests per minute against its limits (and over time), Foundry
deployments with their own limits, what a million tokens costs per project, model and offer
(serverless, or a Foundry deployment type), pay-per-token against managed compute per model, and
provisioned throughput against Foundry standard."""

from __future__ import annotations

from collections import defaultdict
from datetime import date, timedelta
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

import altair as alt
import pandas as pd
import streamlit as st

from collector.runs import utcnow
from dashboard import access, queries
from dashboard.auth import DashboardSettings, Viewer
from dashboard.figures import (
    Comparison,
    ProvisionedComparison,
    TokenUsage,
    VmOffer,
    VmPrice,
    compare,
    compare_provisioned,
    measured_vm_prices,
    offer_label,
    token_usage,
    vm_cores,
)
from dashboard.ui import table

MEASURE_DAYS = 30  # how far back cost per token and VM prices are measured
COST_PER_HOUR_DAYS = 7


def render() -> None:
    viewer = access.guard()
    st.title("Deployments")
    hours = st.select_slider("Window", options=[1, 6, 24, 72, 168, 336], value=24, format_func=lambda h: f"{h} h")
    frame = queries.deployments_frame(hours, viewer.scope)
    project = st.query_params.get("project")
    if project and not viewer.may_see(project):
        st.warning(f"You cannot see project {project}.")
        frame = frame.iloc[0:0]
    elif project:
        st.caption(f"Project {project} (from the link); remove `?project=` from the URL to see every project.")
        frame = frame[frame["project"] == project] if not frame.empty else frame
    if frame.empty:
        st.info("No deployments yet: run `costwatch collect`.")
        return
    _, as_of = queries.data_span()
    headroom, per_token, versus = st.tabs(["Headroom", "Cost per million tokens", "Compare offers"])
    with headroom:
        _headroom(frame, hours, viewer, as_of)
    usage = _usage(viewer, as_of, project)
    with per_token:
        _per_token(usage, as_of)
    with versus:
        _versus(usage, viewer, as_of, project)


# --- headroom ---------------------------------------------------------------------------------


def _headroom(frame: pd.DataFrame, hours: int, viewer: Viewer, as_of: date | None) -> None:
    serverless = frame[frame["kind"] == "serverless"]
    if not serverless.empty:
        # A deployment without metrics from Azure Monitor has no peaks (None): its share stays empty.
        serverless = _with_shares(serverless)
        st.subheader("Serverless (pay as you go)")
        st.caption(
            f"Busiest minute in the last {hours} h against the deployment's limits; minutes near a limit are "
            "counted per whole hour."
        )
        names = {
            "peak_tpm": "peak TPM",
            "tpm_limit": "TPM limit",
            "peak_rpm": "peak RPM",
            "rpm_limit": "RPM limit",
            "minutes_near_tpm": "minutes near TPM limit",
            "minutes_near_rpm": "minutes near RPM limit",
        }
        shown = serverless[["project", "deployment", "model", "status", *names, "TPM used %", "RPM used %", "traffic"]]
        shown = shown.rename(columns=names)[
            [
                "project",
                "deployment",
                "model",
                "status",
                "peak TPM",
                "TPM limit",
                "TPM used %",
                "peak RPM",
                "RPM limit",
                "RPM used %",
                "minutes near TPM limit",
                "minutes near RPM limit",
                "traffic",
            ]
        ]
        table(
            shown,
            key="headroom",
            file_name=f"headroom-{hours}h",
            money=(),
            column_config={
                "TPM used %": _percent(),
                "RPM used %": _percent(),
                **_counts("peak TPM", "TPM limit"),
            },
        )
        _over_time(serverless, hours, viewer)
    _foundry(frame[frame["kind"] == "foundry"], hours, as_of)
    managed = frame[frame["kind"] == "managed"]
    if not managed.empty:
        st.subheader("Managed compute")
        table(
            _managed_costs(viewer, as_of),
            key="managed",
            file_name="managed-compute",
            money=(),
            column_config={"cost per hour": _unit("cost per hour")},
        )


def _with_shares(frame: pd.DataFrame) -> pd.DataFrame:
    """The peaks as shares of the limits; empty where a peak (no metrics) or a limit (not stated) is missing."""
    frame = frame.copy()
    for share, peak, limit in (("TPM used %", "peak_tpm", "tpm_limit"), ("RPM used %", "peak_rpm", "rpm_limit")):
        frame[share] = pd.to_numeric(frame[peak]) / pd.to_numeric(frame[limit]) * 100
    return frame


def _foundry(foundry: pd.DataFrame, hours: int, as_of: date | None) -> None:
    """Foundry deployments: their type and capacity, their busiest minute against their own limits, and
    what they cost."""
    if foundry.empty:
        return
    st.subheader("Foundry (billed by Microsoft on the Foundry resource)")
    first = None if as_of is None else as_of - timedelta(days=MEASURE_DAYS - 1)
    st.caption(
        f"Busiest minute in the last {hours} h against each deployment's own limits, from its capacity "
        "(thousands of TPM, or PTUs) and the rateLimits Azure states; a provisioned deployment states requests "
        "only, and its headroom is its PTU utilization: Azure throttles at 100%. Their regional quota is on the "
        f"Quota page. Cost: {MEASURE_DAYS} days to {as_of}, the resource's meters of the deployment's model and "
        "type (a provisioned type's PTU hours); the bill names no deployment, so deployments of one model and "
        "type on one resource share one figure."
    )
    costs = {} if first is None or as_of is None else queries.foundry_costs(first, as_of)
    foundry = _with_shares(foundry)
    cost_of = [costs.get(r.lower()) for r in foundry["resource_id"]]
    foundry["cost"] = [next(iter(c.costs.values())) if c and len(c.costs) == 1 else None for c in cost_of]
    foundry["currency"] = [", ".join(sorted(c.costs)) if c else "" for c in cost_of]
    foundry["cost shared with"] = [", ".join(c.shared_with) if c else "" for c in cost_of]
    foundry["peak_utilization_pct"] = pd.to_numeric(foundry["peak_utilization_pct"])  # a bar, not exact money
    names = {
        "sku": "deployment type",
        "peak_tpm": "peak TPM",
        "tpm_limit": "TPM limit",
        "peak_rpm": "peak RPM",
        "rpm_limit": "RPM limit",
        "peak_utilization_pct": "peak PTU utilization %",
        "minutes_near_utilization": "minutes near full PTUs",
    }
    shown = foundry.rename(columns=names)[
        [
            "project",
            "resource",
            "deployment",
            "model",
            "status",
            "deployment type",
            "capacity",
            "peak TPM",
            "TPM limit",
            "TPM used %",
            "peak RPM",
            "RPM limit",
            "RPM used %",
            "peak PTU utilization %",
            "minutes near full PTUs",
            "cost",
            "currency",
            "cost shared with",
        ]
    ]
    table(
        shown,
        key="foundry",
        file_name=f"foundry-deployments-{hours}h",
        column_config={
            "TPM used %": _percent(),
            "RPM used %": _percent(),
            "peak PTU utilization %": _percent(),
            **_counts("capacity", "peak TPM", "TPM limit", "peak RPM", "RPM limit"),
        },
    )


def _over_time(serverless: pd.DataFrame, hours: int, viewer: Viewer) -> None:
    labels = [f"{r.project} / {r.deployment}" for r in serverless.itertuples(index=False)]
    busiest = serverless["TPM used %"].fillna(0).to_numpy().argmax() if len(serverless) else 0
    picked = st.selectbox("Peak per minute over time, hourly", labels, index=int(busiest), key="deployment_chart")
    if picked is None:
        return
    row = serverless.iloc[labels.index(picked)]
    first_hour = (utcnow() - timedelta(hours=max(hours, 24))).replace(minute=0, second=0, microsecond=0)
    series = queries.traffic_hours_frame(str(row["deployment"]), str(row["project"]), first_hour, viewer.scope)
    if series.empty:
        st.caption("No traffic collected for it in this window.")
        return
    left, right = st.columns(2)
    for column, field, limit, title in (
        (left, "peak_tpm", row["tpm_limit"], "tokens per minute"),
        (right, "peak_rpm", row["rpm_limit"], "requests per minute"),
    ):
        line = (
            alt.Chart(series)
            .mark_line()
            .encode(
                x=alt.X("hour:T", title=None),
                y=alt.Y(f"{field}:Q", title=f"peak {title}"),
                tooltip=["hour:T", alt.Tooltip(f"{field}:Q", format=",")],
            )
        )
        rule = alt.Chart(pd.DataFrame({"limit": [int(limit)]})).mark_rule(strokeDash=[6, 4]).encode(y="limit:Q")
        column.altair_chart((line + rule).properties(height=220), width="stretch")
    st.caption("Dashed: the limit. Each point is the busiest minute of an hour.")


def _managed_costs(viewer: Viewer, as_of: date | None) -> pd.DataFrame:
    managed = queries.managed_frame(viewer.scope)
    if as_of is not None and not managed.empty:
        spend = queries.resource_spend(
            as_of - timedelta(days=COST_PER_HOUR_DAYS - 1), as_of, tuple(sorted(set(managed["endpoint"]))), viewer.scope
        )
    else:
        spend = pd.DataFrame(columns=["resource", "day", "currency", "cost"])
    costs: dict[str, tuple[Decimal, int, str]] = {}
    for (resource, currency), part in spend.groupby(["resource", "currency"]):
        costs[str(resource)] = (sum(part["cost"], Decimal(0)), part["day"].nunique(), str(currency))
    rows = []
    for r in managed.itertuples(index=False):
        cores = vm_cores(r.instance_type)
        cost, days, currency = costs.get(r.endpoint, (None, 0, ""))
        rows.append(
            {
                "project": r.project,
                "deployment": r.deployment,
                "model": r.model,
                "VM size": r.instance_type,
                "instances": r.instance_count,
                "cores": None if cores is None or r.instance_count is None else cores * r.instance_count,
                "cost per hour": None if cost is None or not days else _q(cost / (days * 24)),
                "currency": currency,
                "measured over": f"{days} day(s)" if days else "no spend yet",
            }
        )
    frame = pd.DataFrame(rows)
    st.caption(
        f"Cost per hour: the endpoint's spend over its last {COST_PER_HOUR_DAYS} days with data / their hours "
        "(all its meters). Cores from the VM size's name x instances."
    )
    return frame


def _q(value: Decimal | None) -> Decimal | None:
    """A derived figure (a quotient, not a sum) to four decimals: exact enough, and a readable CSV."""
    return None if value is None else value.quantize(Decimal("0.0001"), ROUND_HALF_UP)


def _counts(*labels: str) -> dict[str, Any]:
    return {label: st.column_config.NumberColumn(label, format="localized") for label in labels}


def _unit(label: str) -> Any:
    return st.column_config.NumberColumn(label, format="%.4f")


def _percent() -> Any:
    return st.column_config.ProgressColumn(min_value=0, max_value=100, format="%.0f%%")


# --- cost per million tokens ------------------------------------------------------------------


def _usage(viewer: Viewer, as_of: date | None, project: str | None) -> list[TokenUsage]:
    if as_of is None:
        return []
    first = as_of - timedelta(days=MEASURE_DAYS - 1)
    usage = token_usage(
        queries.traffic_days(first, viewer.scope), queries.token_spend_days(first, as_of, viewer.scope), as_of
    )
    return [u for u in usage if not project or u.project == project]


def _per_token(usage: list[TokenUsage], as_of: date | None) -> None:
    st.caption(
        f"Spend / the tokens served, over the whole UTC days (up to {MEASURE_DAYS}, to {as_of}) that have both a "
        "complete day of traffic and cost data. Serverless: the project's SaaS resource for the model, which its "
        "deployments of that model share. Foundry: the resource's meters of the model and deployment type (a "
        "provisioned type's PTU hours, whatever the traffic)."
    )
    if not usage:
        st.info("No traffic collected yet: `costwatch collect --only metrics` (or `costwatch schedule`).")
        return
    frame = pd.DataFrame(
        [
            {
                "project": u.project,
                "model": u.model,
                "offer": offer_label(u.offer),
                "deployments": ", ".join(u.deployments),
                "days": len(u.days),
                "input tokens": u.input_tokens,
                "output tokens": u.output_tokens,
                "tokens": u.total_tokens,
                "cost": u.cost,
                "currency": u.currency or "",
                "per million tokens": _q(u.cost_per_million),
                "note": u.note,
            }
            for u in usage
        ]
    )
    table(
        frame,
        key="per_token",
        file_name=f"cost-per-million-tokens-{as_of}",
        column_config={
            "per million tokens": _unit("per million tokens"),
            **_counts("input tokens", "output tokens", "tokens"),
        },
    )


# --- compare offers: pay per token against managed, provisioned against standard ---------------


def _offers(cfg: DashboardSettings, managed: pd.DataFrame) -> dict[str, VmOffer]:
    """model (lower-case) -> the VMs that would carry it: settings first, else its managed deployment."""
    offers: dict[str, VmOffer] = {}
    for r in managed.itertuples(index=False):
        if r.instance_type and r.model.lower() not in offers:
            offers[r.model.lower()] = VmOffer(
                r.instance_type,
                int(r.instance_count or 1),
                None,
                f"as {r.project}'s managed deployment {r.deployment} runs it",
            )
    for model, option in cfg.managed_options.items():
        offers[model.lower()] = VmOffer(
            option.vm_size, option.instances, option.tpm_per_instance, "[dashboard.managed_options] in the settings"
        )
    return offers


def _prices(cfg: DashboardSettings, viewer: Viewer, managed: pd.DataFrame, first: date, as_of: date) -> Any:
    sizes: dict[str, set[str]] = defaultdict(set)
    for r in managed.itertuples(index=False):
        sizes[r.endpoint].add(r.instance_type)
    single = {endpoint: next(iter(s)) for endpoint, s in sizes.items() if len(s) == 1}
    measured = measured_vm_prices(
        ((res, cur, cost, hours) for res, cur, cost, hours, _ in queries.vm_hours(first, as_of, viewer.scope)), single
    )

    def price(size: str, currency: str) -> VmPrice | None:
        configured = cfg.vm_price(size)
        if configured is not None:
            return VmPrice(configured, cfg.vm_price_currency, "[dashboard] vm_hourly_prices in the settings")
        found = measured.get((size.lower(), currency))
        if found is not None:
            return found
        other = next((p for (s, _), p in measured.items() if s == size.lower()), None)
        return other  # in another currency: compare() says so

    return price


def _versus(usage: list[TokenUsage], viewer: Viewer, as_of: date | None, project: str | None) -> None:
    st.caption(
        "For each model and pay-per-token offer (serverless, Foundry standard): what its measured traffic costs, "
        "against running managed-compute VMs that could carry it 24x7; and each provisioned Foundry use against "
        "the same tokens on Foundry standard. Each with the traffic at which both cost the same. Every assumption "
        "is listed; where a VM or a price is unknown, the comparison says so instead of guessing."
    )
    if as_of is None or not usage:
        st.info("Nothing to compare yet: it needs traffic and spend for whole days.")
        return
    _versus_managed([u for u in usage if not u.provisioned], viewer, as_of)
    provisioned = [u for u in usage if u.provisioned]
    if provisioned:
        _versus_standard([compare_provisioned(u, usage) for u in provisioned], as_of)


def _breakeven(c: Comparison | ProvisionedComparison) -> dict[str, Any]:
    """A comparison's break-even and verdict columns."""
    tokens = c.breakeven_tokens_per_day
    return {
        "break-even tokens per day": None if tokens is None else int(tokens),
        "break-even / today": None if c.breakeven_multiple is None else float(c.breakeven_multiple),
        "verdict": c.verdict,
    }


def _breakeven_columns() -> dict[str, Any]:
    return {
        **_counts("tokens per day", "break-even tokens per day"),
        "break-even / today": st.column_config.NumberColumn(format="%.1fx"),
        "verdict": st.column_config.TextColumn(width="large"),
    }


def _versus_managed(usage: list[TokenUsage], viewer: Viewer, as_of: date) -> None:
    st.subheader("Pay per token against managed compute")
    cfg = access.dashboard_settings()
    managed = queries.managed_frame(viewer.scope)
    first = as_of - timedelta(days=MEASURE_DAYS - 1)
    offers = _offers(cfg, managed)
    price = _prices(cfg, viewer, managed, first, as_of)
    by_model: dict[tuple[str, str], list[TokenUsage]] = defaultdict(list)
    for u in usage:
        by_model[(u.model, u.offer)].append(u)
    results: list[Comparison] = []
    for (model, _), usages in sorted(by_model.items()):
        currencies = sorted({u.currency for u in usages if u.currency})
        if not currencies:
            results.append(compare(model, "", usages, None, None))
            continue
        offer = offers.get(model.lower())
        for currency in currencies:
            results.append(compare(model, currency, usages, offer, price(offer.vm_size, currency) if offer else None))
    summary = pd.DataFrame(
        [
            {
                "model": c.model,
                "offer": offer_label(c.offer),
                "currency": c.currency,
                "projects": ", ".join(c.projects),
                "days": c.days,
                "tokens per day": int(c.tokens_per_day),
                "per million tokens": _q(c.cost_per_million),
                "pay-per-token per month": _q(c.pay_per_month) if c.cost_per_million is not None else None,
                "VM": f"{c.instances} x {c.vm_size}" if c.vm_size else "",
                "managed per month": _q(c.vm_per_month),
                **_breakeven(c),
            }
            for c in results
        ]
    )
    table(
        summary,
        key="versus",
        file_name=f"pay-per-token-vs-managed-{as_of}",
        money=("pay-per-token per month", "managed per month"),
        column_config={
            "per million tokens": _unit("per million tokens"),
            **_breakeven_columns(),
        },
    )
    if not cfg.vm_hourly_prices:
        st.caption(
            "No VM prices in the settings: prices are measured from your own managed-compute bill where you run "
            "that VM size; add `[dashboard] vm_hourly_prices` for the others."
        )
    for c in results:
        with st.expander(f"{c.model}, {offer_label(c.offer)} ({c.currency or 'no spend'}): {c.verdict}"):
            for line in c.assumptions:
                st.markdown(f"- {line}")
            if c.vm_per_month is not None and c.cost_per_million is not None:
                _breakeven_chart(
                    c.currency,
                    c.tokens_per_day,
                    c.breakeven_tokens_per_day,
                    (offer_label(c.offer), c.cost_per_million / 1_000_000),
                    (f"{c.instances} x {c.vm_size}", c.vm_per_month),
                )


def _versus_standard(results: list[ProvisionedComparison], as_of: date) -> None:
    st.subheader("Provisioned throughput against Foundry standard")
    summary = pd.DataFrame(
        [
            {
                "project": c.project,
                "model": c.model,
                "offer": offer_label(c.offer),
                "currency": c.currency,
                "days": c.days,
                "tokens per day": int(c.tokens_per_day),
                "per million tokens": _q(c.cost_per_million),
                "provisioned per month": _q(c.provisioned_per_month) if c.cost_per_million is not None else None,
                "standard": c.standard_offer,
                "standard per million tokens": _q(c.standard_per_million),
                "standard per month": _q(c.standard_per_month),
                **_breakeven(c),
            }
            for c in results
        ]
    )
    table(
        summary,
        key="versus_standard",
        file_name=f"provisioned-vs-standard-{as_of}",
        money=("provisioned per month", "standard per month"),
        column_config={
            "per million tokens": _unit("per million tokens"),
            "standard per million tokens": _unit("standard per million tokens"),
            **_breakeven_columns(),
        },
    )
    for c in results:
        with st.expander(f"{c.project}, {c.model}, {offer_label(c.offer)}: {c.verdict}"):
            for line in c.assumptions:
                st.markdown(f"- {line}")
            if c.standard_per_million is not None:
                _breakeven_chart(
                    c.currency,
                    c.tokens_per_day,
                    c.breakeven_tokens_per_day,
                    (f"Foundry {c.standard_offer}", c.standard_per_million / 1_000_000),
                    (offer_label(c.offer), c.provisioned_per_month),
                )


def _breakeven_chart(
    currency: str,
    tokens_per_day: Decimal,
    breakeven: Decimal | None,
    linear: tuple[str, Decimal],
    flat: tuple[str, Decimal],
) -> None:
    """Monthly cost against traffic: a pay-per-token offer (label, price per token) grows with it, a
    fixed one (label, cost a month: VMs, PTUs) stays flat."""
    top = float(max(tokens_per_day * 3, (breakeven or Decimal(0)) * Decimal("1.5")))
    month = 730 / 24
    points = [top * i / 20 for i in range(21)]
    data = pd.DataFrame(
        [{"tokens per day": x, "option": linear[0], "per month": x * float(linear[1]) * month} for x in points]
        + [{"tokens per day": x, "option": flat[0], "per month": float(flat[1])} for x in points]
    )
    lines = (
        alt.Chart(data)
        .mark_line()
        .encode(
            x=alt.X("tokens per day:Q", axis=alt.Axis(format="~s")),
            y=alt.Y("per month:Q", title=f"per month ({currency})"),
            color=alt.Color("option:N", title=None),
            tooltip=[
                alt.Tooltip("tokens per day:Q", format=",.0f"),
                "option:N",
                alt.Tooltip("per month:Q", format=",.2f"),
            ],
        )
    )
    today = (
        alt.Chart(pd.DataFrame({"x": [float(tokens_per_day)], "label": ["today"]}))
        .mark_rule(strokeDash=[4, 4])
        .encode(x="x:Q", tooltip=["label:N"])
    )
    st.altair_chart((lines + today).properties(height=240), width="stretch")
    st.caption("Dashed: today's traffic.")
