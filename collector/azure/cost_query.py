"""The Cost Management Query API, every page of it.

`CostManagementClient.query.usage()` returns one page and never follows nextLink (azure-facts.md
section 3): the first page comes from the SDK, and each nextLink is fetched by POSTing the same body
through the same client pipeline. Bodies are parsed with numbers as Decimal, so costs stay exact.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from azure.core.rest import HttpRequest
from azure.mgmt.costmanagement import CostManagementClient

from collector.azure.arm import MAX_PAGES, AzureCallError, azure_errors, error_from, parse_json

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class QueryPage:
    columns: list[str]
    rows: list[list[Any]]


def query_pages(client: CostManagementClient, scope: str, body: dict[str, Any]) -> Iterator[QueryPage]:
    """Yield each page of the query's answer; raise AzureCallError when the scope cannot be read."""
    what = f"cost query on {scope}"
    with azure_errors(what):
        response = client.query.usage(scope, body, cls=_raw)  # type: ignore[call-overload]  # a plain dict body is accepted
        http = response.http_response
        seen: set[str] = set()
        while True:
            if http.status_code == 204:  # no data for this window
                return
            page_body = parse_json(http, what)
            yield _page(page_body, what)
            next_link = (page_body.get("properties") or {}).get("nextLink")
            if not next_link:
                return
            if next_link in seen or len(seen) >= MAX_PAGES:
                # A repeating nextLink would loop for ever, and stopping there would store a partial
                # month as if it were whole: fail the scope, keep what is stored, retry next run.
                raise AzureCallError(f"{what}: nextLink repeats a page already read ({len(seen)} pages in)")
            seen.add(next_link)
            http = client.send_request(HttpRequest("POST", next_link, json=body))
            if http.status_code not in (200, 204):
                raise error_from(http, what)


def _raw(pipeline_response: Any, *_: Any) -> Any:
    """The SDK's `cls` hook: hand back the raw answer, so costs are parsed as exact Decimals."""
    return pipeline_response


def _page(body: dict[str, Any], what: str) -> QueryPage:
    properties = body.get("properties")
    if not isinstance(properties, dict):
        raise AzureCallError(f"{what}: expected 'properties' with columns and rows, got keys {sorted(body)}")
    columns = properties.get("columns")
    rows = properties.get("rows")
    if not isinstance(columns, list) or not isinstance(rows, list):
        raise AzureCallError(f"{what}: expected properties.columns and properties.rows to be lists")
    names = [str(c.get("name", "")) if isinstance(c, dict) else "" for c in columns]
    return QueryPage(columns=names, rows=rows)
