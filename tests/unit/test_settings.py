"""Settings: TOML + environment, and errors that name the key and the fix."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest

from collector.periods import default_window_start, is_final
from collector.settings import SettingsError, load_settings

SUB = "00000000-1111-2222-3333-444444444444"


@pytest.fixture(autouse=True)
def clean_env(monkeypatch: pytest.MonkeyPatch) -> None:
    import os

    for key in list(os.environ):
        if key.startswith("COSTWATCH_"):
            monkeypatch.delenv(key)


def test_defaults() -> None:
    settings = load_settings()
    assert settings.database_url.get_secret_value() == "sqlite:///costwatch.db"
    assert settings.arm_endpoint == "https://management.azure.com"
    assert settings.arm_token is None
    assert settings.subscriptions == []


def test_toml_then_environment_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "costwatch.toml"
    config.write_text(
        'database_url = "sqlite:///from-toml.db"\n'
        f'subscriptions = ["{SUB}"]\n'
        '[attribution]\ntag_key = "owner-project"\n'
        "[costs]\nfinal_after_day = 4\n"
    )
    monkeypatch.setenv("COSTWATCH_COSTS__FINAL_AFTER_DAY", "3")
    monkeypatch.setenv("COSTWATCH_SUBSCRIPTIONS", f"{SUB.upper()}, 11111111-1111-2222-3333-444444444444")
    settings = load_settings(config)
    assert settings.database_url.get_secret_value() == "sqlite:///from-toml.db"
    assert settings.attribution.tag_key == "owner-project"
    assert settings.costs.final_after_day == 3  # environment wins over the file
    assert settings.subscriptions == [SUB, "11111111-1111-2222-3333-444444444444"]


def test_config_from_environment_variable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "c.toml"
    config.write_text('arm_endpoint = "https://127.0.0.1:8443"\n')
    monkeypatch.setenv("COSTWATCH_CONFIG", str(config))
    assert load_settings().arm_endpoint == "https://127.0.0.1:8443"


@pytest.mark.parametrize(
    ("env", "value", "named", "hint"),
    [
        ("COSTWATCH_ARM_ENDPOINT", "http://management.azure.com", "COSTWATCH_ARM_ENDPOINT", "https://"),
        ("COSTWATCH_DATABASE_URL", "mysql://x", "COSTWATCH_DATABASE_URL", "postgresql+psycopg://"),
        ("COSTWATCH_SUBSCRIPTIONS", "not-a-guid", "COSTWATCH_SUBSCRIPTIONS", "GUID"),
        ("COSTWATCH_CA_BUNDLE", "/nonexistent/ca.pem", "COSTWATCH_CA_BUNDLE", "no such file"),
        ("COSTWATCH_COSTS__FINAL_AFTER_DAY", "40", "COSTWATCH_COSTS__FINAL_AFTER_DAY", "28"),
        ("COSTWATCH_COSTS__COST_TYPE", "Usage", "COSTWATCH_COSTS__COST_TYPE", "ActualCost"),
        ("COSTWATCH_COSTS__GROUPING", '["ResourceId", "Colour"]', "COSTWATCH_COSTS__GROUPING", "MeterId"),
        ("COSTWATCH_ARM_TOKEN", "Bearer abc", "COSTWATCH_ARM_TOKEN", "without the 'Bearer ' prefix"),
        ("COSTWATCH_LOG_LEVEL", "LOUD", "COSTWATCH_LOG_LEVEL", "DEBUG"),
    ],
)
def test_wrong_value_names_key_and_fix(
    monkeypatch: pytest.MonkeyPatch, env: str, value: str, named: str, hint: str
) -> None:
    monkeypatch.setenv(env, value)
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert named in str(error.value)
    assert hint in str(error.value)


def test_unknown_key_in_file_is_refused(tmp_path: Path) -> None:
    config = tmp_path / "c.toml"
    config.write_text('databse_url = "sqlite:///x.db"\n')
    with pytest.raises(SettingsError, match=r"databse_url.*unknown setting"):
        load_settings(config)


def test_missing_config_file_is_named(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="config file not found"):
        load_settings(tmp_path / "absent.toml")


def test_secrets_do_not_show_in_errors_or_repr(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("COSTWATCH_ARM_TOKEN", "eyJ-super-secret-token")
    monkeypatch.setenv("COSTWATCH_DATABASE_URL", "postgresql://u:hunter2@db/x")
    settings = load_settings()
    assert "super-secret" not in repr(settings)
    assert "hunter2" not in repr(settings)
    monkeypatch.setenv("COSTWATCH_ARM_ENDPOINT", "ftp://nope")
    with pytest.raises(SettingsError) as error:
        load_settings()
    assert "super-secret" not in str(error.value) and "hunter2" not in str(error.value)


@pytest.mark.parametrize(
    ("today", "start"),
    [
        (date(2026, 11, 5), date(2026, 10, 1)),  # October may still change until the 5th
        (date(2026, 11, 6), date(2026, 11, 1)),
        (date(2026, 1, 3), date(2025, 12, 1)),  # across a year
        (date(2026, 1, 31), date(2026, 1, 1)),
    ],
)
def test_restatement_window(today: date, start: date) -> None:
    assert default_window_start(today) == start


def test_final_days() -> None:
    assert not is_final(date(2026, 10, 31), date(2026, 11, 5))
    assert is_final(date(2026, 10, 31), date(2026, 11, 6))
    assert not is_final(date(2026, 11, 1), date(2026, 11, 30))


def test_loads_from_many_threads_at_once_each_get_their_own_file(tmp_path: Path) -> None:
    """The dashboard loads settings from several threads at once: a load keeps no module state that
    another thread's load could see (each file's value comes back with its own load, every time)."""
    from concurrent.futures import ThreadPoolExecutor

    files = []
    for i in range(8):
        path = tmp_path / f"costwatch-{i}.toml"
        path.write_text(f"[schedule]\ncosts_minutes = {100 + i}\n")
        files.append(path)

    def minutes(i: int) -> tuple[int, int]:
        return i % 8, load_settings(files[i % 8]).schedule.costs_minutes

    with ThreadPoolExecutor(max_workers=8) as pool:
        for file, value in pool.map(minutes, range(400)):
            assert value == 100 + file
    assert load_settings().schedule.costs_minutes != 100  # and nothing of them is left behind
