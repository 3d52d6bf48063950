"""Every setting a user can set is in the settings reference (docs/settings.md): a key added to the model without a
line there fails here, with the key's name."""

from __future__ import annotations

import re
import typing
from pathlib import Path

from pydantic import BaseModel

from collector.settings import Settings

REFERENCE = Path(__file__).resolve().parents[2] / "docs" / "settings.md"


def _first_cells() -> list[str]:
    text = REFERENCE.read_text()
    table = text[text.index("## Settings") : text.index("## When the store fails")]
    return [line.split("|")[1] for line in table.splitlines() if line.startswith("| `")]


def _model_of(annotation: typing.Any) -> tuple[type[BaseModel] | None, str]:
    """The settings model inside a field's type, and how the reference names one of many ("", "<name>")."""
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation, ""
    origin, args = typing.get_origin(annotation), typing.get_args(annotation)
    if origin is dict and len(args) == 2:
        inner, _ = _model_of(args[1])
        return inner, ".<name>" if inner is not None else ""
    if origin in (list, tuple) and args:
        return _model_of(args[0])
    return None, ""


def _keys(model: type[BaseModel], path: str) -> list[tuple[str, str]]:
    keys: list[tuple[str, str]] = []
    for name, field in model.model_fields.items():
        inner, many = _model_of(field.annotation)
        if inner is None:
            keys.append((path, name))
        else:
            child = f"{path}.{name}" if path else name
            keys.extend(_keys(inner, child + (many and ".<*>")))
    return keys


def _documented(path: str, key: str, cells: list[str]) -> bool:
    if not path:
        return any(re.search(rf"`{key}`", cell) and "[" not in cell.split(key)[0] for cell in cells)
    section = re.escape(path).replace(r"<\*>", r"<[a-z_]+>")
    for cell in cells:
        # The keys named after the section's bracket, up to the next section in the same cell.
        for match in re.finditer(rf"\[\[?{section}\]\]?([^\[]*)", cell):
            if re.search(rf"\b{key}\b", match.group(1)):
                return True
        if re.search(rf"\[\[?{section}\.{key}\]\]?", cell):  # a table of free keys, e.g. [dashboard.roles]
            return True
    return False


def test_every_setting_is_in_the_readme_table() -> None:
    cells = _first_cells()
    missing = [f"[{p}] {k}" if p else k for p, k in _keys(Settings, "") if not _documented(p, k, cells)]
    assert missing == [], f"settings missing from docs/settings.md: {missing}"
