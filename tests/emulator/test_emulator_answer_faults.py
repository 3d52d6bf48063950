"""Faults that spoil a 200 answer: JSON that isn't, JSON cut short, a nextLink that repeats, a row on two pages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import date
from typing import Any

import pytest
import requests

from emulator import EmulatorServer, TenantSpec, generate_tenant

from .conftest import TODAY, Client, query_body

# A month by resource and meter: several pages of 40 rows.
BODY = query_body(date(2025, 3, 1), date(2025, 3, 31), grouping=["ResourceId", "Meter"])


def _sub(server: EmulatorServer) -> str:
    return server.tenant.subscriptions[0].subscription_id


def _pages(client: Client, server: EmulatorServer) -> list[dict[str, Any]]:
    """Every page of BODY's answer, read cleanly."""
    pages = [client.query(_sub(server), BODY).json()["properties"]]
    while pages[-1]["nextLink"]:
        pages.append(client.post(pages[-1]["nextLink"], BODY).json()["properties"])
    return pages


def test_invalid_json_is_an_html_page_sent_as_json(client: Client, server: EmulatorServer) -> None:
    server.stats.clear()
    server.faults.invalid_json(1)
    answer = client.query(_sub(server), BODY)
    assert answer.status_code == 200
    assert answer.headers["Content-Type"].startswith("application/json")
    assert answer.content.startswith(b"<!DOCTYPE html>")
    with pytest.raises(ValueError):
        json.loads(answer.content)
    assert client.query(_sub(server), BODY).json()["properties"]["rows"]  # spent after one
    assert server.stats.count("cost_query", "invalid_json") == 1
    assert server.stats.count("cost_query", 200) == 1


def test_truncated_json_is_a_prefix_with_its_own_length(client: Client, server: EmulatorServer) -> None:
    clean = client.query(_sub(server), BODY).content
    server.faults.truncated_json(2)
    for _ in range(2):
        answer = client.query(_sub(server), BODY)
        assert answer.status_code == 200 and answer.headers["Content-Type"].startswith("application/json")
        assert 0 < len(answer.content) < len(clean) and clean.startswith(answer.content)
        assert answer.headers["Content-Length"] == str(len(answer.content))
        with pytest.raises(ValueError):
            json.loads(answer.content)
    assert client.query(_sub(server), BODY).content == clean
    assert server.stats.count("cost_query", "truncated_json") >= 2


def test_body_faults_wait_for_a_200(client: Client, server: EmulatorServer) -> None:
    server.faults.throttle(1)
    server.faults.invalid_json(1)
    assert client.query(_sub(server), BODY).status_code == 429  # not spoiled, and not spent
    assert client.query("00000000-0000-0000-0000-000000000000", BODY).status_code == 404
    assert client.query(_sub(server), BODY).content.startswith(b"<!DOCTYPE html>")


def test_repeat_next_link_points_a_page_at_itself(client: Client, server: EmulatorServer) -> None:
    clean = _pages(client, server)
    assert len(clean) >= 3
    server.faults.repeat_next_link(2)
    first = client.query(_sub(server), BODY).json()["properties"]
    assert first == clean[0]  # a first page has no skiptoken to repeat: left alone, nothing spent
    link = first["nextLink"]
    for _ in range(2):  # read blindly, the second page comes back again and again
        again = client.post(link, BODY).json()["properties"]
        assert again["nextLink"] == link and again["rows"] == clean[1]["rows"]
    assert client.post(link, BODY).json()["properties"] == clean[1]  # spent
    # the last page, which has no nextLink, gets one to itself
    last_link = clean[-2]["nextLink"]
    server.faults.repeat_next_link(1)
    assert client.post(last_link, BODY).json()["properties"]["nextLink"] == last_link
    assert server.stats.count("cost_query", "repeat_next_link") == 3


def test_duplicate_rows_puts_a_row_on_two_pages(client: Client, server: EmulatorServer) -> None:
    clean = _pages(client, server)
    server.faults.duplicate_rows(2)
    first = client.query(_sub(server), BODY).json()["properties"]
    assert first["rows"] == [*clean[0]["rows"], clean[0]["rows"][-1]]  # no page before: its own last row
    second = client.post(first["nextLink"], BODY).json()["properties"]
    assert second["rows"] == [*clean[1]["rows"], clean[0]["rows"][0]]  # the first row of the page before
    assert second["nextLink"] == clean[1]["nextLink"]
    assert client.post(first["nextLink"], BODY).json()["properties"] == clean[1]  # spent
    assert server.stats.count("cost_query", "duplicate_rows") == 2


def test_duplicate_rows_follow_shuffled_columns(client: Client, server: EmulatorServer) -> None:
    server.faults.shuffle_columns = True
    clean = _pages(client, server)
    server.faults.duplicate_rows(1)
    second = client.post(clean[0]["nextLink"], BODY).json()["properties"]
    assert second["columns"] == clean[1]["columns"]
    assert second["rows"][-1] == clean[0]["rows"][0]


@pytest.fixture(scope="module")
def small_pages() -> Iterator[EmulatorServer]:
    with EmulatorServer(generate_tenant(TenantSpec(today=TODAY, page_size=1))) as running:
        yield running


def test_page_faults_on_arm_lists(small_pages: EmulatorServer) -> None:
    client = Client(small_pages)
    path = "/subscriptions?api-version=2022-12-01"
    first = client.get(path).json()
    second = client.get(first["nextLink"]).json()
    small_pages.faults.repeat_next_link(1, path=r"^/subscriptions$")
    small_pages.faults.duplicate_rows(2, path=r"^/subscriptions$")
    assert client.get(path).json() == {**first, "value": first["value"] * 2}  # duplicate, no repeat
    again = client.get(first["nextLink"]).json()
    assert again == {"value": [*second["value"], *first["value"]], "nextLink": first["nextLink"]}
    assert client.get(first["nextLink"]).json() == second
    small_pages.faults.clear()


def test_answer_faults_over_http(client: Client, server: EmulatorServer) -> None:
    admin = f"{server.url}/_emulator/faults"
    verify = str(server.ca_path)
    for name in ("invalid_json", "truncated_json", "repeat_next_link", "duplicate_rows"):
        answer = requests.post(admin, json={"name": name, "args": {"count": 2, "path": "/x$"}}, verify=verify)
        assert answer.status_code == 200
        assert {"name": name, "remaining": 2, "path": "/x$"}.items() <= answer.json()["counted"][-1].items()
    assert requests.post(admin, json={"name": "invalid_json", "args": {"count": -1}}, verify=verify).status_code == 400
    assert requests.post(admin, json={"name": "duplicate_rows", "args": {"rows": 1}}, verify=verify).status_code == 400
    server.faults.clear()
    server.faults.apply("invalid_json", {"count": 1})
    assert client.query(_sub(server), BODY).content.startswith(b"<!DOCTYPE html>")
