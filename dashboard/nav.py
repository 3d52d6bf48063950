"""The navigation: which pages a viewer gets, and the guard around each."""

from __future__ import annotations

import importlib
import importlib.util
import logging
from collections.abc import Callable
from dataclasses import dataclass

import streamlit as st
from streamlit.navigation.page import StreamlitPage

from dashboard import access
from dashboard.auth import Viewer
from dashboard.pages import alerts, deployments, overview, quota, spend, status, subscriptions
from dashboard.ui import PAGES_KEY

log = logging.getLogger(__name__)


def reports_render() -> Callable[[], None] | None:
    """`dashboard.pages.reports.render`, once that page exists (it is written separately)."""
    if importlib.util.find_spec("dashboard.pages.reports") is None:
        return None
    try:
        module = importlib.import_module("dashboard.pages.reports")
    except Exception:  # a broken page must not take the dashboard down
        log.exception("the Reports page failed to import")
        return None
    render = getattr(module, "render", None)
    return render if callable(render) else None


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
    reports = reports_render()
    if reports is not None and viewer.sees_all:
        specs.append(PageSpec("reports", "Reports", ":material/description:", _everything_only(reports), "Operations"))
    return specs


def pages_for(viewer: Viewer) -> tuple[dict[str, list[StreamlitPage]], dict[str, StreamlitPage]]:
    """The navigation's sections, and each page by name (for links between pages)."""
    sections: dict[str, list[StreamlitPage]] = {}
    by_name: dict[str, StreamlitPage] = {}
    for i, spec in enumerate(page_specs(viewer)):
        page = st.Page(spec.render, title=spec.title, icon=spec.icon, url_path=spec.name, default=i == 0)
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
    page.run()


def reroute() -> None:
    """Hand a run over to app.py's navigation.

    `dashboard/pages/` sits next to app.py, so Streamlit starts in its "pages folder" mode: if the first
    request after a start is a page URL (an alert's `/spend?project=X` link), it runs that page's file
    as a script instead of app.py, and the page comes up blank. Each page file ends by calling this
    when run as a script: leave that mode and run again, and app.py's `st.navigation` opens the same
    URL (its page hash is that of the URL path) with its query parameters.
    """
    from streamlit.runtime.pages_manager import PagesManager

    PagesManager.uses_pages_directory = False
    st.rerun()
