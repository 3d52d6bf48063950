"""The README stays what a newcomer reads in five minutes: under 200 lines, and its architecture table
names every module and package of the tree (and nothing that is gone)."""

from __future__ import annotations

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()


def _table() -> list[str]:
    section = README[README.index("## Architecture") :]
    return [line.split("|")[1].strip() for line in section.splitlines() if line.startswith("| `")]


def _named() -> set[str]:
    """Every path a cell names: `collector/read/`, and `b.py` after `collector/a.py` (in that folder)."""
    names: set[str] = set()
    for cell in _table():
        folder = ""
        for token in re.findall(r"`([^`]+)`", cell):
            if "/" in token:
                folder = token if token.endswith("/") else token.rsplit("/", 1)[0] + "/"
                names.add(token.rstrip("/"))
            elif "." in token or token.endswith("__init__"):  # a file after a folder's path, or at the top
                names.add(folder + token if (ROOT / (folder + token)).exists() else token)
    return names


def test_the_readme_is_short() -> None:
    assert len(README.splitlines()) < 200


def test_the_architecture_table_names_every_module_of_collector_and_nothing_gone() -> None:
    named = _named()
    for name in named:
        assert (ROOT / name).exists(), f"README's architecture table names {name}, which is not in the tree"
    tree = {
        str(p.relative_to(ROOT)).removesuffix("/__init__.py")
        for p in [*(ROOT / "collector").glob("*.py"), *(ROOT / "collector").glob("*/__init__.py")]
        if p.name != "__init__.py" or p.parent != ROOT / "collector"
    }
    missing = sorted(tree - named)
    assert not missing, f"README's architecture table does not say where these live: {missing}"
