"""Request handling: ARM routes, authentication, faults, paging, and the admin endpoints.

Transport-free (server.py owns sockets and TLS), so every rule here is plain Python:
a `Request` goes in, a `Response` comes out.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
import threading
import time
import uuid
from collections import OrderedDict, defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from http import HTTPStatus
from typing import Any

from . import arm, foundry
from .costs import CostRecord
from .faults import BODY_FAULTS, Faults, spoiled_body
from .inventory import WORKSPACE_TYPE, SaasResource, ServerlessEndpoint, Workspace
from .metrics import NAMESPACE, MetricsError, batch_entry, metrics_body, parse_metrics_request
from .query import QueryError, QueryPlan, execute, fingerprint, parse_query, shuffled
from .quota import COMPUTE_PROVIDER, FOUNDRY_PROVIDER, ML_PROVIDER, Usage
from .stats import Stats
from .tenant import Tenant
from .throttle import QpuMeter, Verdict, retry_after_header
from .traffic import Series
from .wire import dumps

JSON = dict[str, Any]
ADMIN_PREFIX = "/_emulator"


@dataclass
class Request:
    method: str
    path: str  # percent-decoded, without the query string
    query: dict[str, str]  # parameter names lower-cased (ARM treats them case-insensitively)
    headers: dict[str, str]  # names lower-cased
    body: bytes = b""
    host: str = "127.0.0.1"  # the Host header, used to build absolute nextLinks


@dataclass
class Response:
    status: int
    body: bytes | None = None
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False  # close the connection without answering
    route: str = "unknown"
    fault: str | None = None  # the fault that spoiled this answer (counted in stats instead of the status)


def json_response(status: int, payload: Any, headers: Mapping[str, str] | None = None) -> Response:
    return Response(status, dumps(payload), {"Content-Type": "application/json; charset=utf-8", **(headers or {})})


def error_response(status: int, code: str, message: str, headers: Mapping[str, str] | None = None) -> Response:
    return json_response(status, arm.error_body(code, message), headers)


def encode_token(payload: JSON) -> str:
    raw = json.dumps(payload, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode_token(token: str) -> JSON:
    try:
        payload = json.loads(base64.urlsafe_b64decode(token + "=" * (-len(token) % 4)))
    except (binascii.Error, ValueError):
        raise ValueError("malformed skip token") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("o"), int) or payload["o"] < 0:
        raise ValueError("malformed skip token")
    return payload


_SUB = r"/subscriptions/(?P<sub>[^/]+)"
_RG = _SUB + r"/resourceGroups/(?P<rg>[^/]+)"
_ML = r"/providers/Microsoft\.MachineLearningServices/workspaces"
_WS = _RG + _ML + r"/(?P<ws>[^/]+)"
_SAAS = r"/providers/Microsoft\.SaaS/resources"
_QUERY = r"/providers/Microsoft\.CostManagement/query"
_BILLING_ACCOUNT = r"/providers/Microsoft\.Billing/billingAccounts/(?P<account>[^/]+)"
_BILLING_PROFILE = _BILLING_ACCOUNT + r"/billingProfiles/(?P<profile>[^/]+)"
_MANAGEMENT_GROUP = r"/providers/Microsoft\.Management/managementGroups/(?P<group>[^/]+)"
# What Azure answers a cost query at a wide scope that will not work (faults.fail_wide_scope).
_WIDE_FAILURES = {
    400: (
        "BadRequest",
        "Invalid query definition: cost data is not available at scope '{scope}' for this agreement type.",
    ),
    403: (
        "AuthorizationFailed",
        "The client does not have authorization to perform action 'Microsoft.CostManagement/query/action' "
        "over scope '{scope}' or the scope is invalid.",
    ),
    404: ("NotFound", "The scope '{scope}' was not found."),
}
_ML_LOC = _SUB + r"/providers/Microsoft\.MachineLearningServices/locations/(?P<loc>[^/]+)"
_COMPUTE_LOC = _SUB + r"/providers/Microsoft\.Compute/locations/(?P<loc>[^/]+)"
_ONLINE = _WS + r"/onlineEndpoints/(?P<ep>[^/]+)"
_CS = r"/providers/Microsoft\.CognitiveServices/accounts"
_ACCOUNT = _RG + _CS + r"/(?P<account>[^/]+)"
_CS_LOC = _SUB + r"/providers/Microsoft\.CognitiveServices/locations/(?P<loc>[^/]+)"
_METRICS = r"/providers/Microsoft\.Insights/metrics"

Handler = Callable[[Request, dict[str, str]], Response]


@dataclass(frozen=True)
class _Live:
    """Indexes of the inventory `Tenant.step()` can change, swapped in as one object."""

    version: int
    children: Mapping[tuple[str, str], list[JSON]]  # (kind, parent ID lower) -> ARM objects
    saas: Mapping[str, SaasResource]  # lower-cased ID -> resource
    tags: Mapping[str, Mapping[str, str]]
    serverless: Mapping[str, ServerlessEndpoint]  # lower-cased ID -> endpoint


class EmulatorApi:
    """Answers ARM and admin requests for one tenant."""

    def __init__(
        self, tenant: Tenant, faults: Faults, stats: Stats, qpu: QpuMeter, sleep: Callable[[float], None] = time.sleep
    ) -> None:
        self.tenant = tenant
        self.faults = faults
        self.stats = stats
        self.qpu = qpu
        self._sleep = sleep
        self._index()
        self._cache: OrderedDict[tuple[str, int, bool], list[list[Any]]] = OrderedDict()
        self._cache_lock = threading.Lock()
        routes: list[tuple[str, str, str, Handler]] = [
            ("GET", r"/subscriptions", "subscriptions", self._list_subscriptions),
            ("GET", _SUB, "subscription", self._get_subscription),
            ("GET", _SUB + r"/resourceGroups", "resource_groups", self._list_resource_groups),
            ("GET", _SUB + r"/resources", "resources", self._list_resources),
            ("GET", _SUB + _ML, "workspaces", self._list_workspaces),
            ("GET", _RG + _ML, "workspaces", self._list_workspaces),
            ("GET", _WS, "workspace", self._get_workspace),
            ("GET", _WS + r"/marketplaceSubscriptions", "marketplace_subscriptions", self._list_children),
            ("GET", _WS + r"/marketplaceSubscriptions/(?P<name>[^/]+)", "marketplace_subscription", self._get_child),
            ("GET", _WS + r"/serverlessEndpoints", "serverless_endpoints", self._list_children),
            ("GET", _WS + r"/serverlessEndpoints/(?P<name>[^/]+)", "serverless_endpoint", self._get_child),
            ("GET", _WS + r"/connections", "connections", self._list_children),
            ("GET", _WS + r"/onlineEndpoints", "online_endpoints", self._list_children),
            ("GET", _WS + r"/onlineEndpoints/(?P<name>[^/]+)", "online_endpoint", self._get_child),
            ("GET", _ONLINE + r"/deployments", "online_deployments", self._list_deployments),
            ("GET", _ONLINE + r"/deployments/(?P<name>[^/]+)", "online_deployment", self._get_deployment),
            ("GET", _WS + r"/serverlessEndpoints/(?P<name>[^/]+)" + _METRICS, "metrics", self._metrics),
            # Azure Monitor's data plane (https://<region>.metrics.monitor.azure.com), served here too.
            ("POST", _SUB + r"/metrics:getBatch", "metrics_batch", self._metrics_batch),
            ("GET", _ML_LOC + r"/usages", "ml_usages", self._ml_usages),
            ("GET", _ML_LOC + r"/quotas", "ml_quotas", self._ml_quotas),
            ("GET", _COMPUTE_LOC + r"/usages", "compute_usages", self._compute_usages),
            ("GET", _CS_LOC + r"/usages", "foundry_usages", self._foundry_usages),
            ("GET", _SUB + _CS, "foundry_accounts", self._list_accounts),
            ("GET", _RG + _CS, "foundry_accounts", self._list_accounts),
            ("GET", _ACCOUNT, "foundry_account", self._get_account),
            ("GET", _ACCOUNT + r"/projects", "foundry_projects", self._list_account_children),
            ("GET", _ACCOUNT + r"/projects/(?P<name>[^/]+)", "foundry_project", self._get_account_child),
            ("GET", _ACCOUNT + r"/deployments", "foundry_deployments", self._list_account_children),
            ("GET", _ACCOUNT + r"/deployments/(?P<name>[^/]+)", "foundry_deployment", self._get_account_child),
            ("GET", _SUB + _SAAS, "saas_resources", self._list_saas),
            ("GET", _RG + _SAAS, "saas_resources", self._list_saas),
            ("GET", _RG + _SAAS + r"/(?P<name>[^/]+)", "saas_resource", self._get_saas),
            ("POST", _SUB + _QUERY, "cost_query", self._cost_query),
            ("POST", _RG + _QUERY, "cost_query", self._cost_query),
            ("POST", _BILLING_ACCOUNT + _QUERY, "cost_query", self._wide_cost_query),
            ("POST", _BILLING_PROFILE + _QUERY, "cost_query", self._wide_cost_query),
            ("POST", _MANAGEMENT_GROUP + _QUERY, "cost_query", self._wide_cost_query),
        ]
        # ARM paths are case-insensitive.
        self._routes = [(m, re.compile(p, re.IGNORECASE), name, h) for m, p, name, h in routes]

    # --- indexes ------------------------------------------------------------------

    def _index(self) -> None:
        t = self.tenant
        self._subs = {s.subscription_id: s for s in t.subscriptions}
        self._workspaces: dict[str, list[Workspace]] = defaultdict(list)
        self._workspace_by_key: dict[tuple[str, str, str], Workspace] = {}
        self._groups: dict[str, dict[str, str]] = defaultdict(dict)  # sub -> rg lower -> location
        for w in t.workspaces:
            self._workspaces[w.subscription_id].append(w)
            self._workspace_by_key[(w.subscription_id, w.resource_group.lower(), w.name.lower())] = w
            self._groups[w.subscription_id].setdefault(w.resource_group.lower(), w.location)
        for st in t.storage_accounts:
            self._groups[st.subscription_id].setdefault(st.resource_group.lower(), st.location)
        for a in t.foundry_accounts:
            self._groups[a.subscription_id].setdefault(a.resource_group.lower(), a.location)
        self._accounts = {a.id.lower(): a for a in t.foundry_accounts}
        self._group_names = {(w.subscription_id, w.resource_group.lower()): w.resource_group for w in t.workspaces}
        self._group_names |= {
            (s.subscription_id, s.resource_group.lower()): s.resource_group for s in t.storage_accounts
        }
        self._group_names |= {
            (a.subscription_id, a.resource_group.lower()): a.resource_group for a in t.foundry_accounts
        }
        self._live_lock = threading.Lock()
        self._live = self._index_live()

    def _index_live(self) -> _Live:
        t = self.tenant
        version = t.inventory_version  # read first: a step meanwhile makes the next request re-index
        children: dict[tuple[str, str], list[JSON]] = defaultdict(list)
        for m in t.marketplace_subscriptions:
            children[("marketplacesubscriptions", m.workspace_id.lower())].append(arm.marketplace_subscription_json(m))
        for e in t.serverless_endpoints:
            children[("serverlessendpoints", e.workspace_id.lower())].append(
                arm.serverless_endpoint_json(e, t.tenant_id)
            )
        names: dict[str, list[str]] = defaultdict(list)
        for d in t.online_deployments:
            children[("deployments", d.endpoint_id.lower())].append(arm.online_deployment_json(d))
            names[d.endpoint_id.lower()].append(d.name)
        for o in t.online_endpoints:
            children[("onlineendpoints", o.workspace_id.lower())].append(
                arm.online_endpoint_json(o, t.tenant_id, names[o.id.lower()])
            )
        by_name = {w.name: w for w in t.workspaces}
        for account in t.foundry_accounts:
            holder = by_name.get(account.connected_from)
            if holder is not None:
                children[("connections", holder.id.lower())].append(account.connection_json(holder.id))
        for w in t.workspaces:  # every workspace's storage connection: not a model's, never attributed by
            children[("connections", w.id.lower())].append(arm.storage_connection_json(w))
        return _Live(
            version,
            children,
            {s.id.lower(): s for s in t.saas_resources},
            {s.id.lower(): s.tags for s in t.saas_resources},
            {e.id.lower(): e for e in t.serverless_endpoints},
        )

    def _current(self) -> _Live:
        """The inventory indexes, rebuilt after the tenant's inventory changed."""
        live = self._live
        if live.version != self.tenant.inventory_version:
            with self._live_lock:
                if self._live.version != self.tenant.inventory_version:
                    self._live = self._index_live()
                live = self._live
        return live

    def _resource_tags(self, resource_id: str) -> Mapping[str, str]:
        return self._current().tags.get(resource_id, {})

    # --- entry point --------------------------------------------------------------

    def handle(self, request: Request) -> Response:
        """Answer one request and count it in `stats`."""
        path = request.path.rstrip("/") or "/"
        if path.lower() == ADMIN_PREFIX or path.lower().startswith(ADMIN_PREFIX + "/"):
            response = self._admin(request, path)
        else:
            response = self._arm(request, path)
        self.stats.record(
            response.route,
            "reset" if response.reset else response.fault or response.status,
            request.headers.get("user-agent", ""),
            request.headers.get("clienttype", ""),
        )
        return response

    def _arm(self, request: Request, path: str) -> Response:
        route, handler, params, known_path = self._match(request.method, path)
        response = self._arm_answer(request, path, route, handler, params, known_path)
        if response.status == 200 and response.body and not response.reset:
            kind = self.faults.take_answer_fault(path, BODY_FAULTS)
            if kind is not None:
                response.body = spoiled_body(kind, response.body)
                response.headers["Content-Type"] = "application/json; charset=utf-8"
                response.fault = kind
        response.route = route
        response.headers.setdefault("x-ms-request-id", str(uuid.uuid4()))
        if route == "cost_query" and not response.reset:
            for name, value in self.qpu.peek().headers().items():
                response.headers.setdefault(name, value)
        return response

    def _arm_answer(
        self, request: Request, path: str, route: str, handler: Handler | None, params: dict[str, str], known_path: bool
    ) -> Response:
        token = request.headers.get("authorization", "")
        if not token.lower().startswith("bearer ") or not token[7:].strip():
            return self._unauthorized(
                "AuthenticationFailed",
                "Authentication failed. The 'Authorization' header is missing or is not a bearer token.",
            )
        decision = self.faults.decide(path)
        if decision.expired:
            return self._unauthorized(
                "ExpiredAuthenticationToken",
                "The access token expiry UTC time is earlier than current UTC time.",
            )
        if decision.delay > 0:
            self._sleep(decision.delay)
        if decision.reset:
            return Response(0, reset=True)
        if decision.status is not None:
            code = HTTPStatus(decision.status).phrase.replace(" ", "")
            return error_response(decision.status, code, "Injected error; please retry.")
        if decision.throttle is not None:
            kind, seconds = decision.throttle
            return error_response(
                429, "429", "Too many requests. Please retry.", {retry_after_header(kind): str(seconds)}
            )
        if decision.no_content:
            return Response(204)
        if handler is None:
            if known_path:
                return error_response(
                    405, "MethodNotAllowed", f"The method '{request.method}' is not allowed for '{path}'."
                )
            return error_response(404, "NotFound", f"No route for '{request.method} {path}' in the emulator.")
        if not request.query.get("api-version"):
            return error_response(
                400,
                "MissingApiVersionParameter",
                "The api-version query parameter (?api-version=) is required for all requests.",
            )
        return handler(request, params)

    def _match(self, method: str, path: str) -> tuple[str, Handler | None, dict[str, str], bool]:
        known = False
        for route_method, pattern, name, handler in self._routes:
            match = pattern.fullmatch(path)
            if match is None:
                continue
            if route_method == method:
                return name, handler, match.groupdict(), True
            known = True
        return "unknown", None, {}, known

    def _unauthorized(self, code: str, message: str) -> Response:
        authority = f"https://login.microsoftonline.com/{self.tenant.tenant_id}"
        challenge = f'Bearer authorization_uri="{authority}", error="invalid_token"'
        return error_response(401, code, message, {"WWW-Authenticate": challenge})

    # --- lookups ------------------------------------------------------------------

    def _subscription_or_404(self, sub: str) -> Response | str:
        if sub.lower() not in self._subs:
            return error_response(404, "SubscriptionNotFound", f"The subscription '{sub}' could not be found.")
        return sub.lower()

    def _group_or_404(self, sub: str, rg: str | None) -> Response | None:
        if rg is not None and rg.lower() not in self._groups[sub]:
            return error_response(404, "ResourceGroupNotFound", f"Resource group '{rg}' could not be found.")
        return None

    def _scope_or_404(self, params: dict[str, str]) -> Response | tuple[str, str | None]:
        """The subscription (lower-cased) and the resource group, if any, a list route is asked for."""
        found = self._subscription_or_404(params["sub"])
        if isinstance(found, Response):
            return found
        rg = params.get("rg")
        missing = self._group_or_404(found, rg)
        return missing if missing is not None else (found, rg)

    def _workspace_or_404(self, params: dict[str, str]) -> Response | Workspace:
        found = self._subscription_or_404(params["sub"])
        if isinstance(found, Response):
            return found
        missing = self._group_or_404(found, params["rg"])
        if missing is not None:
            return missing
        ws = self._workspace_by_key.get((found, params["rg"].lower(), params["ws"].lower()))
        if ws is None:
            return error_response(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.MachineLearningServices/workspaces/{params['ws']}' "
                f"under resource group '{params['rg']}' was not found.",
            )
        return ws

    # --- inventory routes -----------------------------------------------------------

    def _paged(self, request: Request, path: str, items: list[JSON]) -> Response:
        """An ARM list page; `nextLink` is null on the last page."""
        try:
            start = decode_token(request.query["$skiptoken"])["o"] if "$skiptoken" in request.query else 0
        except ValueError as exc:
            return error_response(400, "InvalidSkipToken", str(exc))
        size = self.tenant.spec.page_size

        def link(token: str) -> str:
            return f"https://{request.host}{path}?api-version={request.query['api-version']}&$skipToken={token}"

        next_link = link(encode_token({"o": start + size})) if start + size < len(items) else None
        page, next_link, fault = self._page_faults(request, items, start, next_link, link)
        response = json_response(200, {"value": page, "nextLink": next_link})
        response.fault = fault
        return response

    def _page_faults(
        self,
        request: Request,
        rows: list[Any],
        offset: int,
        next_link: str | None,
        link: Callable[[str], str],
    ) -> tuple[list[Any], str | None, str | None]:
        """One page of `rows` from `offset`, its nextLink, and the page fault that spoiled them, if any.

        repeat_next_link: a page asked for with a skiptoken links to that same skiptoken.
        duplicate_rows: the page also ends with the first row of the page before it (a first page
        repeats its own last row instead).
        """
        page = rows[offset : offset + self.tenant.spec.page_size]
        path = request.path.rstrip("/") or "/"
        fault = None
        token = request.query.get("$skiptoken")
        if token and self.faults.take_answer_fault(path, ("repeat_next_link",)):
            next_link, fault = link(token), "repeat_next_link"
        previous = offset - self.tenant.spec.page_size
        extra = rows[previous] if offset > 0 and 0 <= previous < len(rows) else page[-1] if page else None
        if extra is not None and self.faults.take_answer_fault(path, ("duplicate_rows",)):
            page, fault = [*page, extra], "duplicate_rows"
        return page, next_link, fault

    def _list_subscriptions(self, request: Request, params: dict[str, str]) -> Response:
        items = [arm.subscription_json(s, self.tenant.tenant_id) for s in self.tenant.subscriptions]
        return self._paged(request, "/subscriptions", items)

    def _get_subscription(self, request: Request, params: dict[str, str]) -> Response:
        found = self._subscription_or_404(params["sub"])
        if isinstance(found, Response):
            return found
        return json_response(200, arm.subscription_json(self._subs[found], self.tenant.tenant_id))

    def _list_resource_groups(self, request: Request, params: dict[str, str]) -> Response:
        found = self._subscription_or_404(params["sub"])
        if isinstance(found, Response):
            return found
        items = []
        for rg_lower, location in sorted(self._groups[found].items()):
            name = self._group_names[(found, rg_lower)]
            items.append(
                {
                    "id": f"/subscriptions/{found}/resourceGroups/{name}",
                    "name": name,
                    "type": "Microsoft.Resources/resourceGroups",
                    "location": location,
                    "properties": {"provisioningState": "Succeeded"},
                }
            )
        return self._paged(request, request.path, items)

    def _list_resources(self, request: Request, params: dict[str, str]) -> Response:
        found = self._subscription_or_404(params["sub"])
        if isinstance(found, Response):
            return found
        wanted = None
        raw_filter = request.query.get("$filter")
        if raw_filter:
            match = re.fullmatch(r"\s*resourceType\s+eq\s+'([^']+)'\s*", raw_filter, re.IGNORECASE)
            if match is None:
                return error_response(
                    400,
                    "InvalidFilterInQueryString",
                    f"Unsupported $filter '{raw_filter}'; the emulator knows \"resourceType eq '<type>'\".",
                )
            wanted = match.group(1).lower()
        items = [
            arm.generic_resource_json(w.id, w.name, WORKSPACE_TYPE, w.location, dict(w.tags), w.kind)
            for w in self._workspaces[found]
        ]
        items += [
            arm.generic_resource_json(s.id, s.name, "Microsoft.SaaS/resources", "global", dict(s.tags))
            for s in self.tenant.saas_resources
            if s.subscription_id == found
        ]
        items += [arm.storage_generic_json(st) for st in self.tenant.storage_accounts if st.subscription_id == found]
        items += [
            arm.generic_resource_json(a.id, a.name, foundry.ACCOUNT_TYPE, a.location, dict(a.tags), a.kind)
            for a in self.tenant.foundry_accounts
            if a.subscription_id == found
        ]
        if wanted is not None:
            items = [i for i in items if i["type"].lower() == wanted]
        return self._paged(request, request.path, items)

    def _list_workspaces(self, request: Request, params: dict[str, str]) -> Response:
        scope = self._scope_or_404(params)
        if isinstance(scope, Response):
            return scope
        found, rg = scope
        items = [
            arm.workspace_json(w, self.tenant.tenant_id)
            for w in self._workspaces[found]
            if rg is None or w.resource_group.lower() == rg.lower()
        ]
        return self._paged(request, request.path, items)

    def _get_workspace(self, request: Request, params: dict[str, str]) -> Response:
        ws = self._workspace_or_404(params)
        if isinstance(ws, Response):
            return ws
        return json_response(200, arm.workspace_json(ws, self.tenant.tenant_id))

    def _child_kind(self, path: str) -> str:
        return path.rstrip("/").split("/")[9].lower()  # the segment after workspaces/{ws}

    def _list_children(self, request: Request, params: dict[str, str]) -> Response:
        ws = self._workspace_or_404(params)
        if isinstance(ws, Response):
            return ws
        items = self._current().children.get((self._child_kind(request.path), ws.id.lower()), [])
        return self._paged(request, request.path, items)

    def _get_child(self, request: Request, params: dict[str, str]) -> Response:
        ws = self._workspace_or_404(params)
        if isinstance(ws, Response):
            return ws
        kind = self._child_kind(request.path)
        for item in self._current().children.get((kind, ws.id.lower()), []):
            if item["name"].lower() == params["name"].lower():
                return json_response(200, item)
        return error_response(
            404, "ResourceNotFound", f"The {kind} '{params['name']}' of workspace '{ws.name}' was not found."
        )

    def _list_saas(self, request: Request, params: dict[str, str]) -> Response:
        scope = self._scope_or_404(params)
        if isinstance(scope, Response):
            return scope
        found, rg = scope
        version = request.query["api-version"]
        items = [
            arm.saas_resource_json(s, version)
            for s in self.tenant.saas_resources
            if s.subscription_id == found and (rg is None or s.resource_group.lower() == rg.lower())
        ]
        return self._paged(request, request.path, items)

    def _get_saas(self, request: Request, params: dict[str, str]) -> Response:
        found = self._subscription_or_404(params["sub"])
        if isinstance(found, Response):
            return found
        group = f"/subscriptions/{found}/resourcegroups/{params['rg']}"
        saas = self._current().saas.get(f"{group}/providers/microsoft.saas/resources/{params['name']}".lower())
        if saas is None:
            return error_response(
                404, "ResourceNotFound", f"The Resource 'Microsoft.SaaS/resources/{params['name']}' was not found."
            )
        return json_response(200, arm.saas_resource_json(saas, request.query["api-version"]))

    def _online_endpoint_or_404(self, params: dict[str, str]) -> Response | str:
        """The online endpoint's ID (lower-cased) for a deployments route."""
        ws = self._workspace_or_404(params)
        if isinstance(ws, Response):
            return ws
        wanted = f"{ws.id}/onlineEndpoints/{params['ep']}".lower()
        for item in self._current().children.get(("onlineendpoints", ws.id.lower()), []):
            if item["id"].lower() == wanted:
                return wanted
        return error_response(
            404, "ResourceNotFound", f"The online endpoint '{params['ep']}' of workspace '{ws.name}' was not found."
        )

    def _list_deployments(self, request: Request, params: dict[str, str]) -> Response:
        endpoint = self._online_endpoint_or_404(params)
        if isinstance(endpoint, Response):
            return endpoint
        return self._paged(request, request.path, self._current().children.get(("deployments", endpoint), []))

    def _get_deployment(self, request: Request, params: dict[str, str]) -> Response:
        endpoint = self._online_endpoint_or_404(params)
        if isinstance(endpoint, Response):
            return endpoint
        for item in self._current().children.get(("deployments", endpoint), []):
            if item["name"].lower() == params["name"].lower():
                return json_response(200, item)
        return error_response(
            404,
            "ResourceNotFound",
            f"The deployment '{params['name']}' of online endpoint '{params['ep']}' was not found.",
        )

    # --- Foundry resources ----------------------------------------------------------------

    def _list_accounts(self, request: Request, params: dict[str, str]) -> Response:
        scope = self._scope_or_404(params)
        if isinstance(scope, Response):
            return scope
        found, rg = scope
        items = [
            foundry.account_json(a)
            for a in self.tenant.foundry_accounts
            if a.subscription_id == found and (rg is None or a.resource_group.lower() == rg.lower())
        ]
        return self._paged(request, request.path, items)

    def _account_or_404(self, params: dict[str, str]) -> Response | foundry.FoundryAccount:
        found = self._subscription_or_404(params["sub"])
        if isinstance(found, Response):
            return found
        missing = self._group_or_404(found, params["rg"])
        if missing is not None:
            return missing
        wanted = (
            f"/subscriptions/{found}/resourcegroups/{params['rg']}/providers/{foundry.ACCOUNT_TYPE}/{params['account']}"
        )
        account = self._accounts.get(wanted.lower())
        if account is None:
            return error_response(
                404,
                "ResourceNotFound",
                f"The Resource '{foundry.ACCOUNT_TYPE}/{params['account']}' under resource group "
                f"'{params['rg']}' was not found.",
            )
        return account

    def _get_account(self, request: Request, params: dict[str, str]) -> Response:
        account = self._account_or_404(params)
        return account if isinstance(account, Response) else json_response(200, foundry.account_json(account))

    def _account_children(self, request: Request, account: foundry.FoundryAccount) -> tuple[str, list[JSON]]:
        kind = request.path.rstrip("/").split("/")[9].lower()  # projects | deployments
        if kind == "projects":
            return kind, [foundry.project_json(account, p) for p in account.projects]
        return kind, [foundry.deployment_json(account, d) for d in account.deployments]

    def _list_account_children(self, request: Request, params: dict[str, str]) -> Response:
        account = self._account_or_404(params)
        if isinstance(account, Response):
            return account
        return self._paged(request, request.path, self._account_children(request, account)[1])

    def _get_account_child(self, request: Request, params: dict[str, str]) -> Response:
        account = self._account_or_404(params)
        if isinstance(account, Response):
            return account
        kind, items = self._account_children(request, account)
        for item in items:
            if item["id"].rsplit("/", 1)[-1].lower() == params["name"].lower():
                return json_response(200, item)
        return error_response(
            404, "ResourceNotFound", f"The {kind[:-1]} '{params['name']}' of '{account.name}' was not found."
        )

    def _foundry_usages(self, request: Request, params: dict[str, str]) -> Response:
        return self._usages(request, params, FOUNDRY_PROVIDER, arm.compute_usage_json)

    # --- quota ----------------------------------------------------------------------------

    def _usages(
        self,
        request: Request,
        params: dict[str, str],
        provider: str,
        shape: Callable[[Usage], JSON],
        totals: bool = True,
        breakdown: bool = False,
    ) -> Response:
        found = self._subscription_or_404(params["sub"])
        if isinstance(found, Response):
            return found
        # An unknown region answers an empty list, as Azure does for a region without quota.
        usages = self.tenant.quota_usages(found, params["loc"], provider)
        listed = [
            line
            for u in usages
            if totals or not u.is_total
            for line in [u, *(self.tenant.quota_breakdown(u) if breakdown else [])]
        ]
        return self._paged(request, request.path, [shape(u) for u in listed])

    def _ml_usages(self, request: Request, params: dict[str, str]) -> Response:
        # Azure ML lists each family's workspace shares right after its line, with the same name.
        return self._usages(request, params, ML_PROVIDER, arm.ml_usage_json, breakdown=True)

    def _ml_quotas(self, request: Request, params: dict[str, str]) -> Response:
        # The quotas list has the families only: the regional total is not a quota of its own.
        return self._usages(request, params, ML_PROVIDER, arm.ml_quota_json, totals=False)

    def _compute_usages(self, request: Request, params: dict[str, str]) -> Response:
        return self._usages(request, params, COMPUTE_PROVIDER, arm.compute_usage_json)

    # --- metrics --------------------------------------------------------------------------

    def _metrics(self, request: Request, params: dict[str, str]) -> Response:
        ws = self._workspace_or_404(params)
        if isinstance(ws, Response):
            return ws
        endpoint = self._current().serverless.get(f"{ws.id}/serverlessEndpoints/{params['name']}".lower())
        if endpoint is None:
            return error_response(
                404,
                "ResourceNotFound",
                f"The Resource 'Microsoft.MachineLearningServices/workspaces/{ws.name}/serverlessEndpoints/"
                f"{params['name']}' under resource group '{ws.resource_group}' was not found.",
            )
        if self.faults.no_serverless_metrics:
            return self._no_metrics(request)
        try:
            wanted = parse_metrics_request(request.query, datetime.fromtimestamp(self.tenant.clock(), UTC))
        except MetricsError as exc:
            return error_response(400, "BadRequest", str(exc))
        series = self.tenant.traffic_series(endpoint, wanted.first_minute, wanted.end_minute)
        body = metrics_body(endpoint.id, endpoint.location, wanted, series)
        # Plain json: a metrics answer has no Decimals, and 80,000 points must encode fast.
        return Response(
            200, json.dumps(body, separators=(",", ":")).encode(), {"Content-Type": "application/json; charset=utf-8"}
        )

    def _metrics_batch(self, request: Request, params: dict[str, str]) -> Response:
        """metrics:getBatch: up to 50 resources of one subscription, region and namespace per call."""
        found = self._subscription_or_404(params["sub"])
        if isinstance(found, Response):
            return found
        try:
            ids = json.loads(request.body or b"null")["resourceids"]
        except (ValueError, KeyError, TypeError):
            ids = None
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            return json_response(400, {"code": "BadRequest", "message": 'Expected a body {"resourceids": [...]}.'})
        if not 1 <= len(ids) <= 50:
            return json_response(400, {"code": "BadRequest", "message": "Between 1 and 50 resource IDs per batch."})
        namespace = (request.query.get("metricnamespace") or "").lower()
        if namespace == foundry.METRICS_NAMESPACE.lower():
            return self._foundry_metrics_batch(request, found, ids)
        if namespace != NAMESPACE.lower():
            expected = f"{NAMESPACE} or {foundry.METRICS_NAMESPACE}"
            return json_response(
                400, {"code": "BadRequest", "message": f"Unknown metricnamespace; expected {expected}."}
            )
        if self.faults.no_serverless_metrics:
            return self._no_metrics(request)
        try:
            wanted = parse_metrics_request(request.query, datetime.fromtimestamp(self.tenant.clock(), UTC))
        except MetricsError as exc:
            return json_response(400, {"code": "BadRequest", "message": str(exc)})
        current = self._current().serverless
        entries, regions = [], set()
        for resource_id in ids:
            endpoint = current.get(resource_id.lower())
            if endpoint is None or not resource_id.lower().startswith(f"/subscriptions/{found}/"):
                return json_response(
                    400, {"code": "BadRequest", "message": f"Resource {resource_id} was not found in the subscription."}
                )
            regions.add(endpoint.location.lower())
            series = self.tenant.traffic_series(endpoint, wanted.first_minute, wanted.end_minute)
            entries.append(batch_entry(endpoint.id, endpoint.location, wanted, series))
        if len(regions) > 1:
            return json_response(
                400, {"code": "BadRequest", "message": "All resources of a batch must be in one region."}
            )
        return Response(
            200,
            json.dumps({"values": entries}, separators=(",", ":")).encode(),
            {"Content-Type": "application/json; charset=utf-8"},
        )

    def _foundry_metrics_batch(self, request: Request, subscription_id: str, ids: list[str]) -> Response:
        """metrics:getBatch of Foundry resources: each metric whole, or split by ModelDeploymentName
        (filter "ModelDeploymentName eq '*'"), one series per deployment with traffic."""
        raw_filter = (request.query.get("filter") or "").strip()
        split = re.fullmatch(rf"{foundry.DIMENSION}\s+eq\s+'\*'", raw_filter, re.IGNORECASE) is not None
        if raw_filter and not split:
            message = f"Unsupported filter '{raw_filter}'; the emulator knows \"{foundry.DIMENSION} eq '*'\"."
            return json_response(400, {"code": "BadRequest", "message": message})
        try:
            now = datetime.fromtimestamp(self.tenant.clock(), UTC)
            wanted = parse_metrics_request(request.query, now, foundry.METRICS_NAMESPACE)
        except MetricsError as exc:
            return json_response(400, {"code": "BadRequest", "message": str(exc)})
        entries, regions = [], set()
        for resource_id in ids:
            account = self._accounts.get(resource_id.lower())
            if account is None or account.subscription_id != subscription_id:
                message = f"Resource {resource_id} was not found in the subscription."
                return json_response(400, {"code": "BadRequest", "message": message})
            regions.add(account.location.lower())
            parts = [
                (d.name, self.tenant.foundry_series(account, d, wanted.first_minute, wanted.end_minute))
                for d in account.deployments
            ]
            available = min(wanted.end_minute, self.tenant.last_metrics_minute() + 1)
            count = max(available - wanted.first_minute, 0)

            def summed(field: str, parts: list[tuple[str, Series]] = parts, count: int = count) -> list[int]:
                return [sum(getattr(p, field)[k] for _, p in parts) for k in range(count)]

            # Unsplit, an account's utilization is its busiest provisioned deployment's, minute by minute.
            used = [p.utilization for _, p in parts if p.utilization is not None]
            whole = Series(
                wanted.first_minute,
                summed("input_tokens"),
                summed("output_tokens"),
                summed("requests"),
                [max(values) for values in zip(*used, strict=True)] if used else None,
            )
            entries.append(
                batch_entry(
                    account.id,
                    account.location,
                    wanted,
                    whole,
                    namespace=foundry.METRICS_NAMESPACE,
                    split=parts if split else None,
                    dimension=foundry.DIMENSION,
                )
            )
        if len(regions) > 1:
            return json_response(
                400, {"code": "BadRequest", "message": "All resources of a batch must be in one region."}
            )
        return Response(
            200,
            json.dumps({"values": entries}, separators=(",", ":")).encode(),
            {"Content-Type": "application/json; charset=utf-8"},
        )

    def _no_metrics(self, request: Request) -> Response:
        # Azure Monitor's answer for a metric a resource type does not have, its code and message at the
        # top level (as quoted in Azure/azure-sdk-for-net#29584, for another resource type).
        names = request.query.get("metricnames", "")
        message = (
            "Failed to find metric configuration for provider: Microsoft.MachineLearningServices, "
            f"resource Type: workspaces/serverlessEndpoints, metric: {names.split(',')[0]}, Valid metrics: "
        )
        return json_response(400, {"code": "BadRequest", "message": message})

    # --- cost query ---------------------------------------------------------------------

    def _cost_query(self, request: Request, params: dict[str, str]) -> Response:
        asked = self._scope_or_404(params)
        if isinstance(asked, Response):
            return asked
        found, rg = asked
        scope = f"/subscriptions/{found}" + (f"/resourceGroups/{rg}" if rg else "")
        failure = self.faults.subscription_failure(found, request.path)
        if failure is not None:
            return error_response(
                failure,
                "AuthorizationFailed",
                "The client does not have authorization to perform action 'Microsoft.CostManagement/query/action' "
                f"over scope '{scope}' or the scope is invalid. "
                "If access was recently granted, please refresh your credentials.",
            )
        return self._answer_query(request, scope, [found], rg)

    def _wide_cost_query(self, request: Request, params: dict[str, str]) -> Response:
        """A billing account, billing profile or management group: every subscription it holds."""
        t = self.tenant
        if "group" in params:
            scope = f"/providers/Microsoft.Management/managementGroups/{params['group']}"
            known = params["group"].lower() == t.management_group_id.lower()
            subs = [s.subscription_id for s in t.subscriptions if s.subscription_id in t.management_group]
        else:
            scope = f"/providers/Microsoft.Billing/billingAccounts/{params['account']}"
            known = params["account"].lower() == t.billing_account_id.lower()
            if "profile" in params:
                scope += f"/billingProfiles/{params['profile']}"
                known = known and params["profile"].lower() == t.billing_profile_id.lower()
            held = t.billing_profile if "profile" in params else {s.subscription_id for s in t.subscriptions}
            subs = [s.subscription_id for s in t.subscriptions if s.subscription_id in held]
        if not known:
            return error_response(404, "NotFound", f"The scope '{scope}' was not found.")
        failure = self.faults.wide_scope_failure()
        if failure is not None:
            code, message = _WIDE_FAILURES[failure]
            return error_response(failure, code, message.format(scope=scope))
        # Learn, "Understand and work with scopes": on an Enterprise Agreement a management group's
        # costs "don't include purchases such as reservations and third-party Marketplace offerings".
        return self._answer_query(request, scope, subs, None, marketplace="group" not in params)

    def _answer_query(
        self, request: Request, scope: str, subs: list[str], rg: str | None, marketplace: bool = True
    ) -> Response:
        try:
            body = json.loads(request.body or b"null")
            plan = parse_query(body, self.tenant.today, self.tenant.spec.max_groupings)
        except ValueError as exc:  # QueryError, or JSON that does not parse
            message = (
                str(exc)
                if isinstance(exc, QueryError)
                else f"Invalid query definition: the body is not valid JSON ({exc})"
            )
            return error_response(400, "BadRequest", message)
        query_id = fingerprint(scope, body)
        offset = 0
        if "$skiptoken" in request.query:
            try:
                token = decode_token(request.query["$skiptoken"])
            except ValueError as exc:
                return error_response(400, "BadRequest", f"Invalid query definition: {exc}")
            if token.get("q") != query_id:
                return error_response(
                    400, "BadRequest", "Invalid query definition: the skiptoken belongs to another query"
                )
            offset = token["o"]
        verdict = self.qpu.charge(plan.months)
        if not verdict.allowed:
            return error_response(429, "429", "Too many requests. Please retry.", verdict.headers())
        return self._query_page(request, plan, scope, subs, rg, query_id, offset, verdict, marketplace)

    def _query_page(
        self,
        request: Request,
        plan: QueryPlan,
        scope: str,
        subs: list[str],
        rg: str | None,
        query_id: str,
        offset: int,
        verdict: Verdict,
        marketplace: bool,
    ) -> Response:
        rows = self._query_rows(plan, subs, rg, query_id, marketplace)
        size = self.tenant.spec.page_size
        # A billing account's nextLink carries another api-version than the query's, as in the
        # MCABillingAccountQueryGrouping spec example (2021-10-01 in a 2025-03-01 answer).
        api_version = "2021-10-01" if scope.startswith("/providers/Microsoft.Billing") else request.query["api-version"]

        def link(token: str) -> str:
            return f"https://{request.host}{scope}/providers/Microsoft.CostManagement/query?api-version={api_version}&$skiptoken={token}"

        next_link = link(encode_token({"o": offset + size, "q": query_id})) if offset + size < len(rows) else None
        page, next_link, fault = self._page_faults(request, rows, offset, next_link, link)
        columns = plan.columns
        if self.faults.shuffle_columns:
            columns, page = shuffled(columns, page)
        name = str(uuid.UUID(hex=query_id))
        payload = {
            "id": f"{scope}/providers/Microsoft.CostManagement/query/{name}",
            "name": name,
            "type": "microsoft.costmanagement/Query",
            "properties": {
                "nextLink": next_link,
                "columns": [{"name": n, "type": t} for n, t in columns],
                "rows": page,
            },
        }
        response = json_response(200, payload, verdict.headers())
        response.fault = fault
        return response

    def _query_rows(
        self, plan: QueryPlan, subs: list[str], rg: str | None, query_id: str, marketplace: bool
    ) -> list[list[Any]]:
        # Pages of one query share one computed answer, per ledger revision (restatement, calm).
        version, calmed = self.tenant.ledger.revision  # read once: a change meanwhile must not mix them
        key = (query_id, version, calmed)
        with self._cache_lock:
            if key in self._cache:
                self._cache.move_to_end(key)
                return self._cache[key]
        ledger = self.tenant.ledger
        records: Iterator[CostRecord] = (
            record
            for sub in subs
            for record in ledger.records(sub, plan.date_from, plan.date_to, version=version, calmed=calmed)
        )
        if rg is not None:
            records = (r for r in records if r.resource_group == rg.lower())
        if not marketplace:
            records = (r for r in records if r.publisher_type != "Marketplace")
        rows = execute(plan, records, self._resource_tags)
        with self._cache_lock:
            self._cache[key] = rows
            while len(self._cache) > 1 and (len(self._cache) > 32 or sum(map(len, self._cache.values())) > 500_000):
                self._cache.popitem(last=False)
        return rows

    # --- admin ------------------------------------------------------------------------

    def _admin(self, request: Request, path: str) -> Response:
        action = path.lower()[len(ADMIN_PREFIX) :].strip("/")
        method = request.method
        route = f"admin_{action or 'root'}"
        try:
            if action == "truth" and method == "GET":
                response = self._admin_truth(request)
            elif action == "restate" and method == "POST":
                response = json_response(200, {"version": self.tenant.restate()})
            elif action == "calm" and method == "POST":
                response = json_response(200, {"calmed": self.tenant.calm()})
            elif action == "step" and method == "POST":
                response = json_response(200, [_change_json(c) for c in self.tenant.step()])
            elif action == "changes" and method == "GET":
                response = json_response(200, [_change_json(c) for c in self.tenant.changes])
            elif action == "faults" and method == "POST":
                response = self._admin_faults(request)
            elif action == "faults" and method == "GET":
                response = json_response(200, self.faults.snapshot())
            elif action == "stats" and method == "GET":
                response = json_response(200, self.stats.snapshot())
            elif action == "stats" and method == "DELETE":
                self.stats.clear()
                response = json_response(200, {})
            elif action == "tenant" and method == "GET":
                response = json_response(200, self._admin_tenant())
            elif action == "health" and method == "GET":
                response = json_response(200, {"status": "ok"})
            else:
                response = error_response(404, "NotFound", f"No admin endpoint '{method} {path}'.")
        except ValueError as exc:
            response = error_response(400, "BadRequest", str(exc))
        response.route = route
        return response

    def _admin_truth(self, request: Request) -> Response:
        q = request.query
        by = [d.strip() for d in q.get("by", "project,model,meter,currency").split(",") if d.strip()]
        date_from = date.fromisoformat(q["from"]) if "from" in q else self.tenant.history_start
        date_to = date.fromisoformat(q["to"]) if "to" in q else self.tenant.history_end
        include_other = q.get("include_other", "0").lower() in ("1", "true", "yes")
        rows = self.tenant.truth(by, date_from, date_to, include_other=include_other)
        return json_response(200, [{k: str(v) if k == "cost" else v for k, v in row.items()} for row in rows])

    def _admin_faults(self, request: Request) -> Response:
        try:
            body = json.loads(request.body or b"null")
        except ValueError:
            raise ValueError('the body must be JSON: {"name": ..., "args": {...}}') from None
        if not isinstance(body, dict) or not isinstance(body.get("name"), str):
            raise ValueError('the body must be JSON: {"name": ..., "args": {...}}')
        args = body.get("args") or {}
        if not isinstance(args, dict):
            raise ValueError("args must be an object")
        self.faults.apply(body["name"], args)
        return json_response(200, self.faults.snapshot())

    def _admin_tenant(self) -> JSON:
        t = self.tenant
        return {
            "tenantId": t.tenant_id,
            "today": t.today.isoformat(),
            "historyStart": t.history_start.isoformat(),
            "historyEnd": t.history_end.isoformat(),
            "version": t.version,
            "quiet": t.spec.quiet,
            "anomaly": None if t.anomaly is None else {**t.anomaly, "day": t.anomaly["day"].isoformat()},
            "calmed": t.calmed,
            "throttledEndpointId": t.throttled_endpoint_id,
            "subscriptions": [
                {"subscriptionId": s.subscription_id, "displayName": s.display_name, "currency": s.currency}
                for s in t.subscriptions
            ],
            "projects": [{"name": w.name, "id": w.id, "hubResourceId": w.hub_id} for w in t.projects],
            "saasResources": [
                {
                    "id": s.id,
                    "trueProject": s.true_project,
                    "expectedProject": s.expected_project,
                    "expectedModel": s.expected_model,
                    "offerId": s.offer_id,
                }
                for s in t.saas_resources
            ],
            "onlineEndpoints": [{"id": o.id, "project": o.project, "model": o.model} for o in t.online_endpoints],
            "onlineDeployments": [
                {"id": d.id, "project": d.project, "instanceType": d.vm_size, "capacity": d.instance_count}
                for d in t.online_deployments
            ],
            "serverlessEndpoints": [
                {"id": e.id, "project": e.project, "traffic": e.traffic} for e in t.serverless_endpoints
            ],
            "changes": len(t.changes),
        }


def _change_json(change: Mapping[str, Any]) -> JSON:
    return {**change, "at": change["at"].isoformat()}
