"""The signed-in viewer (Streamlit's OIDC sign-in, `st.login` / `st.user`) and the page guard.

Every page calls `guard()` first: it returns the viewer, or shows the sign-in page (anonymous) or a
"no access" page (signed in without a role) and stops the run. Role and projects come from
`dashboard.auth.resolve_viewer`; tests simulate a user through `AppTest.user` (st.user) and replace
`dashboard_settings` to switch sign-in on.
"""

from __future__ import annotations

import importlib.util

import streamlit as st

from collector.settings import load_settings
from dashboard.auth import DashboardSettings, Identity, Viewer, resolve_viewer


def dashboard_settings() -> DashboardSettings:
    """The `[dashboard]` settings."""
    return load_settings().dashboard


def identity() -> Identity | None:
    """Who signed in, from the OIDC ID token's claims; None when nobody did."""
    user = st.user.to_dict()
    if not user.get("is_logged_in"):
        return None
    return Identity.from_claims(user)


def viewer() -> Viewer:
    settings = dashboard_settings()
    return resolve_viewer(settings, identity() if settings.auth_enabled else None)


def guard() -> Viewer:
    """The viewer of this run, or the sign-in / no-access page and a stop."""
    current = viewer()
    if current.role is not None:
        return current
    if not current.authenticated:
        sign_in_page()
    else:
        no_access_page(current)
    st.stop()
    raise AssertionError("unreachable")  # st.stop() raises


def sign_in_page() -> None:
    st.title("costwatch")
    st.write("AI Studio spend, quota and alerts. Sign in with your Microsoft Entra ID work account.")
    if st.button("Sign in with Microsoft", type="primary", icon=":material/login:"):
        login()


def login() -> None:
    if importlib.util.find_spec("authlib") is None:
        st.error('Sign-in needs Authlib: install it with `pip install "streamlit[auth]"` and restart.')
        return
    provider = dashboard_settings().auth_provider or None
    st.login(provider)


def no_access_page(current: Viewer) -> None:
    st.title("No access yet")
    st.write(
        f"You are signed in as **{current.name or 'an unnamed user'}**, but no costwatch role is mapped to your "
        "account or groups. Ask a costwatch admin to add you to `[dashboard] roles` or `project_owners`."
    )
    if st.button("Sign out", icon=":material/logout:"):
        st.logout()


def sidebar(current: Viewer) -> None:
    """Who is looking, and how the dashboard is protected."""
    if not current.authenticated:
        st.sidebar.caption(
            ":material/lock_open: No sign-in configured: served on 127.0.0.1 only, and whoever can reach it "
            "sees every project."
        )
        return
    role = {"admin": "admin", "finance": "finance", "project_owner": "project owner"}.get(current.role or "", "")
    st.sidebar.caption(f":material/account_circle: {current.name} · {role}")
    if current.role == "project_owner":
        st.sidebar.caption("Projects: " + (", ".join(sorted(current.projects or ())) or "none"))
    if st.sidebar.button("Sign out", icon=":material/logout:", key="costwatch_sign_out"):
        st.logout()
