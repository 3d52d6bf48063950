"""The schema. Resource IDs are stored lower-cased: Azure's cost rows lower-case them, ARM does not.

Natural keys carry unique constraints so that re-collecting a window is an upsert, never an append.
Text key columns are NOT NULL with '' for "not given": NULLs never collide in a unique constraint.
"""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    ColumnElement,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from collector.db.types import Money

NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

# BIGINT on PostgreSQL; SQLite only auto-increments a column declared INTEGER.
BigId = BigInteger().with_variant(Integer(), "sqlite")
UtcDateTime = DateTime(timezone=True)
ResourceIdStr = String(512)


class Base(DeclarativeBase):
    metadata = MetaData(naming_convention=NAMING_CONVENTION)


class CollectionRun(Base):
    """One `costwatch collect` invocation."""

    __tablename__ = "collection_runs"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(32))
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | partial | failed | abandoned
    # host:pid of the process running it, so that a run whose process died can be told from a live one
    holder: Mapped[str] = mapped_column(String(128), default="", server_default="")
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    window_from: Mapped[date | None] = mapped_column(Date)
    window_to: Mapped[date | None] = mapped_column(Date)
    scopes_total: Mapped[int] = mapped_column(Integer, default=0)
    scopes_failed: Mapped[int] = mapped_column(Integer, default=0)
    rows_written: Mapped[int] = mapped_column(Integer, default=0)
    rows_removed: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    qpu_used: Mapped[int] = mapped_column(Integer, default=0)
    api_calls: Mapped[int] = mapped_column(Integer, default=0)
    throttled: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)


class ScopeRun(Base):
    """One scope (e.g. a subscription) within a collection run, with its own outcome."""

    __tablename__ = "collection_scopes"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("collection_runs.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(String(256))
    status: Mapped[str] = mapped_column(String(16))  # running | succeeded | failed
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    finished_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    rows_written: Mapped[int] = mapped_column(Integer, default=0)
    rows_removed: Mapped[int] = mapped_column(Integer, default=0)
    rows_rejected: Mapped[int] = mapped_column(Integer, default=0)
    qpu_used: Mapped[int] = mapped_column(Integer, default=0)
    error: Mapped[str | None] = mapped_column(Text)
    # For cost scopes: the month the row covers and the scope its query ran at (a subscription, or the
    # billing account / profile / management group whose answer was split by subscription).
    month: Mapped[date | None] = mapped_column(Date)
    query_scope: Mapped[str] = mapped_column(String(256), default="", server_default="")


class _Inventory:
    """Columns every inventory table has: when costwatch first and last saw the object, and when it
    found it gone (rows are kept: their costs and history still need them)."""

    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    removed_at: Mapped[datetime | None] = mapped_column(UtcDateTime)


class Subscription(_Inventory, Base):
    __tablename__ = "subscriptions"

    subscription_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    display_name: Mapped[str] = mapped_column(String(256), default="")
    state: Mapped[str] = mapped_column(String(32), default="")
    tenant_id: Mapped[str] = mapped_column(String(36), default="")


class Workspace(_Inventory, Base):
    """An AI Studio hub or project (Microsoft.MachineLearningServices/workspaces)."""

    __tablename__ = "workspaces"

    resource_id: Mapped[str] = mapped_column(ResourceIdStr, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(36), index=True)
    resource_group: Mapped[str] = mapped_column(String(128))  # lower-cased
    name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(32))  # Hub | Project | Default
    hub_resource_id: Mapped[str | None] = mapped_column(ResourceIdStr)
    location: Mapped[str] = mapped_column(String(64), default="")
    friendly_name: Mapped[str] = mapped_column(String(256), default="")
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


# The workspace kinds that hold model deployments and their marketplace subscriptions: hub projects
# ("Project") and plain Azure ML workspaces ("Default"); not hubs, feature stores nor registries.
# costwatch calls both "projects".
PROJECT_KINDS = ("project", "default")


def is_project() -> ColumnElement[bool]:
    """The SQL condition "this workspace is a project" (see PROJECT_KINDS)."""
    return func.lower(Workspace.kind).in_(PROJECT_KINDS)


class SaasResource(_Inventory, Base):
    """A Marketplace SaaS resource (Microsoft.SaaS/resources): the carrier of a model offer's costs."""

    __tablename__ = "saas_resources"

    resource_id: Mapped[str] = mapped_column(ResourceIdStr, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(36), index=True)
    resource_group: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    # Offer, plan and publisher IDs (2018-03-01-beta's offerId, skuId, publisherId; else the offer from
    # the name), and where the offer ID came from; offer_name is 2026-04-01's display name.
    offer: Mapped[str] = mapped_column(String(256), default="")
    offer_source: Mapped[str] = mapped_column(String(64), default="")
    offer_name: Mapped[str] = mapped_column(String(256), default="")
    plan: Mapped[str] = mapped_column(String(256), default="")
    publisher: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[str] = mapped_column(String(32), default="")
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class MarketplaceSubscription(_Inventory, Base):
    """A project's subscription to a model offer (workspaces/{project}/marketplaceSubscriptions)."""

    __tablename__ = "marketplace_subscriptions"

    resource_id: Mapped[str] = mapped_column(ResourceIdStr, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ResourceIdStr, index=True)
    name: Mapped[str] = mapped_column(String(256))
    model_id: Mapped[str] = mapped_column(String(512), default="")
    publisher_id: Mapped[str] = mapped_column(String(256), default="")
    offer_id: Mapped[str] = mapped_column(String(256), default="")
    plan_id: Mapped[str] = mapped_column(String(256), default="")
    status: Mapped[str] = mapped_column(String(32), default="")
    provisioning_state: Mapped[str] = mapped_column(String(32), default="")


class FoundryAccount(_Inventory, Base):
    """A Cognitive Services account. Those of kind AIServices or OpenAI are Foundry resources: Microsoft
    bills their models' tokens on them, and their deployments serve them; other kinds are kept so
    attribution knows their costs are not a model's."""

    __tablename__ = "foundry_accounts"

    resource_id: Mapped[str] = mapped_column(ResourceIdStr, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(36), index=True)
    resource_group: Mapped[str] = mapped_column(String(128))
    name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(64))  # AIServices | OpenAI | Face | SpeechServices | ...
    location: Mapped[str] = mapped_column(String(64), default="")
    sku_name: Mapped[str] = mapped_column(String(32), default="")
    provisioning_state: Mapped[str] = mapped_column(String(32), default="")
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class FoundryProject(_Inventory, Base):
    """A Foundry project (accounts/{account}/projects): the projects share their account's deployments."""

    __tablename__ = "foundry_projects"

    resource_id: Mapped[str] = mapped_column(ResourceIdStr, primary_key=True)
    account_id: Mapped[str] = mapped_column(ResourceIdStr, index=True)
    name: Mapped[str] = mapped_column(String(256))
    display_name: Mapped[str] = mapped_column(String(256), default="")
    is_default: Mapped[bool] = mapped_column(Boolean, default=False)
    tags: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)


class WorkspaceConnection(_Inventory, Base):
    """A hub's or project's connection (workspaces/{ws}/connections) to a Foundry or Azure OpenAI
    resource: how a hub project uses a resource it does not hold, and so whose its costs are."""

    __tablename__ = "workspace_connections"

    resource_id: Mapped[str] = mapped_column(ResourceIdStr, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ResourceIdStr, index=True)
    name: Mapped[str] = mapped_column(String(256))
    category: Mapped[str] = mapped_column(String(64))  # AzureOpenAI | AIServices | CognitiveService
    account_id: Mapped[str] = mapped_column(ResourceIdStr, index=True)  # the resource's ID, lower-case


class Deployment(_Inventory, Base):
    """A model deployment: a serverless endpoint, a managed online endpoint's deployment, or a Foundry
    resource's deployment (kind foundry; `workspace_id` then holds the Foundry resource's ID)."""

    __tablename__ = "deployments"

    resource_id: Mapped[str] = mapped_column(ResourceIdStr, primary_key=True)
    workspace_id: Mapped[str] = mapped_column(ResourceIdStr, index=True)
    name: Mapped[str] = mapped_column(String(256))
    kind: Mapped[str] = mapped_column(String(16))  # serverless | managed | foundry
    model_id: Mapped[str] = mapped_column(String(512), default="")
    marketplace_subscription_id: Mapped[str] = mapped_column(ResourceIdStr, default="")
    provisioning_state: Mapped[str] = mapped_column(String(32), default="")
    endpoint_state: Mapped[str] = mapped_column(String(32), default="")
    # Managed compute only: the VM size and how many instances run it.
    instance_type: Mapped[str] = mapped_column(String(64), default="")
    instance_count: Mapped[int | None] = mapped_column(Integer)
    # Serverless only: since when Azure Monitor says it has no traffic metrics for this deployment (its
    # resource type or the metric names not supported), why, and when that was last asked again.
    metrics_unavailable_since: Mapped[datetime | None] = mapped_column(UtcDateTime)
    metrics_unavailable_reason: Mapped[str | None] = mapped_column(Text)
    metrics_checked_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    # Foundry only: the model's version, the deployment type (sku.name: GlobalStandard,
    # ProvisionedManaged, ...) and its capacity (thousands of TPM, or PTUs), and the limits Azure
    # states in properties.rateLimits, per minute (None: none stated, as for provisioned deployments).
    model_version: Mapped[str] = mapped_column(String(64), default="", server_default="")
    sku_name: Mapped[str] = mapped_column(String(64), default="", server_default="")
    capacity: Mapped[int | None] = mapped_column(Integer)
    tokens_per_minute: Mapped[int | None] = mapped_column(BigInteger)
    requests_per_minute: Mapped[int | None] = mapped_column(BigInteger)


class InventoryEvent(Base):
    """A change costwatch saw in the inventory: something appeared, disappeared or changed status."""

    __tablename__ = "inventory_events"
    __table_args__ = (Index("ix_inventory_events_observed_at", "observed_at"),)

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    observed_at: Mapped[datetime] = mapped_column(UtcDateTime)
    run_id: Mapped[int] = mapped_column(ForeignKey("collection_runs.id"), index=True)
    resource_type: Mapped[str] = mapped_column(String(32))  # table name of the object
    resource_id: Mapped[str] = mapped_column(ResourceIdStr, index=True)
    kind: Mapped[str] = mapped_column(String(16))  # added | removed | changed
    field: Mapped[str] = mapped_column(String(32), default="")
    old_value: Mapped[str | None] = mapped_column(String(256))
    new_value: Mapped[str | None] = mapped_column(String(256))


class QuotaSnapshot(Base):
    """VM-core usage against its limit for one subscription, region, provider and VM family, at a time."""

    __tablename__ = "quota_snapshots"
    __table_args__ = (
        UniqueConstraint(
            "subscription_id", "location", "provider", "name", "taken_at", name="uq_quota_snapshots_natural_key"
        ),
        Index("ix_quota_snapshots_taken_at", "taken_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    taken_at: Mapped[datetime] = mapped_column(UtcDateTime)
    run_id: Mapped[int] = mapped_column(ForeignKey("collection_runs.id"), index=True)
    subscription_id: Mapped[str] = mapped_column(String(36))
    location: Mapped[str] = mapped_column(String(64))
    provider: Mapped[str] = mapped_column(String(64))  # Microsoft.MachineLearningServices | Microsoft.Compute
    name: Mapped[str] = mapped_column(String(128))
    localized_name: Mapped[str] = mapped_column(String(256), default="")
    current_value: Mapped[int] = mapped_column(BigInteger)
    limit_value: Mapped[int] = mapped_column(BigInteger)  # -1: unlimited
    unit: Mapped[str] = mapped_column(String(32), default="")


class TrafficMinute(Base):
    """One deployment's tokens and requests in one minute (Azure Monitor, PT1M totals)."""

    __tablename__ = "traffic_minutes"

    deployment_id: Mapped[str] = mapped_column(ResourceIdStr, primary_key=True)
    minute: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    total_tokens: Mapped[int] = mapped_column(BigInteger)
    requests: Mapped[int] = mapped_column(BigInteger)
    # A provisioned deployment's PTU utilization that minute (its maximum), in basis points (1/100 of
    # a percent: 10000 is 100%, where Azure throttles); None for others, or not known.
    utilization_bp: Mapped[int | None] = mapped_column(Integer)


class TrafficHour(Base):
    """The hourly rollup of traffic_minutes, kept after the minutes expire: sums, peaks, busy minutes."""

    __tablename__ = "traffic_hours"

    deployment_id: Mapped[str] = mapped_column(ResourceIdStr, primary_key=True)
    hour: Mapped[datetime] = mapped_column(UtcDateTime, primary_key=True)
    input_tokens: Mapped[int] = mapped_column(BigInteger)
    output_tokens: Mapped[int] = mapped_column(BigInteger)
    total_tokens: Mapped[int] = mapped_column(BigInteger)
    requests: Mapped[int] = mapped_column(BigInteger)
    peak_tpm: Mapped[int] = mapped_column(BigInteger)
    peak_rpm: Mapped[int] = mapped_column(BigInteger)
    minutes: Mapped[int] = mapped_column(Integer)  # minutes with data in this hour
    minutes_near_tpm: Mapped[int] = mapped_column(Integer)  # at or above limits.near_fraction of the TPM limit
    minutes_near_rpm: Mapped[int] = mapped_column(Integer)
    minutes_at_limit: Mapped[int] = mapped_column(Integer)  # at the TPM, RPM or PTU limit: throttling likely
    peak_utilization_bp: Mapped[int | None] = mapped_column(Integer)  # provisioned: the busiest minute's
    minutes_near_utilization: Mapped[int] = mapped_column(Integer, default=0, server_default="0")


class SchedulerLease(Base):
    """Leader election for `costwatch schedule` replicas: one holder at a time, until it expires."""

    __tablename__ = "scheduler_leases"

    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    holder: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)


# In the unique index's order: led by the resource and the day, so that one index serves both the
# natural key and one resource's rows in a period (the drill-down, a project's spend). The subscription
# comes last: a resource ID already lies under its subscription.
COST_ROW_KEY = (
    "resource_id",
    "usage_date",
    "meter_id",
    "meter",
    "meter_category",
    "meter_subcategory",
    "charge_type",
    "cost_type",
    "currency",
    "subscription_id",
)


class CostRow(Base):
    """One day's cost of one resource and meter, as the Cost Management Query API last stated it."""

    __tablename__ = "cost_rows"
    __table_args__ = (
        UniqueConstraint(*COST_ROW_KEY, name="uq_cost_rows_natural_key"),
        # Narrow on purpose: each index holding the 100-character resource ID cost PostgreSQL's COPY
        # ~5 µs a row, these two next to nothing (docs/performance.md#narrow-indexes).
        # one subscription's days: a chunk's look for stored rows, its stale rows, its rollups (led by
        # the day, such a read would scan every subscription's rows of those days)
        Index("ix_cost_rows_subscription_id_usage_date", "subscription_id", "usage_date"),
        # the days' rows of every subscription: date ranges, the latest day, the months made final
        Index("ix_cost_rows_usage_date", "usage_date"),
        # finds the days written since the rollup was last brought up to date
        Index("ix_cost_rows_updated_at", "updated_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    subscription_id: Mapped[str] = mapped_column(String(36))
    usage_date: Mapped[date] = mapped_column(Date)
    resource_id: Mapped[str] = mapped_column(ResourceIdStr)
    meter_id: Mapped[str] = mapped_column(String(64))
    meter: Mapped[str] = mapped_column(String(256))
    meter_category: Mapped[str] = mapped_column(String(128))
    meter_subcategory: Mapped[str] = mapped_column(String(256))
    charge_type: Mapped[str] = mapped_column(String(64))
    cost_type: Mapped[str] = mapped_column(String(32))
    currency: Mapped[str] = mapped_column(String(8))
    cost: Mapped[Decimal] = mapped_column(Money())
    quantity: Mapped[Decimal | None] = mapped_column(Money())
    is_estimated: Mapped[bool] = mapped_column(Boolean)
    run_id: Mapped[int] = mapped_column(ForeignKey("collection_runs.id"), index=True)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class ResourceAttribution(Base):
    """Which project and model a cost row's resource belongs to, and by which rule.

    Kept apart from the cost rows so that a new tag or mapping re-attributes all history at once.
    """

    __tablename__ = "resource_attribution"

    resource_id: Mapped[str] = mapped_column(ResourceIdStr, primary_key=True)
    spend_kind: Mapped[str] = mapped_column(String(16))  # marketplace | foundry | managed_compute | other
    project_id: Mapped[str | None] = mapped_column(ResourceIdStr)
    project: Mapped[str | None] = mapped_column(String(256))
    model: Mapped[str | None] = mapped_column(String(256))
    rule: Mapped[str] = mapped_column(String(32))
    detail: Mapped[str] = mapped_column(Text, default="")
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


class MeterModel(Base):
    """The model a Foundry resource's meter bills ("gpt-4o-mini-0718-Inp-glbl Tokens" -> gpt-4o-mini):
    one resource carries many models' costs, so its rows take their model from the meter, not from
    the resource's attribution. Kept current with resource_attribution."""

    __tablename__ = "meter_models"

    resource_id: Mapped[str] = mapped_column(ResourceIdStr, primary_key=True)
    meter: Mapped[str] = mapped_column(String(256), primary_key=True)
    model: Mapped[str] = mapped_column(String(256))
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime)


def attributed_model() -> ColumnElement[str]:
    """A cost row's model: its meter's (Foundry resources), else its resource's; '' when unknown.
    Use with `with_attribution`, which joins both tables."""
    return func.coalesce(MeterModel.model, ResourceAttribution.model, "")


def with_attribution(query: Any) -> Any:
    """`query` over cost_rows, outer-joined to each row's resource attribution and meter model."""
    return query.outerjoin(ResourceAttribution, ResourceAttribution.resource_id == CostRow.resource_id).outerjoin(
        MeterModel, (MeterModel.resource_id == CostRow.resource_id) & (MeterModel.meter == CostRow.meter)
    )


class Alert(Base):
    """One alert: a rule about one subject. Its key is stable, so evaluation updates it in place."""

    __tablename__ = "alerts"

    key: Mapped[str] = mapped_column(String(512), primary_key=True)  # rule:subject
    rule: Mapped[str] = mapped_column(String(32), index=True)
    severity: Mapped[str] = mapped_column(String(16))  # info | warning | critical
    state: Mapped[str] = mapped_column(String(16), index=True)  # firing | resolved
    subject: Mapped[str] = mapped_column(String(512))
    message: Mapped[str] = mapped_column(Text)
    value: Mapped[str | None] = mapped_column(String(64))
    threshold: Mapped[str | None] = mapped_column(String(64))
    link: Mapped[str] = mapped_column(String(1024))
    details: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    first_seen: Mapped[datetime] = mapped_column(UtcDateTime)  # start of the current (or last) episode
    last_seen: Mapped[datetime] = mapped_column(UtcDateTime)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    last_notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    episodes: Mapped[int] = mapped_column(Integer, default=1)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    acknowledged_by: Mapped[str | None] = mapped_column(String(128))
    silenced_until: Mapped[datetime | None] = mapped_column(UtcDateTime)


class OutboxMessage(Base):
    """A notification to deliver, written in the same transaction as the alert change behind it."""

    __tablename__ = "alert_outbox"
    __table_args__ = (
        UniqueConstraint("alert_key", "channel", "event", "event_at", name="uq_alert_outbox_event"),
        Index("ix_alert_outbox_status_next_attempt_at", "status", "next_attempt_at"),
    )

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    alert_key: Mapped[str] = mapped_column(String(512))
    channel: Mapped[str] = mapped_column(String(16))
    event: Mapped[str] = mapped_column(String(16))  # firing | reminder | resolved
    event_at: Mapped[datetime] = mapped_column(UtcDateTime)
    payload: Mapped[dict[str, Any]] = mapped_column(JSON)
    status: Mapped[str] = mapped_column(String(16))  # pending | sent | failed
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime)
    answer: Mapped[str | None] = mapped_column(String(512))
    last_error: Mapped[str | None] = mapped_column(Text)


class GeneratedReport(Base):
    """A monthly report file costwatch wrote: where it is, what it covers and its checksum.

    One row per generation, kept as a log: regenerating a month at the same path adds a row, and the
    checksum tells which generation the file on disk is."""

    __tablename__ = "generated_reports"

    id: Mapped[int] = mapped_column(BigId, primary_key=True, autoincrement=True)
    month: Mapped[str] = mapped_column(String(7), index=True)  # YYYY-MM
    format: Mapped[str] = mapped_column(String(8))  # csv | xlsx | pdf | focus
    path: Mapped[str] = mapped_column(String(1024))  # absolute
    sha256: Mapped[str] = mapped_column(String(64))
    size: Mapped[int] = mapped_column(BigInteger)
    data_status: Mapped[str] = mapped_column(String(16))  # final | estimated
    created_at: Mapped[datetime] = mapped_column(UtcDateTime)


class DailySpend(Base):
    """Cost rows summed per day, subscription, project, model, meter and currency: what the dashboard
    and the reports read, so a page does not scan every raw row. Rebuilt by the cost job for the days
    it touched (and in full when attribution changed); `cost_rows` stays the source of truth."""

    __tablename__ = "daily_spend"
    # A few projects' days (the Spend trend's top series, a project owner's view, one project chosen):
    # without it a month of a large tenant's rollup, ~300,000 rows, was read to find them.
    __table_args__ = (Index("ix_daily_spend_project_day", text("lower(project)"), "usage_date"),)

    usage_date: Mapped[date] = mapped_column(Date, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    project: Mapped[str] = mapped_column(String(256), primary_key=True)
    model: Mapped[str] = mapped_column(String(256), primary_key=True)
    meter: Mapped[str] = mapped_column(String(256), primary_key=True)
    spend_kind: Mapped[str] = mapped_column(String(16), primary_key=True)  # '' = not yet attributed
    currency: Mapped[str] = mapped_column(String(8), primary_key=True)
    cost: Mapped[Decimal] = mapped_column(Money())
    is_estimated: Mapped[bool] = mapped_column(Boolean)
    rows: Mapped[int] = mapped_column(Integer)


class MonthlySpend(Base):
    """Cost rows summed per month (`month` is its 1st) and resource, with the attribution: what reads of
    whole months use, by resource too. Rebuilt with the daily rollup for every month it touched."""

    __tablename__ = "monthly_spend"

    month: Mapped[date] = mapped_column(Date, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    resource_id: Mapped[str] = mapped_column(ResourceIdStr, primary_key=True)
    project: Mapped[str] = mapped_column(String(256), primary_key=True)
    model: Mapped[str] = mapped_column(String(256), primary_key=True)
    meter: Mapped[str] = mapped_column(String(256), primary_key=True)
    spend_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    currency: Mapped[str] = mapped_column(String(8), primary_key=True)
    cost: Mapped[Decimal] = mapped_column(Money())
    is_estimated: Mapped[bool] = mapped_column(Boolean)
    rows: Mapped[int] = mapped_column(Integer)
    first_day: Mapped[date] = mapped_column(Date)  # the month's first and last day with a cost row
    last_day: Mapped[date] = mapped_column(Date)


class DailyTotal(Base):
    """`daily_spend` summed per day, subscription, kind and currency: daily trends of everything (the
    Overview's) without reading a row per project, model and meter. Rebuilt with the daily rollup."""

    __tablename__ = "daily_totals"

    usage_date: Mapped[date] = mapped_column(Date, primary_key=True)
    subscription_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    spend_kind: Mapped[str] = mapped_column(String(16), primary_key=True)
    currency: Mapped[str] = mapped_column(String(8), primary_key=True)
    cost: Mapped[Decimal] = mapped_column(Money())
    is_estimated: Mapped[bool] = mapped_column(Boolean)
    rows: Mapped[int] = mapped_column(Integer)
