"""How the CLI prints a list of records: an aligned table for people, JSON, CSV or Markdown for scripts.

Every command that prints rows takes the same `--format` option (`format_option`) and renders through
`render`, so a script or a CI step can rely on one set of formats. JSON keeps the records' own types
(money stays a decimal string, never a float); CSV and Markdown print the given columns in order.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Callable, Sequence
from datetime import date, datetime
from decimal import Decimal
from typing import Any, TypeVar

import click

FORMATS = ("table", "json", "csv", "markdown")
# Columns that hold amounts as decimal strings (exact in JSON) but read as numbers in a table.
NUMERIC_COLUMNS = frozenset({"cost"})

F = TypeVar("F", bound=Callable[..., Any])


def format_option(command: F) -> F:
    """The `--format` option shared by every command that prints rows."""
    return click.option(
        "--format",
        "fmt",
        type=click.Choice(FORMATS),
        default="table",
        show_default=True,
        help="table for people; json, csv or markdown for scripts, CI and reports.",
    )(command)


def plain(value: Any) -> Any:
    """A value as JSON holds it: dates as ISO strings, decimals as exact strings."""
    if isinstance(value, datetime):
        return value.isoformat(timespec="seconds")
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, Decimal):
        return str(value)
    return value


def render(
    records: Sequence[dict[str, Any]], columns: Sequence[str], fmt: str, empty: str = "(nothing to show)"
) -> str:
    """The records in `fmt`; `empty` is what a table or Markdown says when there are none."""
    if fmt == "json":
        return json.dumps([{k: plain(v) for k, v in r.items()} for r in records], indent=2) + "\n"
    if fmt == "csv":
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=list(columns), lineterminator="\n")
        writer.writeheader()
        writer.writerows({c: plain(r[c]) for c in columns} for r in records)
        return out.getvalue()
    numeric = {c for c in columns if c in NUMERIC_COLUMNS or _numbers_only(r[c] for r in records)}
    if fmt == "markdown":
        return _markdown(records, columns, numeric, empty)
    if fmt != "table":
        raise ValueError(f"unknown format {fmt!r}; choose from {', '.join(FORMATS)}")
    cells = [[cell(r[c]) for c in columns] for r in records]
    widths = [max([len(c), *(len(row[i]) for row in cells)]) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True))]
    lines.append("  ".join("-" * w for w in widths))
    for row in cells:
        lines.append(
            "  ".join(v.rjust(w) if c in numeric else v.ljust(w) for c, v, w in zip(columns, row, widths, strict=True))
        )
    if not records:
        lines.append(empty)
    return "\n".join(lines) + "\n"


def cell(value: Any) -> str:
    """A value as a table shows it: nothing is `-`."""
    return "-" if value is None else str(plain(value))


def _numbers_only(values: Any) -> bool:
    seen = [v for v in values if v is not None]
    return bool(seen) and all(isinstance(v, int | float | Decimal) and not isinstance(v, bool) for v in seen)


def _markdown(records: Sequence[dict[str, Any]], columns: Sequence[str], numeric: set[str], empty: str) -> str:
    def escaped(value: Any) -> str:
        # A pipe ends a cell and a newline ends a row: both would break the table.
        return cell(value).replace("\\", "\\\\").replace("|", "\\|").replace("\r", " ").replace("\n", " ")

    lines = ["| " + " | ".join(columns) + " |"]
    lines.append("|" + "|".join("---:" if c in numeric else "---" for c in columns) + "|")
    lines += ["| " + " | ".join(escaped(r[c]) for c in columns) + " |" for r in records]
    if not records:
        lines.append(f"\n{empty}")
    return "\n".join(lines) + "\n"
