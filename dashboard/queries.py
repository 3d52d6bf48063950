"""Cached, parameterised reads for the dashboard pages (never string-built SQL)."""

from __future__ import annotations

from datetime import date

import pandas as pd
import streamlit as st
from sqlalchemy import Engine, func, select
from sqlalchemy.orm import Session

from collector.db.engine import make_engine
from collector.db.models import CollectionRun, CostRow
from collector.settings import load_settings
from collector.spend import spend


@st.cache_resource
def engine() -> Engine:
    return make_engine(load_settings().database_url.get_secret_value())


@st.cache_data(ttl=300, max_entries=64)
def spend_frame(date_from: date, date_to: date, by: tuple[str, ...]) -> pd.DataFrame:
    with Session(engine()) as session:
        rows = spend(session, date_from, date_to, list(by))
    return pd.DataFrame(
        [{**r.keys, "cost": r.cost, "currency": r.currency, "estimated": r.estimated} for r in rows],
        columns=[*by, "cost", "currency", "estimated"],
    )


@st.cache_data(ttl=60, max_entries=4)
def freshness() -> dict[str, object]:
    with Session(engine()) as session:
        last = session.execute(
            select(CollectionRun.finished_at, CollectionRun.status)
            .where(CollectionRun.finished_at.is_not(None))
            .order_by(CollectionRun.id.desc())
            .limit(1)
        ).first()
        span = session.execute(select(func.min(CostRow.usage_date), func.max(CostRow.usage_date))).one()
    return {
        "last_run": last.finished_at if last else None,
        "last_status": last.status if last else None,
        "first_day": span[0],
        "last_day": span[1],
    }


@st.cache_data(ttl=60, max_entries=4)
def quota_frame() -> pd.DataFrame:
    from collector.quota import latest_quota

    with Session(engine()) as session:
        rows = latest_quota(session)
    return pd.DataFrame(
        [
            {
                "subscription": q.subscription_id,
                "region": q.location,
                "provider": q.provider.rsplit(".", 1)[-1],
                "family": q.localized_name or q.name,
                "current": q.current,
                "limit": "unlimited" if q.limit < 0 else q.limit,
                "percent": None if q.percent is None else float(q.percent),
                "as of": q.as_of,
            }
            for q in rows
        ],
        columns=["subscription", "region", "provider", "family", "current", "limit", "percent", "as of"],
    )


@st.cache_data(ttl=60, max_entries=16)
def deployments_frame(window_hours: int) -> pd.DataFrame:
    from datetime import timedelta

    from collector.runs import utcnow
    from collector.traffic import deployment_headroom

    with Session(engine()) as session:
        rows = deployment_headroom(session, load_settings(), timedelta(hours=window_hours), utcnow())
    return pd.DataFrame([vars(r) for r in rows])


@st.cache_data(ttl=30, max_entries=8)
def alerts_frame(state: str) -> pd.DataFrame:
    from collector.db.models import Alert

    query = select(Alert).order_by(Alert.state, Alert.severity, Alert.key)
    if state != "all":
        query = query.where(Alert.state == state)
    with Session(engine()) as session:
        rows = session.scalars(query).all()
    return pd.DataFrame(
        [
            {
                "severity": a.severity,
                "state": a.state,
                "rule": a.rule,
                "subject": a.subject,
                "message": a.message,
                "value": a.value,
                "threshold": a.threshold,
                "since": a.first_seen,
                "acknowledged": a.acknowledged_by or "",
                "key": a.key,
            }
            for a in rows
        ],
        columns=[
            "severity",
            "state",
            "rule",
            "subject",
            "message",
            "value",
            "threshold",
            "since",
            "acknowledged",
            "key",
        ],
    )


@st.cache_data(ttl=60, max_entries=4)
def marketplace_frame() -> pd.DataFrame:
    from collector.attribution import model_name
    from collector.db.models import MarketplaceSubscription, Workspace

    with Session(engine()) as session:
        rows = session.execute(
            select(MarketplaceSubscription, Workspace.name)
            .join(Workspace, Workspace.resource_id == MarketplaceSubscription.workspace_id, isouter=True)
            .order_by(Workspace.name, MarketplaceSubscription.name)
        ).all()
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
        ],
        columns=["project", "model", "offer", "plan", "status", "since"],
    )


@st.cache_data(ttl=60, max_entries=4)
def events_frame(days: int) -> pd.DataFrame:
    from datetime import timedelta

    from collector.db.models import InventoryEvent
    from collector.runs import utcnow

    with Session(engine()) as session:
        rows = session.scalars(
            select(InventoryEvent)
            .where(InventoryEvent.observed_at >= utcnow() - timedelta(days=days))
            .order_by(InventoryEvent.id.desc())
        ).all()
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
            for e in rows
        ],
        columns=["when", "what", "change", "from", "to", "resource"],
    )


@st.cache_data(ttl=30, max_entries=4)
def status_frame() -> pd.DataFrame:
    from collector.status import freshness

    with Session(engine()) as session:
        lines = freshness(session, load_settings())
    return pd.DataFrame(
        [
            {
                "job": f.job,
                "scope": f.scope or "(all)",
                "last success": f.last_success,
                "state": "STALE" if f.stale else "fresh",
                "last status": f.last_status,
                "error": (f.last_error or "")[:200],
            }
            for f in lines
        ],
        columns=["job", "scope", "last success", "state", "last status", "error"],
    )
