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
