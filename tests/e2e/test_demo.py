"""The README's first command, as a newcomer runs it: `costwatch-emulator demo` collects the emulator's
tenant into SQLite and evaluates the alert rules, so its dashboard shows the alerts the tenant deserves
and calls nothing it has just collected stale."""

from __future__ import annotations

import os
import re
import subprocess
import sys

import pytest
from sqlalchemy import select
from sqlalchemy.orm import Session
from streamlit.testing.v1 import AppTest

from collector.db.engine import make_engine
from collector.db.models import Alert
from tests.e2e.test_dashboard import APP, fresh_caches, metrics  # noqa: F401 - the fixture, used by name


@pytest.fixture(scope="module")
def demo_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, str]:
    workdir = tmp_path_factory.mktemp("demo")
    env = {k: v for k, v in os.environ.items() if not k.startswith("COSTWATCH_")}
    done = subprocess.run(
        [sys.executable, "-m", "emulator", "demo", "--no-dashboard", "--workdir", str(workdir)],
        cwd=workdir, env=env, capture_output=True, text=True, timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return f"sqlite:///{workdir / 'demo.db'}", done.stdout


def test_the_demo_evaluates_the_alerts_its_tenant_deserves(demo_store: tuple[str, str]) -> None:
    url, printed = demo_store
    with Session(make_engine(url)) as session:
        firing = {a.key: a for a in session.scalars(select(Alert).where(Alert.state == "firing"))}
    assert f"alerts: {len(firing)} firing" in printed
    # The tenant's scenarios (emulator/README.md): the 96% quota family, a throttled endpoint, a cost anomaly.
    (quota,) = [
        a
        for k, a in firing.items()
        if k.endswith(":westus3:Microsoft.MachineLearningServices:standardNCADSA100v4Family")
    ]
    assert quota.severity == "critical"
    assert any(k.startswith("rate_limit:") for k in firing) and any(k.startswith("anomaly:") for k in firing)
    assert re.search(r"to date\s+assistant\s+\d+\.\d\d USD", printed), "the Foundry project's spend is printed"


def test_the_demo_dashboard_shows_those_alerts_and_nothing_stale(
    demo_store: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    url, _ = demo_store
    for key in [k for k in os.environ if k.startswith("COSTWATCH_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("COSTWATCH_DATABASE_URL", url)
    at = AppTest.from_file(str(APP), default_timeout=30).run()
    assert not at.exception, at.exception
    with Session(make_engine(url)) as session:
        firing = session.scalars(select(Alert).where(Alert.state == "firing")).all()
    shown = metrics(at)
    assert shown["Firing alerts"] == str(len(firing)) != "0"
    assert shown["Critical"] != "0"
    said = [w.value for w in at.warning] + [e.value for e in at.error] + [m.value for m in at.markdown]
    assert not [s for s in said if "Stale" in s or "never succeeded" in s], said
