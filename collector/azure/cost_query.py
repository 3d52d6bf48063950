"""The Cost Management Query API, every page of it.

`CostManagementClient.query.usage()` returns one page and never follows nextLink (docs/azure.md,
the Query API), and it turns every row of that page into model objects even when asked for the raw answer
(a second per 5,000-row page: docs/performance.md#raw-query-pages). So the SDK builds the first request
(`build_query_usage_request`, its URL and api-version) and the client's pipeline sends it (auth,
retries, throttling, the CA bundle), as it sends each nextLink with the same body. Bodies are parsed
with numbers as Decimal, so costs stay exact, and once: azure-core's ContentDecodePolicy, which would
parse every page again without Decimals for nothing, is skipped by asking for the body as a stream
(then read whole).
"""

from __future__ import annotations

import logging
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from azure.core.rest import HttpRequest, HttpResponse
from azure.mgmt.costmanagement import CostManagementClient
from azure.mgmt.costmanagement.operations._operations import build_query_usage_request

from collector.azure.arm import MAX_PAGES, AzureCallError, azure_errors, error_from, parse_json

log = logging.getLogger(__name__)

# Sent with every cost query: Cost Management keeps a query allowance per client type
# (x-ms-ratelimit-microsoft.costmanagement-clienttype-retry-after), so costwatch names itself there
# instead of sharing the anonymous one.
CLIENT_TYPE = {"ClientType": "costwatch"}


@dataclass(frozen=True)
class QueryPage:
    columns: list[str]
    rows: list[list[Any]]


def query_pages(client: CostManagementClient, scope: str, body: dict[str, Any]) -> Iterator[QueryPage]:
    """Yield each page of the query's answer; raise AzureCallError when the scope cannot be read."""
    what = f"cost query on {scope}"
    with azure_errors(what):
        first = build_query_usage_request(
            scope,
            api_version=client._config.api_version,
            content_type="application/json",
            json=body,
            headers=CLIENT_TYPE,
        )
        http = _send(client, first)
        if http.status_code not in (200, 204):
            raise error_from(http, what)
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
            http = _send(client, HttpRequest("POST", next_link, json=body, headers=CLIENT_TYPE))
            if http.status_code not in (200, 204):
                raise error_from(http, what)


def _send(client: CostManagementClient, request: HttpRequest) -> HttpResponse:
    http = client.send_request(request, stream=True)
    http.read()
    return http


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
