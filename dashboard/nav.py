"""The navigation: which pages a viewer gets, and the guard around each."""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from sqlalchemy.exc import DBAPIError
from streamlit.navigation.page import StreamlitPage

from collector.db.engine import SchemaOutOfDate, require_current_schema
from collector.db.faults import StoreError, store_error
from dashboard import access, queries
from dashboard.auth import Viewer
from dashboard.ui import PAGES_KEY
from dashboard.views import alerts, deployments, overview, quota, reports, spend, status, subscriptions

log = logging.getLogger(__name__)


def _everything_only(render: Callable[[], None]) -> Callable[[], None]:
    """Guard a page that knows nothing of project scopes: only for viewers who see every project."""

    def page() -> None:
        viewer = access.guard()
        if not viewer.sees_all:
            st.error("This page covers every project: finance and admins only.")
            return
        render()

    page.__name__ = getattr(render, "__name__", "page")
    return page


@dataclass(frozen=True)
class PageSpec:
    name: str  # its URL path
    title: str
    icon: str
    render: Callable[[], None]
    section: str


def page_specs(viewer: Viewer) -> list[PageSpec]:
    """The pages this viewer gets, in navigation order (the first is the default)."""
    specs = [
        PageSpec("overview", "Overview", ":material/dashboard:", overview.render, "Cost"),
        PageSpec("spend", "Spend", ":material/payments:", spend.render, "Cost"),
        PageSpec("deployments", "Deployments", ":material/speed:", deployments.render, "Capacity"),
        PageSpec("quota", "Quota", ":material/memory:", quota.render, "Capacity"),
        PageSpec("subscriptions", "Subscriptions", ":material/storefront:", subscriptions.render, "Operations"),
        PageSpec("alerts", "Alerts", ":material/notifications:", alerts.render, "Operations"),
    ]
    if viewer.may_see_status:
        specs.append(PageSpec("status", "Status", ":material/monitor_heart:", status.render, "Operations"))
    if viewer.sees_all:
        specs.append(
            PageSpec("reports", "Reports", ":material/description:", _everything_only(reports.render), "Operations")
        )
    return specs


def pages_for(viewer: Viewer) -> tuple[dict[str, list[StreamlitPage]], dict[str, StreamlitPage]]:
    """The navigation's sections, and each page by name (for links between pages)."""
    sections: dict[str, list[StreamlitPage]] = {}
    by_name: dict[str, StreamlitPage] = {}
    for i, spec in enumerate(page_specs(viewer)):
        if i == 0:
            # Streamlit serves the default page at "/" and reserves its url_path without serving it,
            # so its own path (a bookmark, a link in an alert) would say "Page not found": the
            # default page takes a path nobody links to, and a hidden twin answers at its own.
            page = st.Page(spec.render, title=spec.title, icon=spec.icon, url_path="home", default=True)
            twin = st.Page(spec.render, title=spec.title, icon=spec.icon, url_path=spec.name, visibility="hidden")
            sections.setdefault(spec.section, []).extend([page, twin])
        else:
            page = st.Page(spec.render, title=spec.title, icon=spec.icon, url_path=spec.name)
            sections.setdefault(spec.section, []).append(page)
        by_name[spec.name] = page
    return sections, by_name


def _gate() -> None:
    access.guard()


def main() -> None:
    viewer = access.viewer()
    if viewer.role is None:
        st.navigation([st.Page(_gate, title="Sign in", url_path="sign-in", default=True)], position="hidden").run()
        return
    sections, by_name = pages_for(viewer)
    st.session_state[PAGES_KEY] = by_name
    page = st.navigation(sections)
    access.sidebar(viewer)
    try:
        queries.check_store()
        page.run()
    except (StoreError, DBAPIError, SchemaOutOfDate) as exc:
        store_fault_page(exc)


def store_fault_page(exc: Exception) -> None:
    """In place of the page: the store cannot be read, said as `costwatch` says it (which store, what
    happened, what to do), never a traceback. Anything else is the dashboard's bug, raised on."""
    url = queries.store_url()
    error = exc if isinstance(exc, SchemaOutOfDate) else store_error(exc, url)
    if error is None:  # e.g. "no such table": the store is there but not at this costwatch's schema
        try:
            require_current_schema(queries.engine(), url)
        except SchemaOutOfDate as schema:
            error = schema
        except Exception:
            error = None
    if error is None:
        raise exc
    log.warning("dashboard: %s", error)
    st.title("The store is unreachable" if isinstance(error, StoreError) else "The store needs an upgrade")
    st.error(str(error), icon=":material/database_off:")
    st.caption("Nothing is shown rather than something stale or partial. Reload this page once the store answers.")
