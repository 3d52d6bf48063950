"""The month's FOCUS file as Parquet: the same rows and values as the CSV (collector.reports.focus), typed.

Decimal columns are Parquet DECIMAL(38, 20), exact (a value with more than 20 decimals is refused, never
rounded); DateTime columns are timestamps in UTC (microseconds); JSON (Tags) is a UTF-8 string; a column
declared not nullable in COLUMNS is not nullable in the schema. The file holds no generation time and
pyarrow writes it the same way each time: the same store and pyarrow version give the same bytes.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq

from collector.periods import month_end
from collector.read.monthly_report import DetailRow, MonthlyReport
from collector.reports.focus import COLUMNS, FOCUS_VERSION, Column, focus_record

DECIMAL_PRECISION, DECIMAL_SCALE = 38, 20  # 18 integer digits: far beyond any cost or quantity of a row
_QUANTUM = Decimal(1).scaleb(-DECIMAL_SCALE)
_BATCH = 10_000  # rows per record batch and row group: bounded memory for a large tenant's month


def _arrow_type(column: Column) -> pa.DataType:
    if column.type == "Decimal":
        return pa.decimal128(DECIMAL_PRECISION, DECIMAL_SCALE)
    if column.type == "DateTime":
        return pa.timestamp("us", tz="UTC")
    return pa.string()


SCHEMA = pa.schema(
    [pa.field(c.name, _arrow_type(c), nullable=c.nullable) for c in COLUMNS],
    metadata={"FocusVersion": FOCUS_VERSION, "Generator": "costwatch"},
)


def _decimal(name: str, text: str) -> Decimal:
    value = Decimal(text)
    exact = value.quantize(_QUANTUM)
    if exact != value:
        raise ValueError(
            f"{name} {text} has more than {DECIMAL_SCALE} decimals and cannot be stored exactly in the "
            "Parquet file; the FOCUS CSV (--format focus) keeps every digit"
        )
    return exact


def _datetime(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00")).astimezone(UTC)


def _typed(column: Column, text: str) -> Any:
    """The CSV's text of one field as the Parquet value: an empty field is null where the column may be."""
    if text == "" and column.nullable:
        return None
    if column.type == "Decimal":
        return _decimal(column.name, text)
    if column.type == "DateTime":
        return _datetime(text)
    return text


def _batches(report: MonthlyReport, rows: Iterable[DetailRow]) -> Iterator[pa.RecordBatch]:
    last = month_end(report.month)
    columns: list[list[Any]] = [[] for _ in COLUMNS]
    count = 0
    for row in rows:
        if not report.month <= row.usage_date <= last:
            raise ValueError(f"a cost row of {row.usage_date} is not in {report.label}")
        record = focus_record(report, row)  # the CSV's values: both files say the same
        for values, column in zip(columns, COLUMNS, strict=True):
            values.append(_typed(column, record[column.name]))
        count += 1
        if count == _BATCH:
            yield pa.record_batch(columns, schema=SCHEMA)
            columns, count = [[] for _ in COLUMNS], 0
    if count:
        yield pa.record_batch(columns, schema=SCHEMA)


def write_focus_parquet(report: MonthlyReport, rows: Iterable[DetailRow], out: BinaryIO) -> None:
    """The FOCUS Parquet of the report's month from its detail rows, written batch by batch."""
    # No statistics beyond pyarrow's defaults and no dictionary of a varying size: fixed options so that
    # the bytes depend on the rows only.
    with pq.ParquetWriter(
        out,
        SCHEMA,
        compression="zstd",
        compression_level=3,
        use_dictionary=True,
        write_statistics=True,
        version="2.6",
    ) as writer:
        wrote = False
        for batch in _batches(report, rows):
            writer.write_batch(batch, row_group_size=_BATCH)
            wrote = True
        if not wrote:  # a month without spend: an empty file with the schema, as the CSV has its header
            writer.write_table(SCHEMA.empty_table())
