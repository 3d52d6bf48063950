"""Put the month's FOCUS Parquet into a FinOps hub's storage, where the hub's pipeline ingests it.

The layout is the one FinOps toolkit hubs read custom FOCUS data from (docs/reports.md cites it):

    ingestion/Costs/{yyyy}/{mm}/{scope-path}/{ingestion-id}__{original-file-name}.parquet

then an empty `manifest.json` in the same folder, written last, that starts the hub's Data Explorer
ingestion. costwatch's scope path is `costwatch`: its own folder, so the hub never mixes it up with (or
replaces) the folders of Azure's Cost Management exports. The ingestion id is the file's SHA-256 prefix:
uploading the same file again finds it there and changes nothing; a changed month (estimated, then final)
gets a new name, and the month's older costwatch file is deleted, so the folder always holds one file.

Authentication: a SAS in the URL if there is one, else the credential costwatch uses for ARM
(collector.azure.credentials), for the storage audience. A SAS never appears in a message.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from azure.core.credentials import TokenCredential
from azure.core.exceptions import (
    ClientAuthenticationError,
    HttpResponseError,
    ResourceNotFoundError,
    ServiceRequestError,
)
from azure.storage.blob import ContainerClient, ContentSettings

from collector.settings import Settings

DATASET = "Costs"  # the hub's managed dataset of FOCUS cost data (its Costs_raw table)
SCOPE_PATH = "costwatch"
MANIFEST = "manifest.json"
_FIX_AUTH = (
    "give the identity costwatch signs in with (DefaultAzureCredential) the 'Storage Blob Data Contributor' "
    "role on the storage account or container, or pass a container SAS URL with read, add, create, write, "
    "delete and list permissions"
)


class UploadError(Exception):
    """The file could not be put into the container; the message names the URL (without SAS) and the fix."""


@dataclass(frozen=True)
class Uploaded:
    url: str  # the blob's URL, without SAS
    blob: str  # its name in the container
    unchanged: bool  # the same file was there already: nothing was written
    removed: tuple[str, ...]  # the month's earlier costwatch files, deleted


def hub_folder(month: date) -> str:
    return f"{DATASET}/{month:%Y}/{month:%m}/{SCOPE_PATH}/"


def hub_blob_name(month: date, data: bytes) -> str:
    """e.g. Costs/2026/10/costwatch/3f2a9c01d4e5b6a7__costwatch-focus-2026-10.parquet."""
    ingestion_id = hashlib.sha256(data).hexdigest()[:16]
    return f"{hub_folder(month)}{ingestion_id}__costwatch-focus-{month:%Y-%m}.parquet"


def redacted(url: str) -> str:
    """The URL without its query (a SAS) or fragment."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc, parts.path.rstrip("/"), "", ""))


def _container(url: str, settings: Settings, credential: TokenCredential | None) -> ContainerClient:
    parts = urlsplit(url)
    if parts.scheme != "https" or not parts.netloc or parts.path.strip("/") == "":
        raise UploadError(
            f"--upload {redacted(url) or url!r}: give the https:// URL of a blob container, e.g. "
            "https://<account>.blob.core.windows.net/ingestion"
        )
    kwargs: dict[str, Any] = {"retry_total": min(settings.retries, 3)}
    if settings.ca_bundle is not None:
        # Passed explicitly: requests would otherwise let REQUESTS_CA_BUNDLE override it.
        kwargs["connection_verify"] = str(settings.ca_bundle)
    if parts.query:  # a SAS: it is the credential
        return ContainerClient.from_container_url(url, **kwargs)
    if credential is None:
        from collector.azure.credentials import make_credential

        credential = make_credential(settings)
    return ContainerClient.from_container_url(url, credential=credential, **kwargs)


def _explain(exc: Exception, where: str) -> UploadError:
    """One sentence from the storage error: its status and code, never its text (it may echo the request)."""
    if isinstance(exc, ResourceNotFoundError):
        said = " ".join(str(s) for s in ("HTTP 404", getattr(exc, "error_code", None)) if s)
        return UploadError(
            f"the container {where} does not exist ({said}): create it, or check the account and container "
            "name in the URL (a FinOps hub's is 'ingestion')"
        )
    if isinstance(exc, ClientAuthenticationError) or (
        isinstance(exc, HttpResponseError) and exc.status_code in (401, 403)
    ):
        status = getattr(exc, "status_code", None)
        code = getattr(exc, "error_code", None)
        said = " ".join(str(s) for s in ("HTTP", status, code) if s) if status else "no token"
        return UploadError(f"the storage account refused access to {where} ({said}): {_FIX_AUTH}")
    if isinstance(exc, ServiceRequestError):
        return UploadError(f"cannot reach {where}: check the account name in the URL and the network")
    if isinstance(exc, HttpResponseError):
        code = getattr(exc, "error_code", None) or ""
        return UploadError(f"the storage account answered HTTP {exc.status_code} {code} for {where}".replace("  ", " "))
    return UploadError(f"cannot upload to {where}: {type(exc).__name__}")


def upload_focus(
    container_url: str,
    path: Path,
    month: date,
    settings: Settings,
    *,
    credential: TokenCredential | None = None,
) -> Uploaded:
    """Put the FOCUS Parquet of `month` at `path` into the hub container, replacing the month's earlier one."""
    where = redacted(container_url)
    data = path.read_bytes()
    if not data.startswith(b"PAR1"):
        raise UploadError(f"{path} is not a Parquet file: a FinOps hub ingests Parquet (--format focus-parquet)")
    name = hub_blob_name(month, data)
    client = _container(container_url, settings, credential)
    try:
        with client:
            existing = {b.name for b in client.list_blobs(name_starts_with=hub_folder(month))}
            unchanged = name in existing and MANIFEST in {n.rsplit("/", 1)[-1] for n in existing}
            if not unchanged:
                client.upload_blob(
                    name,
                    data,
                    overwrite=True,
                    content_settings=ContentSettings(content_type="application/vnd.apache.parquet"),
                )
            old = tuple(sorted(n for n in existing if n != name and n.endswith(".parquet")))
            for blob in old:
                client.delete_blob(blob)
            if not unchanged:
                # Last, once the data is complete: the hub starts its ingestion when this file appears.
                client.upload_blob(hub_folder(month) + MANIFEST, b"", overwrite=True)
    except UploadError:
        raise
    except (HttpResponseError, ServiceRequestError, ClientAuthenticationError) as exc:
        raise _explain(exc, where) from None
    return Uploaded(f"{where}/{name}", name, unchanged, old)
