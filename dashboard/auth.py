"""Who may see what: the dashboard's settings, the viewer's role and the projects they may see.

Pure (no Streamlit), so the rules are tested as functions. The `[dashboard]` settings themselves
(`DashboardSettings`) live with the other settings in `collector.settings`.

Roles: `admin` and `finance` see every project; a `project_owner` sees only the projects mapped to
them in `project_owners`, on every page, filter, URL parameter and download (the query layer
restricts every read to `Viewer.scope`). Principals are matched case-insensitively against the
signed-in user's e-mail (`email`, else `preferred_username`), Entra object ID (`oid`), group object
IDs (`groups` claim) and app roles (`roles` claim). The highest role any principal maps to wins.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

from collector.settings import DashboardSettings, ManagedOption

Role = Literal["admin", "finance", "project_owner"]
__all__ = ["DashboardSettings", "Identity", "ManagedOption", "Viewer", "resolve_viewer"]
ROLE_RANK: dict[str, int] = {"project_owner": 0, "finance": 1, "admin": 2}


@dataclass(frozen=True)
class Identity:
    """What the sign-in says about the user (from the OIDC ID token's claims)."""

    email: str
    name: str = ""
    principals: tuple[str, ...] = ()  # object ID, group object IDs, app roles

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> Identity:
        email = str(claims.get("email") or claims.get("preferred_username") or claims.get("upn") or "")
        others: list[str] = []
        if claims.get("oid"):
            others.append(str(claims["oid"]))
        for claim in ("groups", "roles"):
            value = claims.get(claim) or []
            others += [str(v) for v in ([value] if isinstance(value, str) else value)]
        return cls(email=email, name=str(claims.get("name") or email), principals=tuple(others))


@dataclass(frozen=True)
class Viewer:
    name: str
    role: Role | None  # None: signed in, but no role (sees nothing)
    projects: frozenset[str] | None  # lower-case project names; None = every project
    authenticated: bool  # False when sign-in is off (localhost only)

    @property
    def sees_all(self) -> bool:
        return self.role in ("admin", "finance") and self.projects is None

    @property
    def scope(self) -> tuple[str, ...] | None:
        """The hashable restriction the query layer applies: None = everything."""
        if self.sees_all:
            return None
        return tuple(sorted(self.projects or ()))

    def may_see(self, project: str | None) -> bool:
        return self.sees_all or (project is not None and project.lower() in (self.projects or frozenset()))

    @property
    def may_see_status(self) -> bool:
        """Collection errors name every subscription and resource: not for project owners."""
        return self.sees_all


LOCAL = Viewer(name="local", role="admin", projects=None, authenticated=False)


def resolve_viewer(settings: DashboardSettings, identity: Identity | None) -> Viewer:
    """The viewer's role and projects. Sign-in off: the local user sees everything (localhost only)."""
    if not settings.auth_enabled:
        return LOCAL
    if identity is None:
        return Viewer(name="", role=None, projects=frozenset(), authenticated=False)
    principals = {p.strip().lower() for p in (identity.email, *identity.principals) if p and p.strip()}
    roles = [settings.roles[p] for p in principals if p in settings.roles]
    owned = [settings.project_owners[p] for p in principals if p in settings.project_owners]
    if owned:
        roles.append("project_owner")
    if not roles:
        return Viewer(name=identity.email, role=None, projects=frozenset(), authenticated=True)
    role: Role = max(roles, key=lambda r: ROLE_RANK[r])
    if role in ("admin", "finance"):
        return Viewer(name=identity.email, role=role, projects=None, authenticated=True)
    projects = frozenset(p.strip().lower() for group in owned for p in group if p.strip())
    return Viewer(name=identity.email, role="project_owner", projects=projects, authenticated=True)


def allowed(scope: tuple[str, ...] | None, project: str | None) -> bool:
    """Whether a project passes a query scope (None = every project)."""
    return scope is None or (project is not None and project.lower() in scope)


def restrict(values: Iterable[str], scope: tuple[str, ...] | None) -> list[str]:
    """The requested projects the scope allows (URL parameters and filters go through this)."""
    return [v for v in values if allowed(scope, v)]


def alert_project(link: str) -> str | None:
    """The project an alert is about, from its dashboard link (`...?project=X`), if any."""
    values = parse_qs(urlsplit(link or "").query).get("project")
    return values[0] if values else None
