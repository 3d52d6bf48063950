"""The FOCUS file as Parquet, checked by the FinOps Foundation's focus-validator, and its upload into a
FinOps hub's `ingestion` container on Azurite (the Azure Storage emulator) over HTTPS with OAuth: the
token-credential path production uses.

The hub layout is FinOps toolkit's "About the ingestion container" (docs-mslearn/toolkit/hubs/
data-processing.md in microsoft/finops-toolkit, "How data is processed in FinOps hubs"):
`ingestion/{dataset}/{date-folder-path}/{scope-id-path}/{ingestion-id}__{original-file-name}.parquet`,
with `{yyyy}/{mm}` to keep the latest ingestion per month, and an empty `manifest.json` added to the
folder once all files are complete to start the Data Explorer ingestion.

The validator and Azurite are installed by `./dev test` (`install_test_tools`): focus-validator in its
own virtual environment (its pins conflict with ours, see tools/focus-validator/requirements.txt) and
Azurite from tools/azurite/package-lock.json.
"""

from __future__ import annotations

import base64
import json
import re
import shutil
import socket
import subprocess
import time
from collections import defaultdict
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import trustme
from azure.storage.blob import BlobServiceClient
from click.testing import CliRunner
from pydantic import SecretStr
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from collector.azure.credentials import StaticTokenCredential
from collector.db.engine import make_engine
from collector.db.models import Base
from collector.read.spend import spend
from collector.reports.files import generate
from collector.reports.focus import COLUMNS
from collector.reports.upload import UploadError, hub_folder, upload_focus
from collector.settings import Settings
from emulator import EmulatorServer
from tests.e2e.test_reports import _report_cli as report_cli
from tests.emulated import collect_all, emulator, settings_for

ROOT = Path(__file__).resolve().parents[2]
AZURITE = ROOT / "tools" / "azurite" / "node_modules" / "azurite" / "dist" / "src" / "blob" / "main.js"
VALIDATOR = ROOT / ".tools" / "focus-validator" / "bin" / "focus-validator"
TODAY = date(2026, 11, 20)
OCTOBER = date(2026, 10, 1)
ACCOUNT = "devstoreaccount1"  # Azurite's development account


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def storage_token(audience: str = "https://storage.azure.com", minutes: int = 60) -> str:
    """A JWT of the shape Entra ID issues for Azure Storage. Azurite's `--oauth basic` checks its
    audience, issuer and lifetime, not its signature."""

    def part(value: dict[str, Any]) -> str:
        return base64.urlsafe_b64encode(json.dumps(value).encode()).decode().rstrip("=")

    now = int(time.time())
    claims = {
        "aud": audience,
        "iss": "https://sts.windows.net/72f988bf-86f1-41af-91ab-2d7cd011db47/",
        "iat": now - 60,
        "nbf": now - 60,
        "exp": now + minutes * 60,
        "oid": "00000000-0000-0000-0000-0000000c0575",
    }
    return f"{part({'typ': 'JWT', 'alg': 'RS256'})}.{part(claims)}.c2lnbmF0dXJl"


@dataclass(frozen=True)
class Azurite:
    url: str  # the blob service, path style: https://127.0.0.1:PORT/devstoreaccount1
    ca_path: Path

    def admin(self) -> BlobServiceClient:
        """The test's own access, to create containers and read what the upload left."""
        token = StaticTokenCredential(storage_token())
        return BlobServiceClient(self.url, credential=token, connection_verify=str(self.ca_path))


@pytest.fixture(scope="module")
def azurite(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Azurite]:
    node = shutil.which("node")
    if node is None or not AZURITE.is_file():
        pytest.skip("Azurite is not installed: ./dev test installs it (npm ci in tools/azurite) where node exists")
    folder = tmp_path_factory.mktemp("azurite")
    ca = trustme.CA(organization_name="costwatch azurite test")
    cert = ca.issue_cert("127.0.0.1", "localhost")
    cert.private_key_pem.write_to_path(str(folder / "key.pem"))
    cert.cert_chain_pems[0].write_to_path(str(folder / "cert.pem"))
    ca.cert_pem.write_to_path(str(folder / "ca.pem"))
    port = _free_port()
    args = [node, str(AZURITE), "--blobHost", "127.0.0.1", "--blobPort", str(port), "--location", str(folder / "data"),
            "--oauth", "basic", "--cert", str(folder / "cert.pem"), "--key", str(folder / "key.pem"),
            "--silent", "--disableTelemetry", "--skipApiVersionCheck"]  # fmt: skip
    log = (folder / "azurite.log").open("wb")
    process = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if process.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"Azurite did not start: {(folder / 'azurite.log').read_text()}") from None
                time.sleep(0.2)
        yield Azurite(f"https://127.0.0.1:{port}/{ACCOUNT}", folder / "ca.pem")
    finally:
        process.terminate()
        process.wait(10)
        log.close()


@pytest.fixture(scope="module")
def store(
    database_urls: dict[str, str], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[tuple[EmulatorServer, Settings, Engine]]:
    """The emulator's history collected once into SQLite for the module's tests."""
    url = database_urls["sqlite"]
    engine = make_engine(url)
    with engine.begin() as connection:
        for table in reversed(Base.metadata.sorted_tables):
            connection.execute(table.delete())
    with emulator(today=TODAY) as server:
        settings = settings_for(server, url)
        assert collect_all(server, settings, engine).status == "succeeded"
        yield server, settings, engine
    engine.dispose()


def hub_settings(settings: Settings, azurite: Azurite, folder: Path, token: str | None = None) -> Settings:
    """The collection's settings with a bearer token for storage and a CA bundle that trusts both the
    ARM emulator and Azurite (one `ca_bundle` serves every HTTPS peer of costwatch)."""
    assert settings.ca_bundle is not None
    bundle = folder / "bundle.pem"
    bundle.write_bytes(settings.ca_bundle.read_bytes() + azurite.ca_path.read_bytes())
    return settings.model_copy(update={"arm_token": SecretStr(token or storage_token()), "ca_bundle": bundle})


def totals(rows: list[dict[str, Any]]) -> dict[str, Decimal]:
    out: dict[str, Decimal] = defaultdict(Decimal)
    for row in rows:
        out[row["BillingCurrency"]] += Decimal(row["BilledCost"])
    return dict(out)


# -- the Parquet file --------------------------------------------------------------------------------


def test_parquet_types_totals_and_bytes(store: tuple[EmulatorServer, Settings, Engine], tmp_path: Path) -> None:
    _server, settings, engine = store
    made = generate(engine, settings, OCTOBER, "focus-parquet", tmp_path, today=TODAY)
    assert made.path.name == "costwatch-focus-2026-10-final.parquet"
    table = pq.read_table(made.path)
    assert table.schema.names == [c.name for c in COLUMNS]
    for column in COLUMNS:
        field = table.schema.field(column.name)
        assert field.nullable == column.nullable, column.name
        if column.type == "Decimal":
            assert pa.types.is_decimal(field.type), column.name  # exact, never a float
        elif column.type == "DateTime":
            assert field.type == pa.timestamp("us", tz="UTC"), column.name
        else:
            assert field.type == pa.string(), column.name
        if not column.nullable:
            assert table.column(column.name).null_count == 0, column.name
    rows = table.to_pylist()
    assert {r["BillingPeriodStart"] for r in rows} == {datetime(2026, 10, 1, tzinfo=UTC)}
    assert {r["BillingPeriodEnd"] for r in rows} == {datetime(2026, 11, 1, tzinfo=UTC)}

    # to the cent and beyond: the Parquet's sums are the CSV's and the store's, every digit
    csv_made = generate(engine, settings, OCTOBER, "focus", tmp_path, today=TODAY)
    import csv

    csv_rows = list(csv.DictReader(csv_made.path.read_text(encoding="utf-8").splitlines()))
    assert len(csv_rows) == len(rows) > 0
    with Session(engine) as session:
        store_totals: dict[str, Decimal] = defaultdict(Decimal)
        for row in spend(session, OCTOBER, date(2026, 10, 31), ["subscription"]):
            store_totals[row.currency] += row.cost
    assert totals(rows) == totals(csv_rows) == dict(store_totals)
    # row by row the same values as the CSV (a null where the CSV has an empty field)
    for got, want in zip(rows, csv_rows, strict=True):
        assert Decimal(want["BilledCost"]) == got["BilledCost"]
        assert (want["ConsumedQuantity"] or None) == (
            None if got["ConsumedQuantity"] is None else want["ConsumedQuantity"]
        )
        assert (want["Tags"] or None) == got["Tags"]

    again = generate(engine, settings, OCTOBER, "focus-parquet", tmp_path / "again.parquet", today=TODAY)
    assert again.path.read_bytes() == made.path.read_bytes()  # same store, same bytes


# What focus-validator 1.0.0's FOCUS 1.0 rules report on our files that is not ours to fix (docs/reports.md,
# "FOCUS into a FinOps hub", says why). Any other failure fails the test.
NOT_FILLED = {  # FOCUS columns the stored Cost Management rows cannot fill truthfully ("Not filled")
    f"{name}_Required"
    for name in ("BillingAccountId", "BillingAccountName", "CommitmentDiscountCategory", "CommitmentDiscountId",
                 "CommitmentDiscountName", "CommitmentDiscountStatus", "CommitmentDiscountType", "ContractedCost",
                 "ContractedUnitPrice", "ListCost", "ListUnitPrice", "PricingCategory", "RegionName", "SkuId",
                 "SkuPriceId")
}  # fmt: skip
# The validator's 1.0 rule set still uses the 1.0-preview names of four columns that FOCUS 1.0 renamed
# (and 1.2 keeps): InvoiceIssuerName, ProviderName, PublisherName, ResourceId are in our file.
PREVIEW_NAMES = {"InvoiceIssuer_Required", "Provider_Required", "Publisher_Required", "ResourceID_Required"}
# It checks a Decimal column by pandas' float64 dtype; Parquet decimals (exact) load as Python Decimals. The
# CSV of the same rows loads as float64 and passes these checks.
FLOAT_ONLY = {f"{name}_IsDecimal" for name in ("BilledCost", "ConsumedQuantity", "EffectiveCost", "PricingQuantity")}


def validator_failures(path: Path, tmp_path: Path) -> set[str]:
    out = tmp_path / f"{path.name}.xml"
    # It reads its currency list from a path relative to the working directory: run it in site-packages.
    [site] = list((VALIDATOR.parent.parent / "lib").glob("python3*/site-packages"))
    result = subprocess.run(
        [str(VALIDATOR), "--data-file", str(path), "--validate-version", "1.0", "--output-type", "unittest",
         "--output-destination", str(out)],
        capture_output=True, text=True, timeout=120, cwd=site,
    )  # fmt: skip
    assert out.is_file(), result.stdout + result.stderr
    report = out.read_text()
    assert report.count("<testcase") > 100, report  # it really ran its rules
    return set(re.findall(r'<failure name="([^"]+)"', report))


def test_parquet_and_csv_pass_the_focus_validator(
    store: tuple[EmulatorServer, Settings, Engine], tmp_path: Path
) -> None:
    """focus-validator 1.0.0 (the newest for Python 3.11: its 2.x needs 3.12) knows FOCUS up to 1.0; our
    1.2 files are checked against its 1.0 rules (values of ChargeCategory, ChargeFrequency, currency
    codes, date-times, JSON tags, nullability...), with the exceptions above and no other failure."""
    if not VALIDATOR.is_file():
        pytest.skip("focus-validator is not installed: ./dev test (or ./dev tools) installs it into .tools/")
    _server, settings, engine = store
    parquet = generate(engine, settings, OCTOBER, "focus-parquet", tmp_path, today=TODAY).path
    text = generate(engine, settings, OCTOBER, "focus", tmp_path, today=TODAY).path
    assert validator_failures(parquet, tmp_path) == NOT_FILLED | PREVIEW_NAMES | FLOAT_ONLY
    assert validator_failures(text, tmp_path) == NOT_FILLED | PREVIEW_NAMES


# -- the upload into a FinOps hub ------------------------------------------------------------------------


def test_upload_lands_at_the_hub_path_once(
    store: tuple[EmulatorServer, Settings, Engine], azurite: Azurite, tmp_path: Path
) -> None:
    _server, settings, _engine = store
    admin = azurite.admin()
    admin.create_container("ingestion")
    container = f"{azurite.url}/ingestion"
    config = hub_settings(settings, azurite, tmp_path)
    group = report_cli(config)
    args = [
        "report",
        "--month",
        "2026-10",
        "--format",
        "focus-parquet",
        "--out",
        str(tmp_path / "f.parquet"),
        "--upload",
        container,
    ]
    result = CliRunner().invoke(group, args, catch_exceptions=False)
    assert result.exit_code == 0, result.output
    names = sorted(b.name for b in admin.get_container_client("ingestion").list_blobs())
    [data] = [n for n in names if n.endswith(".parquet")]
    assert data.startswith("Costs/2026/10/costwatch/") and data.endswith("__costwatch-focus-2026-10.parquet")
    assert names == sorted([data, "Costs/2026/10/costwatch/manifest.json"])
    assert f"uploaded: {container}/{data}" in result.output
    blob = admin.get_blob_client("ingestion", data).download_blob().readall()
    assert blob == (tmp_path / "f.parquet").read_bytes()

    # the same month again: the same one blob, untouched
    result = CliRunner().invoke(group, args, catch_exceptions=False)
    assert result.exit_code == 0 and "unchanged" in result.output, result.output
    assert sorted(b.name for b in admin.get_container_client("ingestion").list_blobs()) == names

    # a changed month (a file that differs): it replaces the month's blob, still one
    other = tmp_path / "other.parquet"
    table = pq.read_table(tmp_path / "f.parquet")
    pq.write_table(table.slice(1), other)
    sent = upload_focus(container, other, OCTOBER, config)
    assert sent.removed == (data,) and not sent.unchanged
    left = sorted(
        b.name for b in admin.get_container_client("ingestion").list_blobs(name_starts_with=hub_folder(OCTOBER))
    )
    assert left == sorted([sent.blob, "Costs/2026/10/costwatch/manifest.json"])


def test_upload_errors_name_the_container_and_the_fix(
    store: tuple[EmulatorServer, Settings, Engine], azurite: Azurite, tmp_path: Path
) -> None:
    _server, settings, engine = store
    config = hub_settings(settings, azurite, tmp_path)
    made = generate(engine, settings, OCTOBER, "focus-parquet", tmp_path, today=TODAY)

    missing = f"{azurite.url}/no-such-container"
    with pytest.raises(UploadError) as exc:
        upload_focus(missing, made.path, OCTOBER, config)
    message = str(exc.value)
    assert missing in message and "does not exist (HTTP 404 ContainerNotFound)" in message and "create it" in message

    # a SAS the account does not accept: refused, and the SAS never shows
    with pytest.raises(UploadError) as exc:
        upload_focus(missing + "?sv=2024-11-04&sp=racwdl&sig=c2VjcmV0LXNhcw%3D%3D", made.path, OCTOBER, config)
    message = str(exc.value)
    assert missing in message and "403" in message and "SAS" in message
    assert "sig=" not in message and "c2VjcmV0" not in message

    azurite.admin().create_container("refused")
    wrong_audience = hub_settings(settings, azurite, tmp_path, storage_token("https://management.azure.com"))
    with pytest.raises(UploadError) as exc:
        upload_focus(f"{azurite.url}/refused", made.path, OCTOBER, wrong_audience)
    message = str(exc.value)
    assert f"{azurite.url}/refused" in message and "403" in message and "Storage Blob Data Contributor" in message
    assert not list(azurite.admin().get_container_client("refused").list_blobs())

    # through the CLI: exit 1 with the same sentence, and --upload wants the Parquet
    group = report_cli(config)
    result = CliRunner().invoke(
        group,
        [
            "report",
            "--month",
            "2026-10",
            "--format",
            "focus-parquet",
            "--out",
            str(tmp_path / "x.parquet"),
            "--upload",
            missing,
        ],
    )
    assert result.exit_code == 1 and "written but not uploaded" in result.output and missing in result.output
    assert "Traceback" not in result.output
    result = CliRunner().invoke(group, ["report", "--month", "2026-10", "--format", "focus", "--upload", missing])
    assert result.exit_code == 2 and "--format focus-parquet" in result.output, result.output


def test_parquet_of_a_month_without_spend_and_a_digit_too_many(
    store: tuple[EmulatorServer, Settings, Engine], tmp_path: Path
) -> None:
    _server, settings, engine = store
    made = generate(engine, settings, date(2025, 1, 1), "focus-parquet", tmp_path, today=TODAY)
    table = pq.read_table(made.path)
    assert table.num_rows == 0 and table.schema.names == [c.name for c in COLUMNS]

    from collector.reports.focus_parquet import _typed

    [billed] = [c for c in COLUMNS if c.name == "BilledCost"]
    assert _typed(billed, "0.00000000000000000001") == Decimal("1E-20")
    with pytest.raises(ValueError, match=r"more than 20 decimals.*--format focus"):
        _typed(billed, "0.000000000000000000001")
