"""The parts of costwatch that not every install needs, as extras of its distribution, and the error
that names the extra when a command needs one that is not installed (never an ImportError traceback).

The extras are declared in pyproject.toml; tests/e2e/test_packaging.py checks that each one named here
exists there."""

from __future__ import annotations

import importlib.util

DISTRIBUTION = "costwatch-azure"  # on PyPI, `costwatch` is an unrelated AWS tool


class MissingExtra(RuntimeError):
    """A command needs modules of an extra that this install does not have."""

    def __init__(self, extra: str, what: str, missing: list[str]) -> None:
        self.extra = extra
        super().__init__(
            f"{what} needs {', '.join(missing)}, which this install of costwatch lacks: install it with the "
            f"'{extra}' extra, e.g. pipx install '{DISTRIBUTION}[{extra}]' (from a checkout: pipx install "
            f"'.[{extra}]'; into a venv: pip install '{DISTRIBUTION}[{extra}]')"
        )


def require(extra: str, what: str, *modules: str) -> None:
    """Raise MissingExtra naming `extra` unless every one of `modules` can be imported."""
    missing = [module for module in modules if importlib.util.find_spec(module) is None]
    if missing:
        raise MissingExtra(extra, what, missing)
