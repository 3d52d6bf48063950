"""Generated Azure answers: every row ends stored or counted as rejected with a reason; none crashes."""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from collector.azure.arm import AzureCallError
from collector.azure.cost_query import QueryPage
from collector.settings import CostSettings, SettingsError, load_settings
from collector.sources import costs
from tests.unit.test_cost_rows import CHUNK, COLUMNS

texts = st.text(st.characters(blacklist_categories=["Cs"]), max_size=40)
anything = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(-(10**20), 10**20),
    st.floats(allow_nan=True, allow_infinity=True),
    st.decimals(allow_nan=False, allow_infinity=False, places=12),
    texts,
    st.sampled_from(["<script>alert(1)</script>", "**bold**", "1e400", "-0", "20261015", "2026-10-15T00:00:00Z"]),
)
good_values = {
    "Cost": st.decimals(min_value=Decimal("-1e9"), max_value=Decimal("1e9"), places=10),
    "UsageQuantity": st.decimals(min_value=0, max_value=Decimal("1e12"), places=3),
    "ResourceId": st.sampled_from(
        [
            "/subscriptions/S/resourceGroups/RG/providers/Microsoft.SaaS/resources/X-1",
            "",
            "/subscriptions/s/resourcegroups/rg/providers/microsoft.storage/a/ü",
        ]
    ),
    "Meter": texts,
    "MeterId": texts,
    "MeterCategory": texts,
    "ChargeType": st.sampled_from(["Usage", "Refund"]),
    "UsageDate": st.integers(20261001, 20261031),
    "Currency": st.sampled_from(["USD", "EUR", "usd", "GBP", "XTS"]),
}


@st.composite
def answers(draw: st.DrawFn) -> tuple[list[str], list[list[Any]]]:
    columns = draw(st.permutations(COLUMNS))
    extra = draw(st.lists(st.sampled_from(["ServiceName", "PublisherType", "Odd"]), max_size=2, unique=True))
    columns = [*columns, *extra]
    rows = []
    for _ in range(draw(st.integers(0, 12))):
        row = []
        for name in columns:
            strategy = good_values.get(name, texts)
            row.append(draw(st.one_of(strategy, anything) if draw(st.booleans()) else strategy))
        if draw(st.integers(0, 9)) == 0:
            row = row[: draw(st.integers(0, len(row)))]  # a short row
        rows.append(row)
    return columns, rows


@settings(max_examples=1500, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(answers())
def test_every_generated_row_is_stored_or_rejected_with_a_reason(answer: tuple[list[str], list[list[Any]]]) -> None:
    columns, rows = answer
    parsed = costs.parse_pages([QueryPage(columns, rows)], CHUNK, CostSettings(), date(2026, 11, 25), "generated")
    assert len(parsed.rows) + parsed.duplicates + parsed.rejected == len(rows)
    assert sum(parsed.reasons.values()) == parsed.rejected
    for record in parsed.rows.values():
        assert isinstance(record["cost"], Decimal) and record["cost"].is_finite()
        assert CHUNK.first <= record["usage_date"] <= CHUNK.last
        assert len(record["currency"]) == 3 and record["currency"].isupper()
        assert record["resource_id"] == record["resource_id"].lower()


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(COLUMNS), max_size=8, unique=True))
def test_answers_missing_a_needed_column_fail_the_scope_clearly(columns: list[str]) -> None:
    needed = {"Cost", "UsageDate", "Currency", "ResourceId"}
    try:
        costs.parse_pages([QueryPage(columns, [])], CHUNK, CostSettings(), date(2026, 11, 25), "generated")
    except AzureCallError as exc:
        assert not needed <= set(columns)
        assert "expected columns" in str(exc)
    else:
        assert needed <= set(columns)


@settings(max_examples=300, deadline=None)
@given(
    key=st.sampled_from(
        [
            "ARM_ENDPOINT",
            "DATABASE_URL",
            "SUBSCRIPTIONS",
            "COSTS__FINAL_AFTER_DAY",
            "LIMITS__DEFAULT_TPM",
            "ALERTS__QUOTA_WARN",
            "SCHEDULE__LEASE_SECONDS",
            "LOG_LEVEL",
        ]
    ),
    value=texts,
)
def test_any_setting_value_loads_or_names_its_key(key: str, value: str) -> None:
    import os

    saved = {k: v for k, v in os.environ.items() if k.startswith("COSTWATCH_")}
    for k in saved:
        del os.environ[k]
    try:
        os.environ[f"COSTWATCH_{key}"] = value
        try:
            load_settings()
        except SettingsError as exc:
            assert f"COSTWATCH_{key}" in str(exc)
    except ValueError:
        pass  # the environment itself refuses the value (an embedded NUL): nothing of costwatch runs
    finally:
        os.environ.pop(f"COSTWATCH_{key}", None)
        os.environ.update(saved)
