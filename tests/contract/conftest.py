"""Contract tests: Azure's own answers (../shared/azure-contract) read by the collector's parsers.

Every file there is a byte-for-byte copy of a real recorded Azure exchange or a REST-spec example,
with its repository, path and commit in that folder's README. The tests here feed them through the
collector's own parsing (never the emulator's) and assert what Azure means by them. They are marked
`contract` (`pytest -m contract` runs them alone) and skip cleanly where ../shared is absent.
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.conftest import SHARED

CONTRACT = SHARED / "azure-contract"
HERE = Path(__file__).parent


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if HERE in Path(str(item.path)).parents:
            item.add_marker(pytest.mark.contract)


@pytest.fixture
def contract() -> Path:
    """The folder of recorded answers; the test skips when ../shared is not there."""
    if not CONTRACT.is_dir():
        pytest.skip("../shared/azure-contract is not present")
    return CONTRACT


def contract_file(folder: Path, name: str) -> Path:
    path = folder / name
    if not path.is_file():
        pytest.skip(f"{name} is not in {folder}")
    return path


def spec_example(folder: Path, name: str) -> dict[str, Any]:
    """A REST-spec example: {'parameters': request, 'responses': {code: {'body': ...}}}, numbers exact."""
    return json.loads(contract_file(folder, name).read_text(), parse_float=Decimal)


def spec_body(folder: Path, name: str, status: str = "200") -> Any:
    return spec_example(folder, name)["responses"][status]["body"]


def recorded_interactions(folder: Path, name: str) -> list[dict[str, Any]]:
    """A vcrpy cassette of a real session: [{'request': {...}, 'response': {...}}, ...]."""
    return yaml.safe_load(contract_file(folder, name).read_text())["interactions"]


def recorded_headers(interaction: dict[str, Any]) -> dict[str, str]:
    """A recorded response's headers, one value each (cassettes keep each as a list)."""
    return {name: values[0] for name, values in interaction["response"]["headers"].items()}


def recorded_json(interaction: dict[str, Any]) -> Any:
    return json.loads(interaction["response"]["body"]["string"], parse_float=Decimal)
