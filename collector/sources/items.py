"""What every ARM inventory list shares: an item's ID (lower-cased, as cost rows give it), its
properties and tags read defensively, and a list fetched and parsed, an item without an ID logged
and skipped."""

from __future__ import annotations

import logging
import re
from collections.abc import Callable, Iterator
from typing import Any

from collector.azure.arm import list_all, url
from collector.azure.clients import AzureClients

log = logging.getLogger(__name__)

Row = dict[str, Any]
_RG = re.compile(r"/resourcegroups/([^/]+)/", re.IGNORECASE)


def resource_group(resource_id: str) -> str:
    match = _RG.search(resource_id)
    return match.group(1).lower() if match else ""


def text(value: Any) -> str:
    return "" if value is None else str(value)


def tags_of(item: dict[str, Any]) -> dict[str, str]:
    tags = item.get("tags")
    return {str(k): text(v) for k, v in tags.items()} if isinstance(tags, dict) else {}


def as_dict(value: Any) -> dict[str, Any]:
    return value if isinstance(value, dict) else {}


def properties_of(item: dict[str, Any]) -> dict[str, Any]:
    return as_dict(item.get("properties"))


def resource_id_of(item: dict[str, Any]) -> str | None:
    resource_id = item.get("id")
    if not isinstance(resource_id, str) or not resource_id.lower().startswith("/subscriptions/"):
        return None
    return resource_id.lower()


def fetch(
    clients: AzureClients,
    path: str,
    api_version: str,
    what: str,
    parse: Callable[[dict[str, Any], str], Row | None],
    parent: str,
) -> Iterator[Row]:
    for item in list_all(clients.resources, url(clients.settings.arm_endpoint, path, api_version), what):
        row = parse(item, parent)
        if row is None:
            log.warning("%s: skipped an item without a resource ID (expected '/subscriptions/...'): %r", what, item)
        else:
            yield row
