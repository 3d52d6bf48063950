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
