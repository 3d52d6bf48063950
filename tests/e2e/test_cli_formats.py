"""`--format table|json|csv|markdown` on every command that prints rows, as a script or CI step reads it."""

from __future__ import annotations

import csv
import io
import json
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from decimal import Decimal

import click
import pytest

from collector.cli import cli
from collector.output import FORMATS, render
from emulator import EmulatorServer
from tests.e2e.test_cli import run
from tests.emulated import TOKEN, emulator, history_start


@pytest.fixture
def collected(db_url: str, monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[EmulatorServer, list[dict]]]:
    """A store filled by `collect --format json`, and what that collect printed."""
    for key in list(os.environ):
        if key.startswith("COSTWATCH_"):
            monkeypatch.delenv(key)
    with emulator() as server:
        for key, value in {
            "COSTWATCH_DATABASE_URL": db_url,
            "COSTWATCH_ARM_ENDPOINT": server.url,
            "COSTWATCH_ARM_TOKEN": TOKEN,
            "COSTWATCH_CA_BUNDLE": str(server.ca_path),
        }.items():
            monkeypatch.setenv(key, value)
        assert run("db", "upgrade")[0] == 0
        since, until = history_start(server).isoformat(), server.tenant.today.isoformat()
        code, out, err = run("collect", "--since", since, "--until", until, "--format", "json")
        assert code == 0, err
        yield server, json.loads(out)


def markdown_rows(text: str) -> list[dict[str, str]]:
    """The first GitHub-flavoured Markdown table in `text`, as records (pipes inside cells are escaped)."""
    lines = [line for line in text.splitlines() if line.startswith("|")]
    cells = [[c.strip().replace("\\|", "|") for c in re.split(r"(?<!\\)\|", line)[1:-1]] for line in lines]
    header, separator, *body = cells
    assert all(re.fullmatch(r"-{3}:?", s) for s in separator), separator
    table_end = next((i for i, row in enumerate(body) if len(row) != len(header)), len(body))
    return [dict(zip(header, row, strict=True)) for row in body[:table_end]]


def test_collect_prints_one_record_per_job_for_scripts(collected: tuple[EmulatorServer, list[dict]]) -> None:
    _, jobs = collected
    assert [j["job"] for j in jobs] == ["costs", "quota", "metrics"]
    costs = jobs[0]
    assert costs["status"] == "succeeded" and costs["failures"] == []
    assert costs["rows_written"] > 0 and costs["qpu_used"] > 0 and costs["api_calls"] > 0
    assert jobs[1]["qpu_used"] is None  # the Cost Management budget is spent by the cost job only
    # The seeded tenant has a SaaS resource no workspace claims: it is listed with its reason, not dropped.
    unattributed = [a for a in costs["attribution"] if a["attribution"] == "unattributed"]
    assert unattributed and all(a["resource_id"].startswith("/subscriptions/") and a["why"] for a in unattributed)


@pytest.mark.parametrize(
    "args",
    [
        ["spend", "--by", "project,model,meter"],
        ["quota"],
        ["deployments", "--window", "7d"],
        ["alerts", "list", "--state", "all"],
    ],
    ids=lambda a: " ".join(a[:2]),
)
def test_every_format_holds_the_same_rows(collected: tuple[EmulatorServer, list[dict]], args: list[str]) -> None:
    server, _ = collected
    if args[0] == "spend":
        args = [*args, "--from", history_start(server).isoformat(), "--to", server.tenant.today.isoformat()]
    if args[0] == "alerts":
        assert run("alerts", "evaluate", "--no-deliver")[0] == 0
    code, out, err = run(*args, "--format", "json")
    assert code == 0, err
    records = json.loads(out)
    assert records, f"{args} printed no rows on the demo tenant"

    code, out, _ = run(*args, "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert len(rows) == len(records)
    assert set(rows[0]) <= set(records[0])  # CSV prints the table's columns, JSON every field

    code, out, _ = run(*args, "--format", "markdown")
    assert code == 0
    # The same cells in the same order; a missing value reads `-` in Markdown, as in the table.
    assert [{k: "" if v == "-" else v for k, v in row.items()} for row in markdown_rows(out)] == rows

    code, out, _ = run(*args, "--format", "table")
    assert code == 0 and len(out.splitlines()) >= 2 + len(records)


def test_spend_stays_exact_in_every_format(collected: tuple[EmulatorServer, list[dict]]) -> None:
    server, _ = collected
    window = ["--from", history_start(server).isoformat(), "--to", server.tenant.today.isoformat()]
    totals = {}
    for fmt in ("json", "csv", "markdown"):
        out = run("spend", *window, "--by", "project", "--format", fmt)[1]
        records = json.loads(out) if fmt == "json" else markdown_rows(out) if fmt == "markdown" else None
        records = records if records is not None else list(csv.DictReader(io.StringIO(out)))
        totals[fmt] = {(r["project"], r["currency"]): Decimal(r["cost"]) for r in records}
    assert totals["json"] == totals["csv"] == totals["markdown"]


def test_alerts_evaluate_reports_its_changes_for_scripts(collected: tuple[EmulatorServer, list[dict]]) -> None:
    code, out, err = run("alerts", "evaluate", "--dry-run", "--format", "json")
    assert code == 0, err
    dry = json.loads(out)
    assert dry["dry_run"] is True and dry["delivery"] is None
    fired = [c["key"] for c in dry["changes"] if c["action"] == "fire"]
    assert fired and dry["new"] == len(fired)

    code, out, err = run("alerts", "evaluate", "--no-deliver", "--format", "csv")
    assert code == 0
    assert sorted(r["key"] for r in csv.DictReader(io.StringIO(out)) if r["action"] == "fire") == sorted(fired)
    assert f"{len(fired)} new" in err  # the counts are not rows: stderr keeps stdout one CSV table

    code, out, _ = run("alerts", "evaluate", "--no-deliver", "--format", "markdown")
    rows = markdown_rows(out)
    assert {r["action"] for r in rows} <= {"remind", "still firing"} and len(rows) == len(fired)
    assert "0 new, " in out


def test_status_markdown_still_exits_on_stale_data(collected: tuple[EmulatorServer, list[dict]]) -> None:
    code, out, _ = run("status", "--format", "markdown")
    rows = markdown_rows(out)
    assert {r["job"] for r in rows} >= {"costs", "quota", "metrics"}
    assert code == (1 if any(r["state"] == "STALE" or r["last_status"] == "failed" for r in rows) else 0)


def test_markdown_escapes_what_would_break_a_table() -> None:
    records = [{"name": "a|b", "note": "two\nlines", "cost": "1.50"}, {"name": None, "note": "", "cost": "10"}]
    out = render(records, ["name", "note", "cost"], "markdown")
    assert out.splitlines()[1] == "|---|---|---:|"  # money is right-aligned
    assert markdown_rows(out) == [
        {"name": "a|b", "note": "two lines", "cost": "1.50"},
        {"name": "-", "note": "", "cost": "10"},
    ]
    assert "(nothing to show)" in render([], ["name"], "markdown")


def test_every_format_option_offers_every_format() -> None:
    def commands(group: click.Group, prefix: str = "") -> Iterator[tuple[str, click.Command]]:
        for name, command in group.commands.items():
            if isinstance(command, click.Group):
                yield from commands(command, f"{prefix}{name} ")
            else:
                yield f"{prefix}{name}", command

    with_format = {}
    for name, command in commands(cli):
        option = next((p for p in command.params if p.name == "fmt"), None)
        if option is not None and name != "report":  # report writes files (csv, xlsx, focus...), not rows
            with_format[name] = tuple(option.type.choices)  # type: ignore[attr-defined]
    assert with_format == dict.fromkeys(
        ["collect", "spend", "quota", "deployments", "status", "events", "alerts evaluate", "alerts list"], FORMATS
    )


def test_shell_completion_completes_commands_and_formats(tmp_path) -> None:
    costwatch = [sys.executable, "-m", "collector.cli"]
    script = subprocess.run([*costwatch, "completion", "bash"], capture_output=True, text=True, check=True).stdout
    assert "_COSTWATCH_COMPLETE=bash_complete" in script and "complete " in script

    def complete(words: str) -> list[str]:
        env = {
            **os.environ,
            "COMP_WORDS": words,
            "COMP_CWORD": str(len(words.split()) - (0 if words.endswith(" ") else 1)),
            "_COSTWATCH_COMPLETE": "bash_complete",
        }
        out = subprocess.run(costwatch, env=env, capture_output=True, text=True, cwd=tmp_path, check=True).stdout
        return [line.split(",", 1)[1] for line in out.splitlines()]

    assert complete("costwatch sta") == ["status"]
    assert complete("costwatch spend --format ") == list(FORMATS)
