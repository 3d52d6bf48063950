"""The dashboard renders the collected spend (Streamlit's AppTest, on a store filled from the emulator)."""

from __future__ import annotations

import os
from decimal import Decimal
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

from collector.db.engine import make_engine
from tests.emulated import collect_all, emulator, settings_for

APP = Path(__file__).resolve().parents[1] / "dashboard" / "app.py"


def test_spend_page_shows_month_to_date_totals_per_currency(
    database_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url = database_urls["sqlite"]
    for key in list(os.environ):
        if key.startswith("COSTWATCH_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("COSTWATCH_DATABASE_URL", url)
    with emulator() as server:
        collect_all(server, settings_for(server, url), make_engine(url))
        last_day = server.tenant.history_end
        totals: dict[str, Decimal] = {}
        for row in server.tenant.truth(["currency"], last_day.replace(day=1), last_day):
            totals[row["currency"]] = totals.get(row["currency"], Decimal(0)) + row["cost"]

    app = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not app.exception, app.exception
    assert app.title[0].value == "Spend"
    metrics = {m.label: m.value for m in app.metric}
    assert metrics == {
        f"Total {currency} (includes estimated days)": f"{total:,.2f} {currency}" for currency, total in totals.items()
    }
    assert len(app.dataframe) == len(totals)  # one table per currency: never added together


def _page(name: str) -> None:
    import importlib
    import sys
    from pathlib import Path

    sys.path.insert(0, str(Path.cwd()))
    importlib.import_module(f"dashboard.pages.{name}").render()


@pytest.mark.parametrize(
    ("page", "expect"),
    [
        ("quota", "Quota"),
        ("deployments", "Deployments"),
        ("subscriptions", "Marketplace subscriptions"),
        ("alerts", "Alerts"),
        ("status", "Collection status"),
    ],
)
def test_every_page_renders_the_collected_data(
    database_urls: dict[str, str], monkeypatch: pytest.MonkeyPatch, page: str, expect: str
) -> None:
    from collector.alerts.engine import evaluate
    from collector.quota import run_quota
    from collector.traffic import run_metrics

    url = database_urls["sqlite"]
    for key in list(os.environ):
        if key.startswith("COSTWATCH_"):
            monkeypatch.delenv(key)
    monkeypatch.setenv("COSTWATCH_DATABASE_URL", url)
    monkeypatch.chdir(APP.parents[1])
    with emulator() as server:
        settings = settings_for(server, url, metrics={"first_lookback_hours": 2})
        engine = make_engine(url)
        collect_all(server, settings, engine)
        run_quota(settings, engine)
        run_metrics(settings, engine)
        evaluate(settings, engine)
    app = AppTest.from_function(_page, args=(page,), default_timeout=30).run()
    assert not app.exception, app.exception
    assert app.title[0].value == expect
    assert app.dataframe, f"the {page} page shows a table"
