"""How costwatch authenticates to Azure Resource Manager."""

from __future__ import annotations

import base64
import json
import logging
import time
from typing import Any

from azure.core.credentials import AccessToken, TokenCredential
from azure.identity import DefaultAzureCredential

from collector.settings import Settings

log = logging.getLogger(__name__)


class StaticTokenCredential:
    """A bearer token given in settings (e.g. from `az account get-access-token`).

    It cannot be refreshed: when ARM rejects it, the run says so and names the setting to renew.
    """

    def __init__(self, token: str) -> None:
        self._token = token
        self._expires_on = _jwt_expiry(token) or int(time.time()) + 3600

    def get_token(self, *scopes: str, **kwargs: Any) -> AccessToken:
        return AccessToken(self._token, self._expires_on)

    def __repr__(self) -> str:  # never show the token
        return "StaticTokenCredential(<redacted>)"


def _jwt_expiry(token: str) -> int | None:
    parts = token.split(".")
    if len(parts) != 3:
        return None
    try:
        payload = json.loads(base64.urlsafe_b64decode(parts[1] + "=" * (-len(parts[1]) % 4)))
        return int(payload["exp"])
    except (ValueError, KeyError, TypeError):
        return None


def make_credential(settings: Settings) -> TokenCredential:
    if settings.arm_token is not None:
        log.info("auth: static bearer token from COSTWATCH_ARM_TOKEN")
        return StaticTokenCredential(settings.arm_token.get_secret_value())
    log.info("auth: DefaultAzureCredential (environment, workload identity, managed identity, Azure CLI)")
    return DefaultAzureCredential()
