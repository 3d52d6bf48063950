"""Each switchable fault does what it says, set from Python or over HTTP."""

from __future__ import annotations

import time
from datetime import date

import pytest
import requests

from emulator import EmulatorServer, Faults

from .conftest import Client, query_body

BODY = query_body(date(2025, 3, 1), date(2025, 3, 3))


def _sub(server: EmulatorServer) -> str:
    return server.tenant.subscriptions[0].subscription_id


@pytest.mark.parametrize(
    ("header", "name"),
    [
        ("qpu", "x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"),
        ("entity", "x-ms-ratelimit-microsoft.costmanagement-entity-retry-after"),
        ("tenant", "x-ms-ratelimit-microsoft.costmanagement-tenant-retry-after"),
        ("clienttype", "x-ms-ratelimit-microsoft.costmanagement-clienttype-retry-after"),
        ("retry-after", "Retry-After"),
    ],
)
def test_throttle(client: Client, server: EmulatorServer, header: str, name: str) -> None:
    server.faults.throttle(2, retry_after=7, header=header)
    for _ in range(2):
        answer = client.query(_sub(server), BODY)
        assert answer.status_code == 429 and answer.headers[name] == "7"
        assert answer.json()["error"]["code"] == "429"
    assert client.query(_sub(server), BODY).status_code == 200


def test_faults_only_hit_their_path(client: Client, server: EmulatorServer) -> None:
    server.faults.throttle(1)
    assert client.get("/subscriptions?api-version=2022-12-01").status_code == 200
    server.faults.server_error(1, status=500, path=r"/subscriptions$")
    assert client.get("/subscriptions?api-version=2022-12-01").status_code == 500
    assert client.query(_sub(server), BODY).status_code == 429


@pytest.mark.parametrize("status", [500, 502, 503, 504])
def test_server_error(client: Client, server: EmulatorServer, status: int) -> None:
    server.faults.server_error(1, status=status)
    answer = client.query(_sub(server), BODY)
    assert answer.status_code == status and "error" in answer.json()
    assert client.query(_sub(server), BODY).status_code == 200


def test_reset_closes_the_connection_without_an_answer(client: Client, server: EmulatorServer) -> None:
    server.faults.reset(1)
    with pytest.raises(requests.ConnectionError):
        client.query(_sub(server), BODY)
    assert client.query(_sub(server), BODY).status_code == 200
    assert server.stats.count("cost_query", "reset") >= 1


def test_slow(client: Client, server: EmulatorServer) -> None:
    server.faults.slow(1, 0.3)
    started = time.monotonic()
    assert client.query(_sub(server), BODY).status_code == 200
    assert time.monotonic() - started >= 0.3
    server.faults.slow(1, 2)
    with pytest.raises(requests.Timeout):
        client.query(_sub(server), BODY, timeout=0.3)


def test_expired_token(client: Client, server: EmulatorServer) -> None:
    server.faults.expire_token(after_requests=2)
    assert client.get("/subscriptions?api-version=2022-12-01").status_code == 200
    assert client.query(_sub(server), BODY).status_code == 200
    for _ in range(2):
        answer = client.get("/subscriptions?api-version=2022-12-01")
        assert answer.status_code == 401
        assert answer.json()["error"]["code"] == "ExpiredAuthenticationToken"
    assert client.query(_sub(server), BODY).status_code == 401
    server.faults.clear()
    assert client.get("/subscriptions?api-version=2022-12-01").status_code == 200


def test_fail_subscription(client: Client, server: EmulatorServer) -> None:
    broken, fine = server.tenant.subscriptions[0].subscription_id, server.tenant.subscriptions[1].subscription_id
    server.faults.fail_subscription(broken)
    for _ in range(3):
        answer = client.query(broken, BODY)
        assert answer.status_code == 403 and answer.json()["error"]["code"] == "AuthorizationFailed"
    assert client.query(fine, BODY).status_code == 200
    assert client.get(f"/subscriptions/{broken}?api-version=2022-12-01").status_code == 200  # only cost queries
    server.faults.unfail_subscription(broken)
    assert client.query(broken, BODY).status_code == 200
    server.faults.fail_subscription(broken.upper(), status=401)
    assert client.query(broken, BODY).status_code == 401


def test_no_content(client: Client, server: EmulatorServer) -> None:
    server.faults.no_content(1)
    answer = client.query(_sub(server), BODY)
    assert answer.status_code == 204 and answer.content == b""
    assert client.query(_sub(server), BODY).status_code == 200


def test_faults_over_http(client: Client, server: EmulatorServer) -> None:
    admin = f"{server.url}/_emulator/faults"
    verify = str(server.ca_path)
    answer = requests.post(admin, json={"name": "throttle", "args": {"count": 1, "retry_after": 3}}, verify=verify)
    assert answer.status_code == 200 and answer.json()["counted"][0]["name"] == "throttle"
    refused = client.query(_sub(server), BODY)
    assert refused.status_code == 429
    assert refused.headers["x-ms-ratelimit-microsoft.costmanagement-qpu-retry-after"] == "3"
    requests.post(admin, json={"name": "shuffle_columns", "args": {"value": True}}, verify=verify)
    assert server.faults.shuffle_columns
    requests.post(admin, json={"name": "server_error", "args": {"count": 5}}, verify=verify)
    assert requests.post(admin, json={"name": "clear"}, verify=verify).json() == {
        "counted": [],
        "expire_token": None,
        "failed_subscriptions": {},
        "failed_wide_scope": None,
        "shuffle_columns": False,
        "no_serverless_metrics": False,
    }
    assert requests.post(admin, json={"name": "explode"}, verify=verify).status_code == 400
    assert requests.post(admin, json={"name": "throttle", "args": {"bogus": 1}}, verify=verify).status_code == 400
    assert (
        requests.post(admin, json={"name": "throttle", "args": {"count": 1, "header": "x"}}, verify=verify).status_code
        == 400
    )


def test_faults_are_thread_safe_counts() -> None:
    import threading

    faults = Faults()
    faults.server_error(500)
    hits = []

    def worker() -> None:
        for _ in range(100):
            hits.append(faults.decide("/subscriptions/x/providers/Microsoft.CostManagement/query").status)

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert hits.count(503) == 500 and hits.count(None) == 300


def test_stats_count_routes_and_statuses(client: Client, server: EmulatorServer) -> None:
    server.stats.clear()
    client.get("/subscriptions?api-version=2022-12-01")
    client.get("/nowhere?api-version=1")
    server.faults.throttle(1)
    client.query(_sub(server), BODY)
    client.query(_sub(server), BODY)
    snapshot = requests.get(f"{server.url}/_emulator/stats", verify=str(server.ca_path)).json()
    assert snapshot["subscriptions"] == {"200": 1}
    assert snapshot["unknown"] == {"404": 1}
    assert snapshot["cost_query"] == {"200": 1, "429": 1}
