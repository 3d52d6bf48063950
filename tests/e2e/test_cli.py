"""The `costwatch` command as a user runs it: settings from the environment, the emulator as Azure."""

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
from pathlib import Path

import pytest
from click.testing import CliRunner

from collector.cli import cli
from emulator import EmulatorServer
from tests.emulated import TOKEN, emulator, history_start, truth


@pytest.fixture
def server() -> Iterator[EmulatorServer]:
    with emulator() as running:
        yield running


@pytest.fixture
def env(server: EmulatorServer, db_url: str, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    for key in list(os.environ):
        if key.startswith("COSTWATCH_"):
            monkeypatch.delenv(key)
    values = {
        "COSTWATCH_DATABASE_URL": db_url,
        "COSTWATCH_ARM_ENDPOINT": server.url,
        "COSTWATCH_ARM_TOKEN": TOKEN,
        "COSTWATCH_CA_BUNDLE": str(server.ca_path),
        "COSTWATCH_RETRY_BACKOFF_SECONDS": "0.05",
    }
    for key, value in values.items():
        monkeypatch.setenv(key, value)
    return values


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(cli, list(args), catch_exceptions=False)
    return result.exit_code, result.stdout, result.stderr


def test_collect_then_spend_in_every_format(server: EmulatorServer, env: dict[str, str]) -> None:
    since, until = history_start(server).isoformat(), server.tenant.today.isoformat()
    assert run("db", "upgrade")[0] == 0
    code, out, err = run("collect", "--since", since, "--until", until)
    assert code == 0, err
    assert "succeeded" in out and "QPU" in out and "unattributed:" in out
    assert "[16/16]" in err  # progress, on stderr so stdout stays a summary

    code, out, _ = run("spend", "--from", since, "--to", until, "--by", "project,model,meter", "--format", "json")
    assert code == 0
    records = json.loads(out)
    assert set(records[0]) == {"project", "model", "meter", "cost", "currency"}
    got = {(r["project"], r["model"], r["meter"], r["currency"]): Decimal(r["cost"]) for r in records}
    assert got == truth(server, ["project", "model", "meter"])
    assert all(isinstance(r["cost"], str) for r in records)

    code, out, _ = run("spend", "--from", since, "--to", until, "--by", "subscription,day", "--format", "csv")
    rows = list(csv.DictReader(io.StringIO(out)))
    assert list(rows[0]) == ["subscription", "day", "cost", "currency"]
    assert len(rows) == len(truth(server, ["subscription", "day"]))

    code, out, _ = run("spend", "--from", since, "--to", until, "--by", "project")
    assert code == 0 and "proj-chatbot" in out and "(unattributed)" in out


def test_collect_refuses_a_database_without_schema(
    env: dict[str, str], monkeypatch: pytest.MonkeyPatch, tmp_path
) -> None:
    monkeypatch.setenv("COSTWATCH_DATABASE_URL", f"sqlite:///{tmp_path / 'new.db'}")
    code, _, err = run("collect")
    assert code == 1
    assert "costwatch db upgrade" in err


def test_a_failed_scope_makes_collect_exit_non_zero(server: EmulatorServer, env: dict[str, str]) -> None:
    run("db", "upgrade")
    broken = server.tenant.subscriptions[1].subscription_id
    server.faults.fail_subscription(broken, status=403)
    code, out, err = run("collect")
    assert code == 1
    assert "partial" in out
    assert f"FAILED costs /subscriptions/{broken}" in err and "Reader" in err


def test_status_exits_non_zero_while_a_job_is_stale_or_failing(server: EmulatorServer, env: dict[str, str]) -> None:
    run("db", "upgrade")
    code, out, err = run("status")
    assert code == 1 and "STALE" in out  # nothing collected yet
    # the default jobs: the cost job's inventory sync keeps the inventory fresh
    assert run("collect")[0] == 0
    code, out, err = run("status", "--format", "json")
    assert code == 0, err
    assert {line["state"] for line in json.loads(out)} == {"fresh"}
    server.faults.fail_subscription(server.tenant.subscriptions[1].subscription_id, status=403)
    assert run("collect", "--only", "costs")[0] == 1
    code, out, err = run("status")
    assert code == 1 and "need attention: costs failed" in err


def test_a_wrong_setting_names_the_key(env: dict[str, str], monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSTWATCH_SUBSCRIPTIONS", "prod")
    code, _, err = run("collect")
    assert code == 1
    assert "COSTWATCH_SUBSCRIPTIONS" in err and "GUID" in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["spend", "--from", "2026-13-01", "--to", "2026-11-30"], "use YYYY-MM-DD"),
        (["spend", "--from", "2026-11-01", "--to", "2026-11-30", "--by", "colour"], "choose from"),
        (["spend", "--from", "2026-11-30", "--to", "2026-11-01"], "is after"),
    ],
)
def test_bad_arguments_are_explained(env: dict[str, str], args: list[str], message: str) -> None:
    code, _, err = run(*args)
    assert code == 2 and message in err


def test_every_command_is_documented() -> None:
    from pathlib import Path

    readme = (Path(__file__).resolve().parents[2] / "docs" / "commands.md").read_text()
    for name, command in cli.commands.items():
        subcommands = getattr(command, "commands", None)
        for full in [f"{name} {sub}" for sub in subcommands] if subcommands else [name]:
            assert f"costwatch {full}" in readme, f"`costwatch {full}` is not in docs/commands.md"


def test_json_logs_carry_the_run_id(server: EmulatorServer, env: dict[str, str], monkeypatch) -> None:
    monkeypatch.setenv("COSTWATCH_LOG_FORMAT", "json")
    run("db", "upgrade")
    server.faults.fail_subscription(server.tenant.subscriptions[0].subscription_id, status=403)
    _, _, err = run("collect", "--only", "costs")
    entries = [json.loads(line) for line in err.splitlines() if line.startswith("{")]
    failures = [e for e in entries if e["level"] == "ERROR"]
    assert failures and all(isinstance(e["run_id"], int) for e in failures)
    assert {"time", "level", "logger", "run_id", "message"} <= set(failures[0])


def test_the_emulator_prints_its_ground_truth() -> None:
    from emulator import TenantSpec, generate_tenant
    from emulator.cli import main as emulator_cli

    result = CliRunner().invoke(emulator_cli, ["serve", "--print-truth", "currency"])
    assert result.exit_code == 0
    printed = {r["currency"]: Decimal(r["cost"]) for r in json.loads(result.stdout)}
    tenant = generate_tenant(TenantSpec(seed=42, foundry=True))
    assert printed == {
        r["currency"]: r["cost"] for r in tenant.truth(["currency"], tenant.history_start, tenant.history_end)
    }


def test_a_scope_the_emulator_prints_collects_every_subscription_at_once(
    db_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """`costwatch-emulator serve`, then its printed exports pasted into a shell: the wide scopes it names
    answer, with every subscription's costs in one query a month."""
    command = [sys.executable, "-m", "emulator", "serve", "--port", "0", "--ca-dir", str(tmp_path)]
    unbuffered = {**os.environ, "PYTHONUNBUFFERED": "1"}  # each line as printed, not when the pipe's buffer fills
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True, env=unbuffered
    ) as process:
        try:
            assert process.stdout is not None
            printed = [process.stdout.readline() for _ in range(5)]  # the URL, its settings, 2 scopes
        finally:
            process.terminate()
        exports = dict(re.findall(r"(COSTWATCH_\w+)=(\S+)", "".join(printed)))
        scopes = re.findall(r"COSTWATCH_COSTS__SCOPE=(\S+)  # the (.+)", "".join(printed))
    assert [what for _, what in scopes] == ["billing account", "billing profile"]

    with emulator() as server:  # the same seeded tenant, served in-process for the collection
        for key in list(os.environ):
            if key.startswith("COSTWATCH_"):
                monkeypatch.delenv(key)
        for key, value in exports.items():
            monkeypatch.setenv(key, value)
        monkeypatch.setenv("COSTWATCH_ARM_ENDPOINT", server.url)
        monkeypatch.setenv("COSTWATCH_CA_BUNDLE", str(server.ca_path))
        monkeypatch.setenv("COSTWATCH_DATABASE_URL", db_url)
        monkeypatch.setenv("COSTWATCH_COSTS__SCOPE", scopes[0][0])
        since, until = history_start(server).isoformat(), server.tenant.today.isoformat()
        assert run("db", "upgrade")[0] == 0
        code, out, err = run("collect", "--only", "costs", "--since", since, "--until", until)
        assert code == 0, err
        assert "billingAccounts" in err and "fell back" not in err and "per subscription" not in err
        code, out, _ = run("spend", "--from", since, "--to", until, "--by", "project,model", "--format", "json")
        got = {(r["project"], r["model"], r["currency"]): Decimal(r["cost"]) for r in json.loads(out)}
        assert got == truth(server, ["project", "model"])
