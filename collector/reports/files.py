"""Generate a report file, store it, and record it (path, checksum, size, status) in `generated_reports`."""

from __future__ import annotations

import hashlib
import io
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from pathlib import Path
from typing import Any, BinaryIO, TypeVar, cast

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from collector.db.models import GeneratedReport
from collector.extras import require
from collector.read.monthly_report import MonthlyReport, build_report, detail_rows
from collector.reports.csv_report import render_csv
from collector.reports.focus import write_focus
from collector.settings import Settings

FORMATS = ("csv", "xlsx", "pdf", "focus")  # what the schedule writes and the dashboard offers
# Also for `costwatch report`: the FOCUS file as Parquet (what a FinOps hub ingests).
ALL_FORMATS = (*FORMATS, "focus-parquet")
EXTENSIONS = {"csv": "csv", "xlsx": "xlsx", "pdf": "pdf", "focus": "csv", "focus-parquet": "parquet"}
MIME_TYPES = {
    "csv": "text/csv",
    "focus": "text/csv",
    "focus-parquet": "application/vnd.apache.parquet",
    "xlsx": "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    "pdf": "application/pdf",
}
_T = TypeVar("_T")
DEFAULT_FOLDER = Path("reports")  # relative to the working directory


@dataclass(frozen=True)
class Generated:
    report: MonthlyReport
    format: str
    path: Path
    sha256: str
    size: int
    record_id: int


def default_name(report: MonthlyReport, fmt: str) -> str:
    """e.g. costwatch-2026-10-final.csv, costwatch-focus-2026-10-estimated.csv: the preliminary and the
    final report of a month do not overwrite each other."""
    kind = "costwatch-focus" if fmt.startswith("focus") else "costwatch"
    return f"{kind}-{report.label}-{report.data_status}.{EXTENSIONS[fmt]}"


def render(session: Session, settings: Settings, report: MonthlyReport, fmt: str, out: BinaryIO) -> None:
    """Write the file in one of FORMATS to `out` (FOCUS as its rows are read: it lists every cost row)."""
    if fmt == "csv":
        out.write(render_csv(report))
    elif fmt == "focus":
        write_focus(report, detail_rows(session, settings, report.month), out)
    elif fmt == "focus-parquet":
        require("reports", "the FOCUS Parquet file", "pyarrow")
        from collector.reports.focus_parquet import write_focus_parquet  # pyarrow only when asked for

        write_focus_parquet(report, detail_rows(session, settings, report.month), out)
    elif fmt == "xlsx":
        require("reports", "the Excel report", "openpyxl")
        from collector.reports.xlsx import render_xlsx  # openpyxl only when asked for

        out.write(render_xlsx(report))
    elif fmt == "pdf":
        require("reports", "the PDF report", "fpdf", "matplotlib")
        from collector.reports.pdf import render_pdf  # fpdf2 and matplotlib only when asked for

        out.write(render_pdf(report))
    else:
        raise ValueError(f"unknown report format {fmt!r}; choose from {', '.join(ALL_FORMATS)}")


class _Checksummed(io.RawIOBase):
    """A file being written, with the SHA-256 and size of what went into it."""

    def __init__(self, file: BinaryIO) -> None:
        self.file, self.sha256, self.size = file, hashlib.sha256(), 0

    def writable(self) -> bool:
        return True

    def write(self, data: Any) -> int:
        self.sha256.update(data)
        self.size += len(data)
        return self.file.write(data)


def _target(out: Path | str | None, report: MonthlyReport, fmt: str) -> Path:
    """`out` as given (a file, or an existing folder / a text ending in a separator to put the default
    name in), else reports/<default name> under the working directory."""
    if out is None:
        return (DEFAULT_FOLDER / default_name(report, fmt)).absolute()
    folder = isinstance(out, str) and out.endswith(("/", os.sep))
    path = Path(out)
    if folder or path.is_dir():
        return (path / default_name(report, fmt)).absolute()
    return path.absolute()


def _write_atomically(path: Path, write: Callable[[BinaryIO], _T]) -> _T:
    """Write beside the target and rename over it: a reader never sees half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            written = write(f)
        os.replace(tmp, path)
        return written
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def generate(
    engine: Engine,
    settings: Settings,
    month: date,
    fmt: str,
    out: Path | str | None = None,
    *,
    today: date | None = None,
    now: datetime | None = None,
) -> Generated:
    """Build the month's report from the store, write it in `fmt`, and record the file."""
    from collector.runs import utcnow

    if fmt not in ALL_FORMATS:
        raise ValueError(f"unknown report format {fmt!r}; choose from {', '.join(ALL_FORMATS)}")
    with Session(engine) as session:
        report = build_report(session, settings, month, today=today)
        path = _target(out, report, fmt)

        def write(file: BinaryIO) -> _Checksummed:
            checked = _Checksummed(file)
            render(session, settings, report, fmt, cast(BinaryIO, checked))
            return checked

        written = _write_atomically(path, write)
    digest, size = written.sha256.hexdigest(), written.size
    with Session(engine) as session, session.begin():
        record = GeneratedReport(
            month=report.label,
            format=fmt,
            path=str(path),
            sha256=digest,
            size=size,
            data_status=report.data_status,
            created_at=now or utcnow(),
        )
        session.add(record)
        session.flush()
        record_id = record.id
    return Generated(report, fmt, path, digest, size, record_id)


def generated_reports(session: Session, month: str | None = None) -> list[GeneratedReport]:
    """Recorded report files, newest first."""
    query = select(GeneratedReport).order_by(GeneratedReport.created_at.desc(), GeneratedReport.id.desc())
    if month:
        query = query.where(GeneratedReport.month == month)
    return list(session.scalars(query))


def file_state(record: GeneratedReport, *, verify: bool = True) -> str:
    """'ok' when the file is there as recorded; 'missing'; or 'changed' (regenerated or edited since: a
    later record may describe it). Without `verify` only the size is compared (no read of the file)."""
    path = Path(record.path)
    if not path.is_file():
        return "missing"
    if path.stat().st_size != record.size:
        return "changed"
    if verify and hashlib.sha256(path.read_bytes()).hexdigest() != record.sha256:
        return "changed"
    return "ok"
