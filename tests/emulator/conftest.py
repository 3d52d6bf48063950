"""Fixtures for the emulator's own tests: a fixed tenant, a shared server, an HTTPS client."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
import requests

from emulator import EmulatorServer, Tenant, TenantSpec, generate_tenant

# A fixed "today" keeps month finality stable: Feb-Apr 2025 are final, May is estimated.
TODAY = date(2025, 5, 20)
ROOMY = {"qpu_per_10s": 100_000, "qpu_per_minute": 100_000, "qpu_per_hour": 1_000_000}
QUERY_API = "2025-03-01"


class Client:
    """A tiny ARM client over requests. `verify` is passed on every call because this
    machine sets REQUESTS_CA_BUNDLE, which would otherwise win over a session's verify."""

    def __init__(self, server: EmulatorServer, token: str | None = "test-token") -> None:
        self.server = server
        self.session = requests.Session()
        self.session.trust_env = False  # no proxies, no CA bundle from the environment
        self.token = token

    def _headers(self) -> dict[str, str]:
        return {} if self.token is None else {"Authorization": f"Bearer {self.token}"}

    def url(self, path: str) -> str:
        return path if path.startswith("https://") else self.server.url + path

    def get(self, path: str, **kwargs: Any) -> requests.Response:
        return self.session.get(self.url(path), headers=self._headers(), verify=str(self.server.ca_path), **kwargs)

    def post(self, path: str, body: Any = None, **kwargs: Any) -> requests.Response:
        return self.session.post(
            self.url(path), json=body, headers=self._headers(), verify=str(self.server.ca_path), **kwargs
        )

    def query(self, subscription_id: str, body: Any, **kwargs: Any) -> requests.Response:
        path = f"/subscriptions/{subscription_id}/providers/Microsoft.CostManagement/query?api-version={QUERY_API}"
        return self.post(path, body, **kwargs)


def query_body(
    date_from: date,
    date_to: date,
    grouping: list[str] | None = None,
    granularity: str = "Daily",
    aggregation: str = "Cost",
) -> dict[str, Any]:
    return {
        "type": "ActualCost",
        "timeframe": "Custom",
        "timePeriod": {
            "from": f"{date_from.isoformat()}T00:00:00+00:00",
            "to": f"{date_to.isoformat()}T23:59:59+00:00",
        },
        "dataset": {
            "granularity": granularity,
            "aggregation": {"totalCost": {"name": aggregation, "function": "Sum"}},
            "grouping": [{"type": "Dimension", "name": name} for name in (grouping or [])],
        },
    }


@pytest.fixture(scope="session")
def azure_examples() -> Path:
    path = Path(__file__).resolve().parents[2].parent / "shared" / "azure-examples"
    if not path.is_dir():
        pytest.skip(f"{path} is not present")
    return path


@pytest.fixture
def tenant() -> Tenant:
    """A fresh tenant per test (restatement changes it); generation takes milliseconds."""
    return generate_tenant(TenantSpec(today=TODAY))


@pytest.fixture(scope="module")
def server() -> Iterator[EmulatorServer]:
    """One server per module with small pages and roomy QPU limits; faults cleared per test."""
    spec = TenantSpec(today=TODAY, page_size=40, **ROOMY)
    with EmulatorServer(generate_tenant(spec)) as running:
        yield running


@pytest.fixture(autouse=True)
def _clean_faults(request: pytest.FixtureRequest) -> Iterator[None]:
    yield
    if "server" in request.fixturenames:
        request.getfixturevalue("server").faults.clear()


@pytest.fixture
def client(server: EmulatorServer) -> Client:
    return Client(server)
