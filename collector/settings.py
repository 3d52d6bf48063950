"""One typed settings object: a TOML file, overridden by COSTWATCH_* environment variables.

Precedence (highest first): environment (`COSTWATCH_<KEY>`, `COSTWATCH_<SECTION>__<KEY>`), the TOML
file (`--config PATH` or `COSTWATCH_CONFIG`), then the defaults below. Every value is validated at
start, and a wrong one fails with a message that names the key and what it accepts.
"""

from __future__ import annotations

import fnmatch
import json
import os
import re
from decimal import Decimal
from pathlib import Path
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, SecretStr, ValidationError, field_validator
from pydantic_settings import (
    BaseSettings,
    EnvSettingsSource,
    NoDecode,
    PydanticBaseSettingsSource,
    SettingsConfigDict,
    TomlConfigSettingsSource,
)

from collector.units import normalised

ENV_PREFIX = "COSTWATCH_"
_GUID = re.compile(r"^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$")
# Wide cost-query scopes: a billing account or one of its billing profiles. A management group is
# recognised only to be refused with the reason (see CostSettings._wide_scope).
_ID = r"[A-Za-z0-9][A-Za-z0-9_:.\-]*"
WIDE_SCOPES = (
    re.compile(rf"^/providers/Microsoft\.Billing/billingAccounts/{_ID}(/billingProfiles/{_ID})?$", re.IGNORECASE),
    re.compile(rf"^/providers/Microsoft\.Management/managementGroups/{_ID}$", re.IGNORECASE),
)
WIDE_SCOPE_FORMS = (
    "/providers/Microsoft.Billing/billingAccounts/<id> or "
    "/providers/Microsoft.Billing/billingAccounts/<id>/billingProfiles/<id>"
)

# Dimensions the Cost Management Query API accepts for grouping (docs/azure.md, the Query API).
QUERY_DIMENSIONS = (
    "ResourceId",
    "ResourceGroup",
    "ResourceGroupName",
    "ResourceType",
    "ResourceLocation",
    "Meter",
    "MeterId",
    "MeterCategory",
    "MeterSubcategory",
    "ChargeType",
    "PublisherType",
    "ServiceName",
    "SubscriptionId",
)
MAX_GROUPINGS = 5  # what the Query API takes (docs/azure.md, the Query API)


class SettingsError(Exception):
    """A setting is missing or wrong; the message names the key and the fix."""


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid")


class AttributionSettings(_Section):
    tag_key: str = Field("costwatch-project", min_length=1)
    # SaaS resource ID (any case) -> project name: the first attribution rule, for when neither a
    # tag nor the offer match can tell two projects of one resource group apart.
    resources: dict[str, str] = Field(default_factory=dict)

    @field_validator("resources")
    @classmethod
    def _lower_ids(cls, value: dict[str, str]) -> dict[str, str]:
        for resource_id in value:
            if not resource_id.lower().startswith("/subscriptions/"):
                raise ValueError(f"{resource_id!r} is not an Azure resource ID (expected '/subscriptions/...')")
        return {resource_id.lower(): project for resource_id, project in value.items()}


class CostSettings(_Section):
    cost_type: Literal["ActualCost", "AmortizedCost"] = "ActualCost"
    # At most 5 groupings: the spec says 2, reports say 3 to 5 work (docs/azure.md, the Query API).
    grouping: list[str] = Field(
        default_factory=lambda: ["ResourceId", "Meter", "MeterId", "MeterCategory", "ChargeType"],
        min_length=1,
        max_length=5,
    )
    # A month's figures may change until this day of the next month; after it they are final.
    final_after_day: int = Field(5, ge=1, le=28)
    # The share of the tenant's Cost Management budget (per 10 s, minute and hour) costwatch may use;
    # the rest stays free for the tenant's other tools, which draw on the same budget.
    qpu_share: float = Field(0.5, gt=0, le=1)
    # Query at this wider scope (one query per month for every subscription, grouped by subscription)
    # instead of once per subscription and month: what makes a tenant of hundreds of subscriptions fit
    # the budget. Unset: per subscription.
    scope: str | None = None

    @field_validator("scope")
    @classmethod
    def _wide_scope(cls, value: str | None) -> str | None:
        if value is None or not value.strip():
            return None
        value = "/" + value.strip().strip("/")  # Azure's own examples write it without the leading slash
        if value.lower().startswith("/subscriptions/"):
            raise ValueError(
                "a subscription is not a wide scope: list it in `subscriptions` and leave [costs] scope unset, "
                f"or give {WIDE_SCOPE_FORMS}"
            )
        if not any(form.match(value) for form in WIDE_SCOPES):
            raise ValueError(f"expected {WIDE_SCOPE_FORMS}, got {value!r}")
        if value.lower().startswith("/providers/microsoft.management/"):
            # Learn, "Understand and work with scopes": a 200 answer here omits exactly the serverless
            # model costs costwatch is for, so the scope is refused rather than collected short.
            raise ValueError(
                "a management group's costs leave out third-party Marketplace offerings (the serverless "
                "model costs) on an Enterprise Agreement, and Microsoft Customer Agreement subscriptions are "
                "not supported there at all: give the billing account (EA: "
                "/providers/Microsoft.Billing/billingAccounts/<enrollment number>; MCA: "
                "/providers/Microsoft.Billing/billingAccounts/<id>/billingProfiles/<id>), or leave [costs] "
                "scope unset to query each subscription"
            )
        return value

    # The unit of a meter's quantity where its name does not say it, by meter name (case-insensitive),
    # e.g. {"llama-3-8b-plan - paygo-inference-input-tokens" = "1M tokens"}: from the plan's price sheet.
    units: dict[str, str] = Field(default_factory=dict)

    @field_validator("units")
    @classmethod
    def _known_units(cls, value: dict[str, str]) -> dict[str, str]:
        return {meter: normalised(unit) for meter, unit in value.items()}

    @field_validator("grouping")
    @classmethod
    def _known_dimensions(cls, value: list[str]) -> list[str]:
        known = {d.lower(): d for d in QUERY_DIMENSIONS}
        unknown = [d for d in value if d.lower() not in known]
        if unknown:
            raise ValueError(f"unknown dimension(s) {unknown}; accepted: {', '.join(QUERY_DIMENSIONS)}")
        out = [known[d.lower()] for d in value]
        if "ResourceId" not in out:
            raise ValueError("must include ResourceId: attribution needs it")
        return out


class ModelLimit(_Section):
    tpm: int = Field(gt=0)
    rpm: int = Field(gt=0)


class LimitSettings(_Section):
    """Serverless rate limits, per deployment: 200,000 tokens and 1,000 requests a minute unless a model
    lists others (e.g. 400,000 TPM for some Llama 3.3 70B listings: docs/azure.md, limits)."""

    default_tpm: int = Field(200_000, gt=0)
    default_rpm: int = Field(1_000, gt=0)
    # model name (as in `costwatch deployments`, case-insensitive) -> its limits
    models: dict[str, ModelLimit] = Field(default_factory=dict)
    # A minute at or above this fraction of a limit counts as "near the limit".
    near_fraction: float = Field(0.9, gt=0, le=1)

    def for_model(self, model: str) -> tuple[int, int]:
        limit = {k.lower(): v for k, v in self.models.items()}.get(model.lower())
        return (limit.tpm, limit.rpm) if limit else (self.default_tpm, self.default_rpm)


class QuotaSettings(_Section):
    # Regions to watch besides those where the tenant has workspaces.
    extra_regions: list[str] = Field(default_factory=list)


class MetricSettings(_Section):
    """Azure Monitor metric names of a serverless deployment (assumed to match the Foundry ones)."""

    input_tokens: str = "InputTokens"
    output_tokens: str = "OutputTokens"
    total_tokens: str = "TotalTokens"
    requests: str = "ModelRequests"
    # A provisioned Foundry deployment's utilization, (PTUs consumed / PTUs deployed) x 100 (docs/azure.md,
    # provisioned utilization); empty: not collected.
    provisioned_utilization: str = "AzureOpenAIProvisionedManagedUtilizationV2"
    namespace: str = ""  # metricnamespace of the calls; empty: the resource type's default
    # Read through metrics:getBatch (50 deployments of a subscription and region a call) at
    # batch_endpoint ({region} filled in; empty: https://{region}.metrics.monitor.azure.com on the public
    # cloud, else arm_endpoint); false: one ARM metrics call per deployment.
    batch: bool = True
    batch_endpoint: str = ""
    retention_days: int = Field(14, ge=1, le=93)  # minute rows kept this long, hourly rollups for ever
    first_lookback_hours: int = Field(24, ge=1, le=24 * 30)  # how far back the first pull reaches
    overlap_minutes: int = Field(15, ge=0, le=24 * 60)  # re-pulled each time: Azure fills minutes late
    # A deployment Azure Monitor has no metrics for is asked again this often, not every run.
    recheck_unavailable_hours: int = Field(24, ge=1, le=24 * 30)


class ScheduleSettings(_Section):
    costs_minutes: int = Field(240, ge=1)  # Azure refreshes cost data about every 4 hours
    inventory_minutes: int = Field(60, ge=1)
    quota_minutes: int = Field(15, ge=1)
    metrics_minutes: int = Field(5, ge=1)
    misfire_grace_seconds: int = Field(300, ge=1)
    lease_seconds: int = Field(45, ge=10, le=600)  # a dead leader's lease expires within this
    metrics_port: int = Field(9464, ge=0, le=65535)  # Prometheus /metrics; 0 = off
    metrics_host: str = "127.0.0.1"
    # Most series per business metric family on /metrics; spend beyond it is summed into "(other)".
    metrics_max_series: int = Field(200, ge=10, le=100_000)


class EmailSettings(_Section):
    """SMTP delivery of alerts and reports. The channel is off while smtp_host is empty."""

    smtp_host: str = ""
    smtp_port: int = Field(587, ge=1, le=65535)
    sender: str = ""
    recipients: Annotated[list[str], NoDecode] = Field(default_factory=list)
    starttls: bool = True  # upgrade a plain connection (port 587)
    tls: bool = False  # implicit TLS from the first byte (port 465)
    username: str = ""
    password: SecretStr | None = None
    timeout_seconds: float = Field(30, gt=0)
    ca_bundle: Path | None = None  # CA of a private SMTP server's certificate

    @field_validator("recipients", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        return [p.strip() for p in value.split(",") if p.strip()] if isinstance(value, str) else value

    @property
    def enabled(self) -> bool:
        return bool(self.smtp_host)


class TeamsSettings(_Section):
    """Microsoft Teams through a Workflows (Power Automate) incoming webhook: off while unset."""

    webhook_url: SecretStr | None = None
    timeout_seconds: float = Field(15, gt=0)
    ca_bundle: Path | None = None

    @field_validator("webhook_url")
    @classmethod
    def _https(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().startswith("https://"):
            raise ValueError("expected the https:// URL the Teams Workflows 'incoming webhook' trigger gives")
        return value

    @property
    def enabled(self) -> bool:
        return self.webhook_url is not None


class AppriseSettings(_Section):
    """Alerts through apprise (https://appriseit.com): Slack, PagerDuty, Opsgenie, JSON webhooks and
    more, one URL a target. Off while `urls` is empty. Each URL embeds its service's token: SecretStr."""

    urls: Annotated[list[SecretStr], NoDecode] = Field(default_factory=list)
    timeout_seconds: float = Field(15, gt=0)

    @field_validator("urls", mode="before")
    @classmethod
    def _split(cls, value: Any) -> Any:
        # from the environment: a JSON list, or URLs separated by commas or spaces (as apprise takes them)
        if isinstance(value, str):
            text = value.strip()
            if text.startswith("["):
                try:
                    return json.loads(text)
                except ValueError:
                    raise ValueError("expected a JSON list of apprise URLs, or URLs separated by commas") from None
            return [p for p in re.split(r"[\s,]+", text) if p]
        return value

    @field_validator("urls")
    @classmethod
    def _parseable(cls, value: list[SecretStr]) -> list[SecretStr]:
        # apprise is imported here, not at the top: only a configured channel pays for its plugins
        from collector.alerts.channels.apprise import unparseable

        for index, url in enumerate(value):
            problem = unparseable(url.get_secret_value())
            if problem:
                raise ValueError(f"URL number {index + 1} {problem}")
        return value

    @property
    def enabled(self) -> bool:
        return bool(self.urls)


class Budget(_Section):
    """A monthly budget for one project, model, subscription or cost-center tag value, in one currency."""

    scope: Literal["project", "model", "subscription", "cost_center"]
    name: str = Field(min_length=1)
    amount: Decimal = Field(gt=0)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class AlertOverride(_Section):
    """Thresholds for the alerts whose key matches `match` (shell-style, e.g. "quota:*:westus3:*" or
    "rate_limit:proj-batch:*"); the first matching override wins. `mute` drops them altogether."""

    match: str = Field(min_length=1)
    warn: float | None = Field(None, gt=0, le=1)
    critical: float | None = Field(None, gt=0, le=1)
    mute: bool = False


class AlertSettings(_Section):
    dashboard_url: str = "http://127.0.0.1:8501"
    reminder_hours: float = Field(24, gt=0)  # a firing alert is repeated this often; 0 is not allowed
    quota_warn: float = Field(0.8, gt=0, le=1)
    quota_critical: float = Field(0.95, gt=0, le=1)
    rate_warn: float = Field(0.9, gt=0, le=1)  # peak TPM or RPM at or above this fraction of the limit
    rate_window_hours: int = Field(24, ge=1, le=24 * 14)
    budget_thresholds: list[int] = Field(default_factory=lambda: [50, 80, 100])
    budgets: list[Budget] = Field(default_factory=list)
    cost_center_tag: str = "cost-center"
    anomaly_factor: float = Field(3.0, gt=1)  # a day above baseline + factor x spread fires
    anomaly_min_amount: Decimal = Field(Decimal("10"), ge=0)  # ignore anomalies smaller than this
    offer_allow_list: list[str] = Field(default_factory=list)  # empty: every offer is allowed
    failed_runs: int = Field(3, ge=1)  # a scope failing this many runs in a row fires
    routes: dict[str, list[Literal["email", "teams", "apprise"]]] = Field(default_factory=dict)  # rule -> channels
    overrides: list[AlertOverride] = Field(default_factory=list)
    max_attempts: int = Field(12, ge=1)
    retry_seconds: float = Field(30, gt=0)  # first retry delay; doubles up to an hour
    email: EmailSettings = Field(default_factory=lambda: EmailSettings())
    teams: TeamsSettings = Field(default_factory=lambda: TeamsSettings())
    apprise: AppriseSettings = Field(default_factory=lambda: AppriseSettings())

    def override_for(self, key: str) -> AlertOverride | None:
        return next((o for o in self.overrides if fnmatch.fnmatchcase(key, o.match)), None)

    def thresholds(self, key: str, warn: float, critical: float) -> tuple[float, float]:
        """The warn and critical fractions for one alert key: an override's, else the given defaults."""
        override = self.override_for(key)
        if override is None:
            return warn, critical
        return override.warn or warn, override.critical or critical


class ManagedOption(_Section):
    """The managed-compute VMs that would carry one model, for the pay-per-token-vs-managed comparison."""

    vm_size: str = Field(min_length=1)  # e.g. "Standard_NC24ads_A100_v4"
    instances: int = Field(1, ge=1)  # the fewest instances you would run (24x7)
    # Tokens per minute one instance sustains for this model (your load test); unset = capacity unchecked.
    tpm_per_instance: int | None = Field(None, gt=0)


class DashboardSettings(_Section):
    """The `[dashboard]` section."""

    # The dashboard's own connection, e.g. as a read-only role (SELECT, plus UPDATE on alerts so that
    # people can acknowledge); unset = database_url.
    database_url: SecretStr | None = None
    auth_enabled: bool = False
    # The `[auth.<provider>]` section of .streamlit/secrets.toml to sign in with; "" = the `[auth]` section.
    auth_provider: str = "microsoft"
    # e-mail, Entra object ID, group object ID or app role -> role
    roles: dict[str, Literal["admin", "finance", "project_owner"]] = Field(default_factory=dict)
    # e-mail, Entra object ID, group object ID or app role -> projects that principal owns
    project_owners: dict[str, list[str]] = Field(default_factory=dict)
    # VM size -> price of one instance-hour in vm_price_currency (else measured from your managed-compute bill)
    vm_hourly_prices: dict[str, Decimal] = Field(default_factory=dict)
    vm_price_currency: str = Field("USD", pattern=r"^[A-Z]{3}$")
    # model name -> the VMs that would carry it (else the model's own managed deployment, if it has one)
    managed_options: dict[str, ManagedOption] = Field(default_factory=dict)

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr | None) -> SecretStr | None:
        return None if value is None else database_url(value)

    @field_validator("roles", "project_owners")
    @classmethod
    def _lower_principals(cls, value: dict[str, Any]) -> dict[str, Any]:
        return {k.strip().lower(): v for k, v in value.items()}

    @field_validator("vm_hourly_prices")
    @classmethod
    def _positive_prices(cls, value: dict[str, Decimal]) -> dict[str, Decimal]:
        bad = [size for size, price in value.items() if price <= 0]
        if bad:
            raise ValueError(f"prices must be above 0: {bad}")
        return value

    def vm_price(self, vm_size: str) -> Decimal | None:
        return {k.lower(): v for k, v in self.vm_hourly_prices.items()}.get(vm_size.lower())

    def managed_option(self, model: str) -> ManagedOption | None:
        return {k.lower(): v for k, v in self.managed_options.items()}.get(model.lower())


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_prefix=ENV_PREFIX,
        env_nested_delimiter="__",
        extra="forbid",
        case_sensitive=False,
    )

    database_url: SecretStr = SecretStr("sqlite:///costwatch.db")
    arm_endpoint: str = "https://management.azure.com"
    arm_token: SecretStr | None = None
    ca_bundle: Path | None = None
    subscriptions: Annotated[list[str], NoDecode] = Field(default_factory=list)
    request_timeout_seconds: float = Field(60, gt=0)
    # Retries of throttled (429), failed (5xx) or dropped calls; waits as Azure asks, else backs off.
    retries: int = Field(8, ge=0, le=50)
    retry_backoff_seconds: float = Field(0.8, ge=0)
    # Longest server-requested wait we sit through before failing the scope for this run.
    max_retry_wait_seconds: float = Field(300, gt=0)
    # How long a write waits for an unreachable database (a failover, a restart) before the run fails.
    database_retry_seconds: float = Field(60, ge=0)
    log_level: Literal["DEBUG", "INFO", "WARNING", "ERROR"] = "INFO"
    log_format: Literal["text", "json"] = "text"
    attribution: AttributionSettings = Field(default_factory=lambda: AttributionSettings())
    costs: CostSettings = Field(default_factory=lambda: CostSettings())
    limits: LimitSettings = Field(default_factory=lambda: LimitSettings())
    quota: QuotaSettings = Field(default_factory=lambda: QuotaSettings())
    metrics: MetricSettings = Field(default_factory=lambda: MetricSettings())
    schedule: ScheduleSettings = Field(default_factory=lambda: ScheduleSettings())
    alerts: AlertSettings = Field(default_factory=lambda: AlertSettings())
    dashboard: DashboardSettings = Field(default_factory=lambda: DashboardSettings())

    @field_validator("database_url")
    @classmethod
    def _database_url(cls, value: SecretStr) -> SecretStr:
        return database_url(value)

    @field_validator("arm_endpoint")
    @classmethod
    def _arm_endpoint(cls, value: str) -> str:
        # azure-core refuses to send a bearer token over plain http, so only https can work.
        if not re.match(r"^https://[^/\s]+(:\d+)?/?$", value):
            raise ValueError("expected an https:// base URL such as https://management.azure.com")
        return value.rstrip("/")

    @field_validator("arm_token")
    @classmethod
    def _arm_token(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and not value.get_secret_value().strip():
            return None
        if value is not None and value.get_secret_value().lower().startswith("bearer "):
            raise ValueError("give the token alone, without the 'Bearer ' prefix")
        return value

    @field_validator("ca_bundle")
    @classmethod
    def _ca_bundle(cls, value: Path | None) -> Path | None:
        if value is not None and not value.is_file():
            raise ValueError(f"no such file: {value} (a PEM file of the CA that signed the ARM endpoint)")
        return value

    @field_validator("subscriptions", mode="before")
    @classmethod
    def _split_subscriptions(cls, value: Any) -> Any:
        if isinstance(value, str):
            value = [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("subscriptions")
    @classmethod
    def _guid_subscriptions(cls, value: list[str]) -> list[str]:
        bad = [s for s in value if not _GUID.match(s)]
        if bad:
            raise ValueError(f"not subscription IDs (GUIDs): {bad}")
        return [s.lower() for s in value]

    @classmethod
    def settings_customise_sources(
        cls,
        settings_cls: type[BaseSettings],
        init_settings: PydanticBaseSettingsSource,
        env_settings: PydanticBaseSettingsSource,
        dotenv_settings: PydanticBaseSettingsSource,
        file_secret_settings: PydanticBaseSettingsSource,
    ) -> tuple[PydanticBaseSettingsSource, ...]:
        # The TOML file is read by load_settings, below the environment, and handed in with the overrides.
        return (init_settings, env_settings)


def database_url(value: SecretStr) -> SecretStr:
    """A database URL costwatch can use, with `postgresql://` meaning psycopg 3."""
    url = value.get_secret_value()
    if not re.match(r"^(sqlite|postgresql(\+psycopg)?)://", url):
        raise ValueError("expected sqlite:///PATH or postgresql+psycopg://USER@HOST:PORT/DB")
    if url.startswith("postgresql://"):
        url = "postgresql+psycopg://" + url[len("postgresql://") :]
    return SecretStr(url)


def load_settings(config: Path | str | None = None, **overrides: Any) -> Settings:
    """Load and validate the settings, or raise SettingsError naming every wrong key.

    Precedence: `overrides`, then COSTWATCH_* variables, then the TOML file (`config`, else
    $COSTWATCH_CONFIG), then the defaults. Loading keeps no state between calls: the dashboard loads
    settings from several threads at once."""
    path = config or os.environ.get(f"{ENV_PREFIX}CONFIG")
    if path:
        path = Path(path)
        if not path.is_file():
            raise SettingsError(f"config file not found: {path} (from --config or {ENV_PREFIX}CONFIG)")
    try:
        layers = [TomlConfigSettingsSource(Settings, toml_file=Path(path))()] if path else []
        layers += [EnvSettingsSource(Settings)(), overrides]
        return Settings(**_merged(layers))
    except ValidationError as exc:
        raise SettingsError(_explain(exc)) from None
    except ValueError as exc:  # malformed TOML or an env value that is not valid JSON for a section
        raise SettingsError(f"cannot read settings: {exc}") from None


def _merged(layers: list[dict[str, Any]]) -> dict[str, Any]:
    """The layers' values, a later layer's winning, sections (tables) merged key by key."""
    out: dict[str, Any] = {}
    for layer in layers:
        for key, value in layer.items():
            if isinstance(value, dict) and isinstance(out.get(key), dict):
                out[key] = _merged([out[key], value])
            else:
                out[key] = value
    return out


def _explain(exc: ValidationError) -> str:
    lines = ["invalid settings:"]
    for error in exc.errors():
        loc = [str(part) for part in error["loc"]]
        toml_key = ".".join(loc)
        env_key = ENV_PREFIX + "__".join(p.upper() for p in loc if not p.isdigit())
        message = error["msg"].removeprefix("Value error, ")
        if error["type"] == "extra_forbidden":
            message = "unknown setting (check the spelling against docs/settings.md)"
        lines.append(f"  {toml_key} ({env_key}): {message}")
    return "\n".join(lines)
