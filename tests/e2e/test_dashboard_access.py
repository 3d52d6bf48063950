"""A project owner probing for another project's figures through the URL: another project's name, a
subscription, a cost center or a grouping by resource, and every CSV download the page then offers.
(The dashboard's own tests and fixtures are in tests/e2e/test_dashboard.py.)"""

from __future__ import annotations

from typing import Any

import pytest

from dashboard.auth import DashboardSettings
from tests.e2e.test_dashboard import (  # noqa: F401 - fixtures, requested by name
    OWNER,
    Store,
    downloads,
    fresh_caches,
    on_store,
    run_page,
    sign_in,
    store,
)


def _shown(at: Any, files: dict[str, bytes]) -> list[str]:
    texts = [d.value.to_csv() for d in at.dataframe] + [m.value for m in at.metric]
    texts += [m.value for m in at.markdown] + [c.value for c in at.caption]
    return texts + [data.decode(errors="replace") for data in files.values()]


@pytest.mark.parametrize(
    "params",
    [
        {"project": "proj-search", "by": "project,resource"},
        {"by": "project,resource,day"},
        {"subscription": "*", "by": "subscription,project"},
        {"cost_center": "cc-not-yours", "by": "cost_center,project"},
    ],
    ids=["another-project", "by-resource", "another-subscription", "a-cost-center"],
)
def test_a_project_owner_cannot_reach_another_project_by_url_or_download(
    on_store: Store, monkeypatch: pytest.MonkeyPatch, downloads: dict[str, bytes], params: dict[str, str]
) -> None:
    sign_in(monkeypatch)
    tenant = on_store.tenant
    others = {p.name for p in tenant.projects} - {"proj-chatbot"}
    # SaaS resources costwatch gives to no project or to another must not show either, by ID or by name.
    foreign = {
        name.lower() for s in tenant.saas_resources if s.expected_project != "proj-chatbot" for name in (s.id, s.name)
    }
    if params.get("subscription") == "*":  # a subscription with no project of the owner's
        mine = {p.subscription_id for p in tenant.projects if p.name == "proj-chatbot"}
        other = next(s.subscription_id for s in tenant.subscriptions if s.subscription_id not in mine)
        params = {**params, "subscription": other}
    at = run_page("spend", params, user=OWNER)
    for frame in at.dataframe:
        if "project" in frame.value.columns:
            assert set(frame.value["project"]) <= {"proj-chatbot"}
    texts = _shown(at, downloads)
    assert texts, "the page showed something to scan"
    leaked = sorted(p for p in others | foreign if any(p in text.lower() for text in texts))
    assert not leaked, f"another project's figures reached a project owner: {leaked}"
    # The same URL does show other projects to whom may see them.
    if "cost_center" not in params:
        sign_in(monkeypatch, DashboardSettings())  # no sign-in configured: the local viewer sees all
        everything = _shown(run_page("spend", params), {})
        assert any(p in text for p in others for text in everything)
