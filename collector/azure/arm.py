"""Plain ARM calls over an official client's pipeline, for APIs the SDKs do not model.

azure-mgmt-machinelearningservices knows neither serverless endpoints nor marketplace subscriptions
(docs/azure.md, other APIs), so those are sent through `send_request` of a management client: auth,
retries, the base URL and the CA bundle stay in one place.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Any, Protocol
from urllib.parse import urlencode

from azure.core.exceptions import DecodeError, HttpResponseError, ServiceRequestError, ServiceResponseError
from azure.core.rest import HttpRequest, HttpResponse

from collector.azure.throttling import ThrottledTooLong

log = logging.getLogger(__name__)

MAX_PAGES = 10_000


class SendsRequests(Protocol):
    def send_request(self, request: HttpRequest, *, stream: bool = False, **kwargs: Any) -> HttpResponse: ...


class AzureCallError(Exception):
    """An ARM call failed in a way retrying will not fix; the message says what and how to fix it."""

    def __init__(self, message: str, status: int | None = None, code: str = "") -> None:
        super().__init__(message)
        self.status = status
        self.code = code


_HINTS = {
    401: "the credential was rejected: renew COSTWATCH_ARM_TOKEN or check the identity's sign-in",
    403: "the identity lacks a role here: grant Reader (and Cost Management Reader for costs)",
    404: "not found: check the subscription ID and that the resource provider is registered",
}


def error_from(response: HttpResponse, what: str) -> AzureCallError:
    """A clear error from a failed ARM answer: status, Azure's code and message, and a hint."""
    code, message = "", ""
    try:
        body = response.json()
        error = body.get("error", body) if isinstance(body, dict) else {}
        code, message = str(error.get("code", "")), str(error.get("message", ""))
    except (ValueError, AttributeError):
        message = (response.text() or "")[:200]
    hint = _HINTS.get(response.status_code, "")
    parts = [f"{what}: HTTP {response.status_code}", code, message, hint]
    return AzureCallError("; ".join(p for p in parts if p), response.status_code, code)


@contextmanager
def azure_errors(what: str) -> Iterator[None]:
    """Turn what the SDK pipeline raises after its retries into one AzureCallError that says what failed."""
    try:
        yield
    except ThrottledTooLong as exc:
        raise AzureCallError(f"{what}: {exc.message}", 429) from None
    except DecodeError as exc:  # azure-core parses JSON answers itself, before costwatch sees them
        body = ""
        if isinstance(exc.response, HttpResponse):
            body = (exc.response.text() or "")[:120]
        raise AzureCallError(
            f"{what}: expected a JSON answer, got unparseable text (HTTP {exc.status_code}, starting {body!r})",
            exc.status_code,
        ) from None
    except HttpResponseError as exc:
        if isinstance(exc.response, HttpResponse):
            raise error_from(exc.response, what) from None
        raise AzureCallError(f"{what}: {exc.message}", exc.status_code) from None
    except (ServiceRequestError, ServiceResponseError) as exc:
        raise AzureCallError(f"{what}: connection failed after retries ({type(exc).__name__})") from None


def parse_json(response: HttpResponse, what: str) -> dict[str, Any]:
    """The body as JSON with numbers as exact Decimals; a clear error if it is not a JSON object."""
    try:
        body = json.loads(response.text(), parse_float=Decimal)
    except ValueError as exc:
        raise AzureCallError(f"{what}: expected a JSON object, got unparseable text ({exc})") from None
    if not isinstance(body, dict):
        raise AzureCallError(f"{what}: expected a JSON object, got {type(body).__name__}")
    return body


def url(base: str, path: str, api_version: str, **params: str) -> str:
    return f"{base.rstrip('/')}{path}?{urlencode({'api-version': api_version, **params})}"


def list_all(client: SendsRequests, first_url: str, what: str) -> Iterator[dict[str, Any]]:
    """Every item of an ARM list, following nextLink; stops on a nextLink it has already fetched."""
    with azure_errors(what):
        yield from _list_pages(client, first_url, what)


def _list_pages(client: SendsRequests, first_url: str, what: str) -> Iterator[dict[str, Any]]:
    next_url: str | None = first_url
    seen: set[str] = set()
    while next_url:
        if next_url in seen or len(seen) >= MAX_PAGES:
            # A partial list would mark the resources on the pages never read as removed: fail instead.
            raise AzureCallError(f"{what}: nextLink repeats a page already read ({len(seen)} pages in)")
        seen.add(next_url)
        response = client.send_request(HttpRequest("GET", next_url))
        if response.status_code == 204:
            return
        if response.status_code != 200:
            raise error_from(response, what)
        body = parse_json(response, what)
        items = body.get("value")
        if not isinstance(items, list):
            raise AzureCallError(f"{what}: expected a 'value' list in the answer, got keys {sorted(body)}")
        for item in items:
            if isinstance(item, dict):
                yield item
            else:
                log.warning("%s: skipped a list item that is not an object: %r", what, item)
        next_url = body.get("nextLink") or None
