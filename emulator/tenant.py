"""The synthetic tenant: subscriptions, AI Studio hubs and projects, Marketplace model
subscriptions with their SaaS resources and serverless endpoints, managed online endpoints
and their deployments, VM-core quota, per-minute traffic, plus the cost sources.

Everything is derived from `TenantSpec.seed`: the inventory from one `random.Random(seed)`
stream in a fixed order, the scale-out projects from per-subscription streams (so adding
them leaves the base tenant unchanged), the costs from per-resource streams (costs.py),
quota from per-scope streams (quota.py) and traffic from per-endpoint hashes (traffic.py).
`Tenant.step()` then walks a scripted timeline of inventory changes (timeline.py).

The default tenant holds the alerting scenarios (quota near its limits, traffic bursts, a
throttled endpoint, a cost anomaly on the last day that `Tenant.calm()` takes back); a
quiet one (`TenantSpec.quiet`) has the same structure with nothing to alert on.
"""

from __future__ import annotations

import random
import threading
import time as _time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from functools import cache
from typing import Any

from . import catalog, foundry, timeline, traffic
from .catalog import CATALOG, CatalogModel
from .costs import (
    MANAGED_COMPUTE_MODEL,
    UNATTRIBUTED,
    Anomaly,
    CostLedger,
    CostRecord,
    CostSource,
    MeterSpec,
    RefundSpec,
    add_months,
)
from .costs import is_final as _is_final
from .costs import truth as _truth
from .inventory import (
    ATTRIBUTION_TAG,
    SAAS_TYPE,
    WORKSPACE_TYPE,
    MarketplaceSubscription,
    OnlineDeployment,
    OnlineEndpoint,
    SaasResource,
    ServerlessEndpoint,
    StorageAccount,
    Subscription,
    Workspace,
    new_guid,
    offer_cased,
)
from .quota import COMPUTE_PROVIDER, ML_PROVIDER, QuotaBook, QuotaLine, Usage, build_quota_book
from .traffic import Series, epoch_minute, minute_start

__all__ = [
    "ATTRIBUTION_TAG",
    "SAAS_TYPE",
    "WORKSPACE_TYPE",
    "MarketplaceSubscription",
    "OnlineDeployment",
    "OnlineEndpoint",
    "SaasResource",
    "ServerlessEndpoint",
    "StorageAccount",
    "Subscription",
    "Tenant",
    "TenantSpec",
    "Workspace",
    "generate_tenant",
]


@dataclass(frozen=True)
class TenantSpec:
    """What to generate. Equal specs give equal tenants."""

    seed: int = 42
    today: date | None = None  # None: today in UTC
    history_months: int = 3
    subscriptions: int = 4  # the last one is billed in EUR, the others in USD
    extra_projects_per_subscription: int = 0
    # Scale knob for query planning: more (USD) subscriptions holding only one storage account each,
    # a few cost rows a day, from their own random streams (the rest of the tenant stays as it was).
    storage_only_subscriptions: int = 0
    # How many subscriptions (the first ones) its management group and its billing profile hold;
    # None: all of them. (The billing account holds them all.)
    management_group_size: int | None = None
    billing_profile_size: int | None = None
    page_size: int = 1000
    max_groupings: int = 5
    qpu_per_10s: int = 12
    qpu_per_minute: int = 60
    qpu_per_hour: int = 600
    # Metrics reach the current wall-clock minute minus this many minutes.
    metrics_lag_minutes: int = 0
    # The same structure with nothing to alert on: quota and traffic below 50% of their
    # limits, no cost spikes, no Suspended subscription at the start (see the README).
    quiet: bool = False
    # Foundry resources beside the hubs (emulator/foundry.py): the demo's and `costwatch-emulator serve`'s
    # tenant has them; without, the tenant is the Marketplace and managed-compute one alone.
    foundry: bool = False
    # Cost records the ledger keeps generated (it regenerates the oldest months past this); a benchmark
    # raises it to hold a whole large tenant.
    ledger_cache_records: int = 1_000_000


@dataclass
class Tenant:
    """A generated tenant: inventory plus a lazily generated, restatable cost ledger.

    The inventory lists are replaced (never mutated in place) by `step()`, which also
    bumps `inventory_version` so the server knows to re-index.
    """

    spec: TenantSpec
    tenant_id: str
    today: date
    history_start: date
    history_end: date
    subscriptions: list[Subscription]
    workspaces: list[Workspace]
    marketplace_subscriptions: list[MarketplaceSubscription]
    saas_resources: list[SaasResource]
    serverless_endpoints: list[ServerlessEndpoint]
    online_endpoints: list[OnlineEndpoint]
    storage_accounts: list[StorageAccount]
    ledger: CostLedger = field(repr=False)
    foundry_accounts: list[foundry.FoundryAccount] = field(default_factory=list)
    online_deployments: list[OnlineDeployment] = field(default_factory=list)
    quota_book: QuotaBook = field(default_factory=QuotaBook.empty, repr=False)
    changes: list[dict[str, Any]] = field(default_factory=list)  # every change step() made, in order
    # The cost anomaly on the last day (project, model, currency, day), None on a quiet tenant.
    # It describes the scenario and stays after calm(); `calmed` says whether it was taken back.
    anomaly: dict[str, Any] | None = None
    inventory_version: int = 0
    # The billing account (a Microsoft Customer Agreement one) and billing profile that pay for every
    # subscription, and the management group holding `management_group` (lower-cased subscription IDs).
    billing_account_id: str = ""
    billing_profile_id: str = ""
    management_group_id: str = ""
    management_group: frozenset[str] = frozenset()
    billing_profile: frozenset[str] = frozenset()
    # Wall clock (Unix seconds) for the metrics' reach and the changes' times; tests may swap it.
    clock: Callable[[], float] = field(default=_time.time, repr=False, compare=False)
    _steps_taken: int = field(default=0, init=False, repr=False, compare=False)
    _step_lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    @property
    def wide_scopes(self) -> dict[str, str]:
        """The cost-query scopes above the subscriptions that this tenant answers, by what they are:
        the values `[costs] scope` takes to collect every subscription at once. (Its management group
        answers too, without the Marketplace rows, as on an Enterprise Agreement: costwatch refuses it.)"""
        account = f"/providers/Microsoft.Billing/billingAccounts/{self.billing_account_id}"
        return {
            "billing account": account,
            "billing profile": f"{account}/billingProfiles/{self.billing_profile_id}",
        }

    @property
    def version(self) -> int:
        """How many restatements have happened."""
        return self.ledger.version

    @property
    def hubs(self) -> list[Workspace]:
        return [w for w in self.workspaces if w.kind == "Hub"]

    @property
    def projects(self) -> list[Workspace]:
        """The workspaces that hold deployments: hub projects and plain Azure ML workspaces."""
        return [w for w in self.workspaces if w.kind != "Hub"]

    def restate(self) -> int:
        """Re-rate every estimated (not yet final) day; returns the new version."""
        return self.ledger.restate()

    def calm(self) -> bool:
        """Take the cost anomaly back: its day's figures go back to normal, as a restatement
        of the open month would, and the truth follows. True if that changed anything."""
        return self.ledger.calm()

    @property
    def calmed(self) -> bool:
        return self.ledger.calmed

    def is_final(self, day: date) -> bool:
        return _is_final(day, self.today)

    def subscription(self, subscription_id: str) -> Subscription | None:
        wanted = subscription_id.lower()
        return next((s for s in self.subscriptions if s.subscription_id == wanted), None)

    @property
    def meter_units(self) -> dict[str, str]:
        """The price sheets: each SaaS and Foundry token meter's unit, as costwatch's `[costs] units`
        takes it (an operator reads it from the plan's listing or Azure's retail prices: cost data does
        not carry it)."""
        names = {"1K": "1K tokens", "1M": "1M tokens", "1 Hour": "hours"}
        return {
            meter.name: names[meter.unit]
            for source in self.ledger.all_sources
            for meter in source.meters
            if meter.category in ("SaaS", "Foundry Models")
        }

    def cost_records(self, subscription_id: str, date_from: date, date_to: date) -> Iterator[CostRecord]:
        """Raw records (current version) of one subscription, inclusive dates."""
        return self.ledger.records(subscription_id, date_from, date_to)

    def cost_source(self, resource_id: str) -> CostSource | None:
        return self.ledger.source(resource_id)

    def truth(
        self,
        by: Sequence[str],
        date_from: date,
        date_to: date,
        *,
        include_other: bool = False,
    ) -> list[dict[str, Any]]:
        """Exact Decimal sums of current costs grouped by `by` (and always currency).

        Dimensions: project, model, meter, subscription, resource, day, currency, spend_kind.
        Marketplace rows report the SaaS resource's `expected_project`/`expected_model`;
        managed-compute rows the project owning the online endpoint and the model
        "(managed compute)"; other rows (storage) have project and model None and are
        left out unless `include_other`.
        """
        ids = [s.subscription_id for s in self.subscriptions]
        return _truth(self.ledger, ids, by, date_from, date_to, include_other=include_other)

    # --- quota ----------------------------------------------------------------------

    @property
    def quota_regions(self) -> frozenset[str]:
        """Regions whose usages lists have entries (those with workspaces at generation)."""
        return self.quota_book.regions

    def quota_usages(self, subscription_id: str, location: str, provider: str = ML_PROVIDER) -> list[Usage]:
        """A usages list as served now; empty for an unknown region or subscription."""
        return self.quota_book.usages(subscription_id, location, provider, self.online_deployments)

    def quota_breakdown(self, family: Usage) -> list[Usage]:
        """The workspace lines Azure ML lists after a family's line (not quota figures of their own)."""
        return self.quota_book.breakdown(family, self.online_deployments)

    def quota_truth(self) -> list[dict[str, Any]]:
        """Every usage entry of every subscription, region and provider, as served now.

        Keys: subscription_id, location, provider (Microsoft.MachineLearningServices or
        Microsoft.Compute), name (name.value), localized_name, current, limit (-1 is
        unlimited, 0 no quota), unit.
        """
        return [u.truth() for u in self.quota_book.all_usages(self.online_deployments)]

    # --- traffic --------------------------------------------------------------------

    @property
    def throttled_endpoint_id(self) -> str | None:
        """The serverless endpoint with a minute at its tokens-per-minute limit every UTC hour
        (as ARM spells its ID); None on a quiet tenant."""
        return next((e.id for e in self.serverless_endpoints if e.traffic == "throttled"), None)

    def serverless_endpoint(self, endpoint_id: str) -> ServerlessEndpoint | None:
        wanted = endpoint_id.lower()
        return next((e for e in self.serverless_endpoints if e.id.lower() == wanted), None)

    def last_metrics_minute(self) -> int:
        """The newest minute (Unix epoch minutes) metrics have reached."""
        return epoch_minute(datetime.fromtimestamp(self.clock(), UTC)) - self.spec.metrics_lag_minutes

    def traffic_series(self, endpoint: ServerlessEndpoint, first_minute: int, end_minute: int) -> Series:
        """Per-minute traffic for first_minute <= m < end_minute, cut at what is available."""
        end = max(min(end_minute, self.last_metrics_minute() + 1), first_minute)
        profile = traffic.profile(self.spec.seed, endpoint, quiet=self.spec.quiet)
        return traffic.series(profile, first_minute, end)

    def _series_between(self, endpoint: ServerlessEndpoint, start: datetime, end: datetime) -> Series:
        # Minutes that start before `end`: one past the minute holding the instant before it.
        return self.traffic_series(endpoint, epoch_minute(start), epoch_minute(end - timedelta(microseconds=1)) + 1)

    def metrics_truth(self, endpoint_id: str, start: datetime, end: datetime) -> list[dict[str, Any]]:
        """One row per minute overlapping [start, end) that metrics have reached.

        Keys: minute (UTC datetime), input_tokens, output_tokens, total_tokens, requests.
        Minutes without traffic are rows of zeros. KeyError for an unknown endpoint.
        """
        endpoint = self.serverless_endpoint(endpoint_id)
        if endpoint is None:
            raise KeyError(endpoint_id)
        s = self._series_between(endpoint, start, end)
        return [
            {
                "minute": minute_start(s.first_minute + k),
                "input_tokens": i,
                "output_tokens": o,
                "total_tokens": i + o,
                "requests": r,
            }
            for k, (i, o, r) in enumerate(zip(s.input_tokens, s.output_tokens, s.requests, strict=True))
        ]

    def peak_truth(self, start: datetime, end: datetime) -> dict[str, dict[str, int]]:
        """Per current serverless endpoint and Foundry deployment (lower-cased ID): the busiest minute's
        tokens and requests (and a provisioned deployment's utilization)."""
        peaks = {}
        for endpoint in self.serverless_endpoints:
            s = self._series_between(endpoint, start, end)
            peaks[endpoint.id.lower()] = {
                "peak_tpm": max(s.total_tokens(), default=0),
                "peak_rpm": max(s.requests, default=0),
            }
        first, last = epoch_minute(start), epoch_minute(end - timedelta(microseconds=1)) + 1
        for account in self.foundry_accounts:
            for d in account.deployments:
                s = self.foundry_series(account, d, first, last)
                peaks[f"{account.id}/deployments/{d.name}".lower()] = {
                    "peak_tpm": max(s.total_tokens(), default=0),
                    "peak_rpm": max(s.requests, default=0),
                    # provisioned: the busiest minute's utilization in basis points (1/100 of a percent)
                    **({"peak_utilization_bp": round(max(s.utilization, default=0) * 100)} if s.utilization else {}),
                }
        return peaks

    def foundry_series(
        self, account: foundry.FoundryAccount, d: foundry.FoundryDeployment, first_minute: int, end_minute: int
    ) -> Series:
        """A Foundry deployment's per-minute traffic, cut at what metrics have reached."""
        end = max(min(end_minute, self.last_metrics_minute() + 1), first_minute)
        start = datetime.combine(self.history_start, time(), UTC)
        profile = foundry.traffic_profile(self.spec.seed, account, d, start, self.spec.quiet)
        series = traffic.series(profile, first_minute, end)
        if not d.provisioned:
            return series
        return replace(series, utilization=foundry.utilization(d, series.total_tokens()))

    # --- inventory changes ------------------------------------------------------------

    def step(self) -> list[dict[str, Any]]:
        """Apply the next change of the scripted timeline (timeline.py) and return what changed.

        Each change: at (UTC, now), kind ("status" | "added" | "removed"), resource_type
        ("marketplaceSubscription" | "serverlessEndpoint" | "saasResource" |
        "onlineDeployment"), resource_id (as ARM spells it), old and new (a status, the
        deployment's instance count as a string, or None). [] once the script is done.
        """
        with self._step_lock:
            if self._steps_taken >= len(timeline.STEPS):
                return []
            at = datetime.fromtimestamp(self.clock(), UTC)
            made = timeline.STEPS[self._steps_taken](self, at)
            self._steps_taken += 1
            if any(s.expected_project == "" for s in self.saas_resources):
                expected = {
                    s.id: s.expected_project
                    for s in _attribute(self.saas_resources, self.marketplace_subscriptions, self.workspaces)
                }
                self.saas_resources = [
                    replace(s, expected_project=expected[s.id]) if s.expected_project == "" else s
                    for s in self.saas_resources
                ]
            self.changes.extend(made)
            self.inventory_version += 1
            return made


# --- generation -----------------------------------------------------------------------


@dataclass(frozen=True)
class _Use:
    """A project's use of one Marketplace model."""

    model: str
    tagged: bool = False  # the SaaS resource carries the costwatch-project tag
    versioned: bool = False  # modelId ends with /versions/2
    suspended: bool = False
    finetuned: bool = False
    late_start: bool = False  # subscribed after the history starts
    refund: bool = False  # the tenant's one refund row
    traffic: str = "normal"  # the endpoint's traffic shape (traffic.py)
    anomaly: bool = False  # the tenant's one cost anomaly, on the last day


def _quiet_use(use: _Use) -> _Use:
    """A use on a quiet tenant: nothing suspended, no traffic near a limit, no anomaly."""
    shape = "normal" if use.traffic in ("tokens_hot", "requests_hot", "throttled") else use.traffic
    return replace(use, suspended=False, traffic=shape, anomaly=False)


@dataclass(frozen=True)
class _Managed:
    """A project's managed online endpoint with its one deployment."""

    label: str  # endpoint "ep-<project>-<label>"
    model: str
    model_version: int
    vm_size: str
    instances: int
    # proj-codegen's endpoint predates deployments and quota and draws its creation time
    # from the main stream, as it always did; later ones use their own stream so the rest
    # of the tenant stays as it was.
    main_stream: bool = False


@dataclass(frozen=True)
class _ProjectPlan:
    name: str
    friendly: str
    team: str
    uses: tuple[_Use, ...]
    managed: _Managed | None = None


@dataclass(frozen=True)
class _HubPlan:
    region: str
    projects: tuple[_ProjectPlan, ...]
    # Quota scenario lines of this hub's (subscription, region); see the README.
    quota: tuple[QuotaLine, ...] = ()
    # The lines a quiet tenant uses instead: room for the deployments, even scaled out.
    quiet_quota: tuple[QuotaLine, ...] = ()


@dataclass(frozen=True)
class _Blueprint:
    role: str
    env: str
    hubs: tuple[_HubPlan, ...]


_PLAIN_WORKSPACE = _ProjectPlan("ml-research", "Research ML workspace", "research", (_Use("Meta-Llama-3-8B-Instruct"),))

_PROD = _Blueprint(
    "prod",
    "prod",
    (
        # Scenario 1: two projects in one resource group on the same offer; one SaaS
        # resource is tagged, the other resolves by elimination.
        _HubPlan(
            catalog.EASTUS2,
            (
                _ProjectPlan(
                    "proj-chatbot",
                    "Customer chatbot",
                    "support",
                    (
                        # Also the cost anomaly: 4x its usual spend on the last day.
                        _Use("Meta-Llama-3-70B-Instruct", tagged=True, traffic="tokens_hot", anomaly=True),
                        _Use("Mistral-large"),
                    ),
                ),
                _ProjectPlan(
                    "proj-search",
                    "Semantic search",
                    "search",
                    (
                        _Use("Meta-Llama-3-70B-Instruct", refund=True),
                        _Use("Cohere-command-r-plus", traffic="requests_hot"),
                    ),
                ),
            ),
            # DSv2 at 20/24 cores (83%) in Azure ML, NCSv3 at 40/48 (83%) in Compute.
            quota=(
                QuotaLine(ML_PROVIDER, "standardDSv2Family", 20, 24),
                QuotaLine(COMPUTE_PROVIDER, "standardNCSv3Family", 40, 48),
            ),
        ),
        # Scenario 2: the only project of its resource group with its offer.
        _HubPlan(
            catalog.SWEDENCENTRAL,
            (
                _ProjectPlan(
                    "proj-summarizer",
                    "Meeting summarizer",
                    "productivity",
                    # A minute at its tokens-per-minute limit every UTC hour.
                    (_Use("Meta-Llama-3-8B-Instruct", traffic="throttled"),),
                ),
            ),
        ),
    ),
)
_DEV = _Blueprint(
    "dev",
    "dev",
    (
        _HubPlan(
            catalog.WESTUS3,
            (
                _ProjectPlan(
                    "proj-translator",
                    "Document translator",
                    "localization",
                    (
                        _Use("Llama-2-13b-chat", finetuned=True),
                        _Use("Llama-2-7b", versioned=True, finetuned=True, traffic="quiet"),
                    ),
                ),
                _ProjectPlan(
                    "proj-codegen",
                    "Code assistant",
                    "devex",
                    (_Use("AI21-Jamba-1.5-Large", tagged=True),),
                    managed=_Managed(
                        "llama3", "Meta-Llama-3-8B-Instruct", 3, "Standard_NC24ads_A100_v4", 1, main_stream=True
                    ),
                ),
            ),
            # 72 cores of training clusters plus the deployment's 24: 96/100 (96%).
            quota=(QuotaLine(ML_PROVIDER, "standardNCADSA100v4Family", 72, 100),),
            quiet_quota=(QuotaLine(ML_PROVIDER, "standardNCADSA100v4Family", 8, 100),),  # 32/100
        ),
    ),
)
_RESEARCH = _Blueprint(
    "research",
    "research",
    (
        _HubPlan(
            catalog.EASTUS2,
            (
                _ProjectPlan(
                    "proj-rag",
                    "Retrieval experiments",
                    "research",
                    (_Use("Llama-2-70b"), _Use("Meta-Llama-3-8B-Instruct", late_start=True)),
                    managed=_Managed("llama2", "Llama-2-7b", 3, "Standard_NC12s_v3", 2),
                ),
                _ProjectPlan(
                    "proj-eval",
                    "Model evaluation",
                    "research",
                    (_Use("Llama-2-7b-chat", suspended=True), _Use("Llama-2-13b", late_start=True)),
                ),
            ),
            # NCSv3: 16 cores of clusters plus the deployment's 2 x 12: 40/64 (62.5%), and
            # 52/64 (81%) once the timeline scales it to 3 instances. FSv2 is unlimited.
            quota=(
                QuotaLine(ML_PROVIDER, "standardNCSv3Family", 16, 64),
                QuotaLine(ML_PROVIDER, "standardFSv2Family", 8, -1),
            ),
            # 28/96, 40/96 once scaled out; FSv2 gets a limit.
            quiet_quota=(
                QuotaLine(ML_PROVIDER, "standardNCSv3Family", 4, 96),
                QuotaLine(ML_PROVIDER, "standardFSv2Family", 8, 48),
            ),
        ),
    ),
)
_EU = _Blueprint(
    "eu",
    "prod",
    (
        # Scenario 3: two projects in one resource group on the same offer, neither SaaS
        # resource tagged: the rule cannot tell them apart.
        _HubPlan(
            catalog.EASTUS2,
            (
                _ProjectPlan("proj-legal", "Contract review", "legal", (_Use("Llama-2-70b-chat"),)),
                _ProjectPlan(
                    "proj-hr",
                    "HR assistant",
                    "people",
                    (_Use("Llama-2-70b-chat"), _Use("Meta-Llama-3-8B-Instruct", traffic="quiet")),
                ),
            ),
        ),
        _HubPlan(
            catalog.SWEDENCENTRAL,
            (
                _ProjectPlan(
                    "proj-docs",
                    "Knowledge base",
                    "operations",
                    (_Use("Meta-Llama-3-70B-Instruct"), _Use("Mistral-large", tagged=True)),
                ),
            ),
        ),
    ),
)
_USD_BLUEPRINTS = (_PROD, _DEV, _RESEARCH)


def _plain(plan: _ProjectPlan) -> _ProjectPlan:
    """A copy of a project plan without the cases the tenant must hold exactly once."""
    uses = tuple(
        replace(u, versioned=False, suspended=False, refund=False, traffic="normal", anomaly=False) for u in plan.uses
    )
    return replace(plan, uses=uses, managed=None)


_guid = new_guid


@cache
def _meter_id(offer: str, meter: str) -> str:
    # Meter IDs are global in Azure (the same for every customer), so not seeded.
    return str(uuid.UUID(int=random.Random(f"meter|{offer}|{meter}").getrandbits(128), version=4))


def _at(day: date, rng: random.Random) -> datetime:
    return datetime.combine(day, time(rng.randrange(24), rng.randrange(60), rng.randrange(60)), UTC)


class _Builder:
    """Accumulates the tenant while walking the blueprints."""

    def __init__(self, spec: TenantSpec) -> None:
        self.spec = spec
        self.rng = random.Random(spec.seed)
        self.today = spec.today or datetime.now(UTC).date()
        self.history_start = add_months(self.today, -spec.history_months)
        self.history_end = self.today - timedelta(days=1)
        self.tenant_id = _guid(self.rng)
        self.subscriptions: list[Subscription] = []
        self.workspaces: list[Workspace] = []
        self.msubs: list[MarketplaceSubscription] = []
        self.saas: list[SaasResource] = []
        self.serverless: list[ServerlessEndpoint] = []
        self.online: list[OnlineEndpoint] = []
        self.deployments: list[OnlineDeployment] = []
        self.quota_lines: dict[tuple[str, str], list[QuotaLine]] = defaultdict(list)
        self.storage: list[StorageAccount] = []
        self.saas_meta: dict[str, tuple[_Use, CatalogModel]] = {}  # SaaS resource ID -> what it is for
        self.saas_count = 0
        self.resource_groups: dict[str, set[str]] = defaultdict(set)

    def created(self, rng: random.Random, late: bool = False) -> datetime:
        if late:
            span = max((self.history_end - self.history_start).days, 1)
            return _at(self.history_start + timedelta(days=span // 3), rng)
        return _at(self.history_start - timedelta(days=rng.randint(30, 400)), rng)

    def resource_group(self, subscription_id: str, wanted: str) -> str:
        # Keeps one hub per resource group even when blueprints are stacked in one subscription.
        taken = self.resource_groups[subscription_id]
        name, n = wanted, 1
        while name.lower() in taken:
            n += 1
            name = f"{wanted}-{n}"
        taken.add(name.lower())
        return name

    def add_subscription(self, name: str, currency: str) -> Subscription:
        sub = Subscription(_guid(self.rng), name, currency)
        self.subscriptions.append(sub)
        return sub

    def add_hub(self, sub: Subscription, label: str, region: str, env: str, rg_prefix: str = "rg-ai-hub") -> Workspace:
        rg = self.resource_group(sub.subscription_id, f"{rg_prefix}-{region}")
        short = sub.display_name.removeprefix("contoso-ai-")
        name = f"hub-{label}"
        hub = Workspace(
            id=f"/subscriptions/{sub.subscription_id}/resourceGroups/{rg}/providers/{WORKSPACE_TYPE}/{name}",
            name=name,
            kind="Hub",
            subscription_id=sub.subscription_id,
            resource_group=rg,
            location=region,
            friendly_name=f"Contoso AI hub ({short}, {region})",
            description="Shared AI Studio hub",
            tags={"env": env, "costcenter": f"cc-{self.rng.randint(1000, 9999)}"},
            hub_id=None,
            workspace_guid=_guid(self.rng),
            principal_id=_guid(self.rng),
            created_at=self.created(self.rng),
        )
        self.workspaces.append(hub)
        return hub

    def add_project(self, hub: Workspace, plan: _ProjectPlan, name: str, env: str, rng: random.Random) -> Workspace:
        project = Workspace(
            # AI Studio puts projects in their hub's resource group.
            id=f"/subscriptions/{hub.subscription_id}/resourceGroups/{hub.resource_group}/providers/{WORKSPACE_TYPE}/{name}",
            name=name,
            kind="Project",
            subscription_id=hub.subscription_id,
            resource_group=hub.resource_group,
            location=hub.location,
            friendly_name=plan.friendly,
            description=f"{plan.friendly} ({plan.team})",
            tags={"env": env, "team": plan.team},
            hub_id=hub.id,
            workspace_guid=_guid(rng),
            principal_id=_guid(rng),
            created_at=self.created(rng),
        )
        self.workspaces.append(project)
        self.add_deployments(project, plan, rng)
        return project

    def add_plain_workspace(self, sub: Subscription, plan: _ProjectPlan, region: str, env: str) -> Workspace:
        """A plain Azure ML workspace (kind "Default", no hub) in its own resource group: it holds serverless
        deployments and their marketplace subscriptions as a hub project does. From its own stream."""
        rng = random.Random(f"{self.spec.seed}|plain|{sub.subscription_id}|{plan.name}")
        rg = self.resource_group(sub.subscription_id, f"rg-ml-{plan.name}")
        workspace = Workspace(
            id=f"/subscriptions/{sub.subscription_id}/resourceGroups/{rg}/providers/{WORKSPACE_TYPE}/{plan.name}",
            name=plan.name,
            kind="Default",
            subscription_id=sub.subscription_id,
            resource_group=rg,
            location=region,
            friendly_name=plan.friendly,
            description=f"{plan.friendly} ({plan.team})",
            tags={"env": env, "team": plan.team},
            hub_id=None,
            workspace_guid=_guid(rng),
            principal_id=_guid(rng),
            created_at=self.created(rng),
        )
        self.workspaces.append(workspace)
        self.add_deployments(workspace, plan, rng)
        return workspace

    def add_deployments(self, project: Workspace, plan: _ProjectPlan, rng: random.Random) -> None:
        for use in plan.uses:
            self.add_use(project, use, rng)
        if plan.managed is not None:
            stream = rng if plan.managed.main_stream else random.Random(f"{self.spec.seed}|online|{project.id}")
            self.add_online_endpoint(project, plan.managed, stream)

    def add_use(self, project: Workspace, use: _Use, rng: random.Random) -> None:
        if self.spec.quiet:
            use = _quiet_use(use)
        model = CATALOG[use.model]
        created = self.created(rng, late=use.late_start)
        resource_name = model.name.replace(".", "-")
        msub_id = f"{project.id}/marketplaceSubscriptions/{resource_name}"
        status = "Suspended" if use.suspended else "Subscribed"
        self.msubs.append(
            MarketplaceSubscription(
                id=msub_id,
                name=resource_name,
                project=project.name,
                workspace_id=project.id,
                model_id=model.model_id(2 if use.versioned else None),
                publisher_id=model.publisher_id,
                offer_id=model.offer_id,
                plan_id=model.plan_id,
                status=status,
                created_at=created,
            )
        )
        endpoint = f"{resource_name}-{''.join(rng.choice('abcdefghijklmnopqrstuvwxyz') for _ in range(4))}"
        self.serverless.append(
            ServerlessEndpoint(
                id=f"{project.id}/serverlessEndpoints/{endpoint}",
                name=endpoint,
                project=project.name,
                workspace_id=project.id,
                location=project.location,
                model_id=model.model_id(2 if use.versioned else None),
                marketplace_subscription_id=msub_id,
                provisioning_state="Succeeded",
                endpoint_state="Suspended" if use.suspended else "Online",
                uri=f"https://{endpoint.lower()}.{project.location}.models.ai.azure.com",
                created_at=created,
                traffic="idle" if use.suspended else use.traffic,  # a suspended endpoint serves nothing
            )
        )
        asset = _guid(rng)
        # Azure names the resource "<offer>-<GUID>"; the case of both parts varies in the wild.
        variant = self.saas_count % 3
        self.saas_count += 1
        offer_shown = offer_cased(model) if variant == 1 else model.offer_id
        name = f"{offer_shown}-{asset.upper() if variant == 2 else asset}"
        group = f"/subscriptions/{project.subscription_id}/resourceGroups/{project.resource_group}"
        saas_id = f"{group}/providers/{SAAS_TYPE}/{name}"
        tags = {ATTRIBUTION_TAG: project.name} if use.tagged else {}
        self.saas.append(
            SaasResource(
                id=saas_id,
                name=name,
                subscription_id=project.subscription_id,
                resource_group=project.resource_group,
                offer_id=model.offer_id,
                offer_name=offer_shown,
                publisher_id=model.publisher_id,
                plan_id=model.plan_id,
                status=status,
                tags=tags,
                asset_id=asset,
                created_at=created,
                marketplace_subscription_id=msub_id,
                true_project=project.name,
                expected_project="",  # filled in by _attribute once all resources exist
                expected_model=model.name,
            )
        )
        self.saas_meta[saas_id] = (use, model)

    def add_online_endpoint(self, project: Workspace, managed: _Managed, rng: random.Random) -> None:
        name = f"ep-{project.name.removeprefix('proj-')}-{managed.label}"
        endpoint = OnlineEndpoint(
            id=f"{project.id}/onlineEndpoints/{name}",
            name=name,
            project=project.name,
            workspace_id=project.id,
            location=project.location,
            model=managed.model,
            vm_size=managed.vm_size,
            instance_count=managed.instances,
            scoring_uri=f"https://{name}.{project.location}.inference.ml.azure.com/score",
            created_at=self.created(rng),
        )
        self.online.append(endpoint)
        model = CATALOG[managed.model]
        deployment = f"{model.name.lower().replace('.', '-')}-blue"[:32]
        self.deployments.append(
            OnlineDeployment(
                id=f"{endpoint.id}/deployments/{deployment}",
                name=deployment,
                endpoint_id=endpoint.id,
                project=project.name,
                subscription_id=project.subscription_id,
                location=project.location,
                model_id=model.model_id(managed.model_version),
                vm_size=managed.vm_size,
                instance_count=managed.instances,
                created_at=endpoint.created_at + timedelta(minutes=12),
            )
        )

    def add_storage(self, sub: Subscription, region: str, prefix: str = "", rng: random.Random | None = None) -> None:
        """A storage account in the subscription's shared resource group, named `stcontoso<prefix>...`
        (by default after the subscription), drawn from `rng` (by default the tenant's main stream)."""
        rng = rng or self.rng
        rg = self.resource_group(sub.subscription_id, f"rg-shared-{region}")
        prefix = prefix or sub.display_name.removeprefix("contoso-ai-").replace("-", "")
        name = f"stcontoso{prefix}{rng.getrandbits(16):04x}"[:24]
        self.storage.append(
            StorageAccount(
                id=f"/subscriptions/{sub.subscription_id}/resourceGroups/{rg}/providers/Microsoft.Storage/storageAccounts/{name}",
                name=name,
                subscription_id=sub.subscription_id,
                resource_group=rg,
                location=region,
                created_at=self.created(rng),
            )
        )


def _attribute(
    saas: list[SaasResource], msubs: list[MarketplaceSubscription], workspaces: list[Workspace]
) -> list[SaasResource]:
    """Apply costwatch's attribution rule (tag, else elimination) to fill expected_project."""
    project_rg = {w.name: (w.subscription_id, w.resource_group.lower()) for w in workspaces if w.kind != "Hub"}
    holders: dict[tuple[str, str, str], set[str]] = defaultdict(set)
    for m in msubs:
        sub, rg = project_rg[m.project]
        holders[(sub, rg, m.offer_id.lower())].add(m.project)
    claimed: dict[str, set[str]] = defaultdict(set)  # offer -> projects given by tag
    for s in saas:
        if ATTRIBUTION_TAG in s.tags:
            claimed[s.offer_id].add(s.tags[ATTRIBUTION_TAG])
    out = []
    for s in saas:
        if ATTRIBUTION_TAG in s.tags:
            expected = s.tags[ATTRIBUTION_TAG]
        else:
            candidates = holders[(s.subscription_id, s.resource_group.lower(), s.offer_id)] - claimed[s.offer_id]
            expected = next(iter(candidates)) if len(candidates) == 1 else UNATTRIBUTED
        out.append(replace(s, expected_project=expected))
    return out


def _saas_meter(model: CatalogModel, name: str, unit: str, usd_price: Decimal, milli: int, currency: str) -> MeterSpec:
    """A Marketplace meter as cost data names it: "<plan> - <meter>", MeterCategory "SaaS" (issue 19.7).
    A token meter of a plan billed per 1M tokens has its price and quantity in millions."""
    steady = name == catalog.METER_FT_HOSTING  # hosting is billed per hour, whatever the traffic
    if unit == "1K" and model.token_unit == "1M":
        unit, usd_price, milli = "1M", usd_price * 1000, milli // 1000
    price = catalog.local_price(usd_price, currency)
    meter = f"{model.plan_id} - {name}"
    return MeterSpec(meter, _meter_id(model.offer_id, name), "SaaS", model.offer_id, unit, price, milli, steady)


def _saas_source(b: _Builder, s: SaasResource, currency: str) -> CostSource:
    use, model = b.saas_meta[s.id]
    scale = random.Random(f"{b.spec.seed}|volume|{s.id.lower()}").uniform(0.5, 1.6)
    volume = int(model.daily_kilo_tokens * 1000 * scale)  # thousandths of 1K tokens
    meters = [
        _saas_meter(model, catalog.METER_INPUT, "1K", model.input_price, volume, currency),
        _saas_meter(model, catalog.METER_OUTPUT, "1K", model.output_price, volume * 3 // 10, currency),
    ]
    if use.finetuned:
        meters += [
            _saas_meter(model, catalog.METER_FT_HOSTING, "1 Hour", model.hosting_price, 24_000, currency),
            _saas_meter(model, catalog.METER_FT_INPUT, "1K", model.input_price, volume // 4, currency),
            _saas_meter(model, catalog.METER_FT_OUTPUT, "1K", model.output_price, volume // 12, currency),
        ]
    refund = None
    if use.refund:
        refund = RefundSpec(b.history_start + timedelta(days=14), f"{model.plan_id} - {catalog.METER_INPUT}", 1_500_000)
    active_to = None
    if use.suspended:
        span = (b.history_end - b.history_start).days
        active_to = b.history_start + timedelta(days=max(span * 2 // 3, 0))
    return CostSource(
        subscription_id=s.subscription_id,
        resource_id=s.id.lower(),
        resource_group=s.resource_group.lower(),
        resource_type=SAAS_TYPE.lower(),
        location="global",
        publisher_type="Marketplace",
        service_name="SaaS",
        currency=currency,
        meters=tuple(meters),
        active_from=s.created_at.date(),
        active_to=active_to,
        spend_kind="marketplace",
        project=s.expected_project,
        model=s.expected_model,
        refund=refund,
    )


def _online_source(ep: OnlineEndpoint, subscription_id: str, currency: str) -> CostSource:
    # Billed for the instances it had when generated: scaling by the timeline leaves costs alone.
    size = catalog.VM_SIZES[ep.vm_size]
    vm_meter = MeterSpec(
        size.meter,
        _meter_id("virtual-machines", size.meter),
        "Virtual Machines",
        size.series,
        "1 Hour",
        catalog.local_price(size.hourly_usd, currency),
        24_000 * ep.instance_count,
        steady=True,
    )
    return CostSource(
        subscription_id=subscription_id,
        resource_id=ep.id.lower(),
        resource_group=ep.id.split("/")[4].lower(),
        resource_type=f"{WORKSPACE_TYPE}/onlineEndpoints".lower(),
        location=ep.location,
        publisher_type="Azure",
        service_name="Virtual Machines",
        currency=currency,
        meters=(vm_meter,),
        active_from=ep.created_at.date(),
        active_to=None,
        spend_kind="managed_compute",
        project=ep.project,
        model=MANAGED_COMPUTE_MODEL,
    )


def _storage_source(st: StorageAccount, currency: str) -> CostSource:
    meters = tuple(
        MeterSpec(
            name,
            _meter_id("storage", name),
            "Storage",
            subcategory,
            "1 GB/Month" if "Stored" in name else "10K",
            catalog.local_price(price, currency),
            milli,
            steady="Stored" in name,
        )
        for name, subcategory, price, milli in catalog.STORAGE_METERS
    )
    return CostSource(
        subscription_id=st.subscription_id,
        resource_id=st.id.lower(),
        resource_group=st.resource_group.lower(),
        resource_type="microsoft.storage/storageaccounts",
        location=st.location,
        publisher_type="Azure",
        service_name="Storage",
        currency=currency,
        meters=meters,
        active_from=st.created_at.date(),
        active_to=None,
        spend_kind="other",
        project=None,
        model=None,
    )


def _cost_sources(b: _Builder, saas: list[SaasResource]) -> list[CostSource]:
    currency = {s.subscription_id: s.currency for s in b.subscriptions}
    sources = [_saas_source(b, s, currency[s.subscription_id]) for s in saas]
    for ep in b.online:
        subscription_id = ep.id.split("/")[2]
        sources.append(_online_source(ep, subscription_id, currency[subscription_id]))
    sources += [_storage_source(st, currency[st.subscription_id]) for st in b.storage]
    return sources


def _subscription_plan(count: int) -> list[tuple[str, str, list[tuple[_Blueprint, str]]]]:
    """(display name, currency, [(blueprint, project-name suffix)]) per subscription.

    The USD blueprints go round the USD subscriptions (all three at least once, stacked
    when there are fewer than three, repeated with a "-2", "-3"... suffix when there are
    more), so every tenant has every scenario; the EUR subscription, always last, gets EU.
    """
    usd = count - 1
    slots: list[list[tuple[_Blueprint, str]]] = [[] for _ in range(count)]
    slots[-1].append((_EU, ""))
    for k in range(max(len(_USD_BLUEPRINTS), usd)):
        suffix = "" if k < len(_USD_BLUEPRINTS) else f"-{k // len(_USD_BLUEPRINTS) + 1}"
        slots[k % usd if usd else -1].append((_USD_BLUEPRINTS[k % len(_USD_BLUEPRINTS)], suffix))
    plans = []
    for index, blueprints in enumerate(slots):
        first, suffix = blueprints[0]
        currency = "EUR" if index == count - 1 else "USD"
        plans.append((f"contoso-ai-{first.role}{suffix}", currency, blueprints))
    return plans


def _connected(account: foundry.FoundryAccount, workspaces: list[Workspace]) -> foundry.FoundryAccount:
    """The projects the account's connection reaches: the project holding it, or every project of the
    hub holding it."""
    holder = next((w for w in workspaces if w.name == account.connected_from), None)
    if holder is None:
        return replace(account, connected_from="")
    reached = (holder.name,) if holder.kind != "Hub" else tuple(w.name for w in workspaces if w.hub_id == holder.id)
    return replace(account, connected_projects=reached)


def generate_tenant(spec: TenantSpec) -> Tenant:
    """Build the tenant described by `spec`, deterministically from `spec.seed`."""
    if spec.subscriptions < 1:
        raise ValueError("a tenant needs at least one subscription")
    b = _Builder(spec)
    for name, currency, blueprints in _subscription_plan(spec.subscriptions):
        sub = b.add_subscription(name, currency)
        for blueprint, suffix in blueprints:
            for hub_plan in blueprint.hubs:
                hub = b.add_hub(sub, f"{blueprint.role}-{hub_plan.region}{suffix}", hub_plan.region, blueprint.env)
                for plan in hub_plan.projects:
                    if suffix:  # repeated blueprints: the one-off cases stay one-off
                        plan = _plain(plan)
                    b.add_project(hub, plan, f"{plan.name}{suffix}", blueprint.env, b.rng)
                if not suffix:
                    lines = hub_plan.quiet_quota if spec.quiet else hub_plan.quota
                    b.quota_lines[(sub.subscription_id, hub_plan.region)] += lines
        b.add_storage(sub, catalog.EASTUS2)
    # A plain Azure ML workspace with a serverless deployment, beside the hubs (issue 19.5).
    b.add_plain_workspace(b.subscriptions[0], _PLAIN_WORKSPACE, catalog.EASTUS2, "prod")
    for index, sub in enumerate(b.subscriptions):
        _add_extra_projects(b, sub, index)
    for index in range(spec.storage_only_subscriptions):
        _add_storage_only_subscription(b, index)
    saas = _attribute(b.saas, b.msubs, b.workspaces)
    sources = _cost_sources(b, saas)
    accounts = foundry.accounts(b.subscriptions[0].subscription_id, b.subscriptions[-1].subscription_id)
    accounts = [_connected(a, b.workspaces) for a in accounts] if spec.foundry else []
    currencies = {s.subscription_id: s.currency for s in b.subscriptions}
    sources += [foundry.cost_source(a, currencies[a.subscription_id], b.history_start, spec.seed) for a in accounts]
    spiked = next((s for s in saas if b.saas_meta[s.id][0].anomaly), None)
    anomaly = None if spiked is None else Anomaly(spiked.id.lower(), b.history_end)
    ledger = CostLedger(
        spec.seed,
        sources,
        b.history_start,
        b.history_end,
        b.today,
        spikes=not spec.quiet,
        anomaly=anomaly,
        cache_records=spec.ledger_cache_records,
    )
    anomaly_truth = None
    if anomaly is not None:
        source = next(s for s in sources if s.resource_id == anomaly.resource_id)
        anomaly_truth = {
            "project": source.project,
            "model": source.model,
            "currency": source.currency,
            "day": anomaly.day,
        }
    quota = build_quota_book(
        spec.seed,
        [s.subscription_id for s in b.subscriptions],
        {w.location for w in b.workspaces},
        b.quota_lines,
        b.deployments,
        quiet=spec.quiet,
        foundry={
            (sub, region): tuple(foundry.usages(accounts, sub, region, spec.quiet))
            for sub, region in {(a.subscription_id.lower(), a.location.lower()) for a in accounts}
        },
    )
    return Tenant(
        spec=spec,
        tenant_id=b.tenant_id,
        today=b.today,
        history_start=b.history_start,
        history_end=b.history_end,
        subscriptions=b.subscriptions,
        workspaces=b.workspaces,
        marketplace_subscriptions=b.msubs,
        saas_resources=saas,
        serverless_endpoints=b.serverless,
        online_endpoints=b.online,
        storage_accounts=b.storage,
        ledger=ledger,
        foundry_accounts=accounts,
        online_deployments=b.deployments,
        quota_book=quota,
        anomaly=anomaly_truth,
        **_billing(spec, b.subscriptions),
    )


def _billing(spec: TenantSpec, subscriptions: list[Subscription]) -> dict[str, Any]:
    """Billing account, profile and management group: their own stream, so the tenant stays as it was."""
    rng = random.Random(f"{spec.seed}|billing")
    account = f"{_guid(rng)}:{_guid(rng)}_2019-05-31"  # the shape of an MCA billing account ID
    profile = "-".join("".join(rng.choice("ABCDEFGHJKLMNPQRSTUVWXYZ23456789") for _ in range(4)) for _ in range(4))

    def first(size: int | None) -> frozenset[str]:
        held = subscriptions if size is None else subscriptions[: max(size, 0)]
        return frozenset(s.subscription_id for s in held)

    return {
        "billing_account_id": account,
        "billing_profile_id": profile,
        "management_group_id": "mg-contoso-ai",
        "management_group": first(spec.management_group_size),
        "billing_profile": first(spec.billing_profile_size),
    }


def _add_storage_only_subscription(b: _Builder, index: int) -> None:
    rng = random.Random(f"{b.spec.seed}|storage-only|{index}")
    sub = Subscription(_guid(rng), f"contoso-ai-storage-{index + 1}", "USD")
    b.subscriptions.append(sub)
    b.add_storage(sub, catalog.EASTUS2, f"only{index + 1}", rng)


def _add_extra_projects(b: _Builder, sub: Subscription, index: int) -> None:
    """Scale knob: more projects in a separate hub, from their own random stream."""
    count = b.spec.extra_projects_per_subscription
    if count <= 0:
        return
    rng = random.Random(f"{b.spec.seed}|extra|{index}")
    region = catalog.EASTUS2
    short = sub.display_name.removeprefix("contoso-ai-")
    hub = b.add_hub(sub, f"{short}-{region}-scale", region, "dev", rg_prefix="rg-ai-scale")
    models = [m.name for m in CATALOG.values() if region in m.regions]
    for k in range(1, count + 1):
        chosen = rng.sample(models, rng.randint(1, 3))
        uses = tuple(_Use(m, tagged=rng.random() < 0.6) for m in chosen)
        plan = _ProjectPlan(f"proj-{short}-x{k:05d}", f"Scale project {k}", "scale", uses)
        b.add_project(hub, plan, plan.name, "dev", rng)
