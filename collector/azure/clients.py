"""One factory for every Azure SDK client: credential, endpoint, CA bundle, retry and QPU metering."""

from __future__ import annotations

import logging
from functools import cache, cached_property
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from azure.core.credentials import TokenCredential
from azure.mgmt.costmanagement import CostManagementClient
from azure.mgmt.resource.resources import ResourceManagementClient
from azure.mgmt.resource.subscriptions import SubscriptionClient
from azure.monitor.querymetrics import MetricsClient

from collector.azure.credentials import make_credential
from collector.azure.throttling import ArmRetryPolicy, QpuMeter, QpuPolicy
from collector.settings import Settings

log = logging.getLogger(__name__)


@cache
def user_agent() -> str:
    """'costwatch/<version>': put before the SDK's own User-Agent on every call, so that a tenant's
    administrators (and Azure support) can tell costwatch's calls from others in their logs."""
    try:
        return f"costwatch/{version('costwatch')}"
    except PackageNotFoundError:  # run from a checkout that was never installed
        return "costwatch/unknown"


class AzureClients:
    """Creates each client once, all sharing one credential, one retry policy and one QPU meter."""

    def __init__(self, settings: Settings, credential: TokenCredential | None = None) -> None:
        self.settings = settings
        self.credential = credential or make_credential(settings)
        self.qpu = QpuMeter(share=settings.costs.qpu_share)
        self._metrics: dict[str, MetricsClient] = {}

    def _kwargs(self) -> dict[str, Any]:
        settings = self.settings
        kwargs: dict[str, Any] = {
            "base_url": settings.arm_endpoint,
            "retry_policy": ArmRetryPolicy(
                max_wait_seconds=settings.max_retry_wait_seconds,
                retry_total=settings.retries,
                retry_connect=settings.retries,
                retry_read=settings.retries,
                retry_status=settings.retries,
                retry_backoff_factor=settings.retry_backoff_seconds,
                retry_backoff_max=60,
            ),
            "per_retry_policies": [QpuPolicy(self.qpu)],
            "user_agent": user_agent(),
            "connection_timeout": 20,
            "read_timeout": settings.request_timeout_seconds,
            # Scopes stay those of the public cloud's ARM: a sovereign cloud would set both.
            "credential_scopes": ["https://management.azure.com/.default"],
        }
        if settings.ca_bundle is not None:
            # Passed explicitly: requests would otherwise let REQUESTS_CA_BUNDLE override it.
            kwargs["connection_verify"] = str(settings.ca_bundle)
        return kwargs

    @cached_property
    def cost_management(self) -> CostManagementClient:
        return CostManagementClient(self.credential, **self._kwargs())

    @cached_property
    def resources(self) -> ResourceManagementClient:
        """Also the ARM pipeline for calls the SDKs lack (marketplace subscriptions, serverless endpoints)."""
        return ResourceManagementClient(self.credential, subscription_id="", **self._kwargs())

    @cached_property
    def subscriptions(self) -> SubscriptionClient:
        return SubscriptionClient(self.credential, **self._kwargs())

    def metrics(self, endpoint: str) -> MetricsClient:
        """Azure Monitor's metrics data plane at `endpoint` (one per region), with the same credential,
        retries and CA bundle; its token is for https://metrics.monitor.azure.com."""
        if endpoint not in self._metrics:
            kwargs = {k: v for k, v in self._kwargs().items() if k not in ("base_url", "credential_scopes")}
            self._metrics[endpoint] = MetricsClient(endpoint, self.credential, **kwargs)
        return self._metrics[endpoint]

    def close(self) -> None:
        for name in ("cost_management", "resources", "subscriptions"):
            client = self.__dict__.pop(name, None)
            if client is not None:
                client.close()
        for metrics in self._metrics.values():
            metrics.close()
        self._metrics.clear()
