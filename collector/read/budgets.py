"""What a budget counts: one rule for the alert, the dashboard and the monthly report.

A budget's scope is a project, a model, a subscription or a cost center. A project's cost center is
the value of its `[alerts] cost_center_tag` tag, the tag name read case-insensitively as Azure treats
tag names; projects are told apart by subscription and name, since one name can exist in two
subscriptions with different tags."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from decimal import Decimal
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from collector.db.models import Workspace, is_project

ProjectKey = tuple[str, str]  # (lower-case subscription ID, lower-case project name)
BudgetKey = tuple[str, str, str]  # (scope, lower-case name, currency)


def tag_value(tags: Mapping[str, Any] | None, name: str) -> str:
    """A tag's value, its name matched case-insensitively ('' when absent). Of two spellings of one
    name (Azure keeps only one, but a store may hold older tags), the first in sorted order wins."""
    wanted = name.lower()
    return next((str(v) for k, v in sorted((tags or {}).items()) if k.lower() == wanted), "")


def project_key(subscription: str, project: str) -> ProjectKey:
    return subscription.lower(), project.lower()


def project_cost_centers(session: Session, tag: str) -> dict[ProjectKey, str]:
    """Every project with a cost center -> that cost center."""
    centers = {
        project_key(w.subscription_id, w.name): tag_value(w.tags, tag)
        for w in session.scalars(select(Workspace).where(is_project()))
    }
    return {key: center for key, center in centers.items() if center}


def budget_totals(
    rows: Iterable[tuple[Mapping[str, Any], str, Decimal, bool]], cost_centers: Mapping[ProjectKey, str]
) -> dict[BudgetKey, tuple[Decimal, bool]]:
    """(scope, lower-case name, currency) -> (spend, includes estimated days), from spend rows whose
    keys hold project, model and subscription: (keys, currency, cost, estimated)."""
    totals: dict[BudgetKey, tuple[Decimal, bool]] = {}

    def add(scope: str, name: str, cost: Decimal, currency: str, estimated: bool) -> None:
        key = (scope, name.lower(), currency)
        before, was = totals.get(key, (Decimal(0), False))
        totals[key] = (before + cost, was or estimated)

    for keys, currency, cost, estimated in rows:
        project, model, subscription = str(keys["project"]), str(keys["model"]), str(keys["subscription"])
        for scope, name in (("project", project), ("model", model), ("subscription", subscription)):
            if name:
                add(scope, name, cost, currency, estimated)
        center = cost_centers.get(project_key(subscription, project))
        if center:
            add("cost_center", center, cost, currency, estimated)
    return totals
