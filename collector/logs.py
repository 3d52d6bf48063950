"""Logging: every line carries the collection run it belongs to; text for people, JSON for machines."""

from __future__ import annotations

import json
import logging
import sys
from contextvars import ContextVar
from datetime import UTC, datetime

# The run being executed in this thread (each scheduler job runs in its own thread and context).
RUN_ID: ContextVar[int | None] = ContextVar("costwatch_run_id", default=None)


class RunIdFilter(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        run_id = RUN_ID.get()
        record.run_id = "-" if run_id is None else run_id
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record: logging.LogRecord) -> str:
        entry = {
            "time": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "run_id": getattr(record, "run_id", "-"),
            "message": record.getMessage(),
        }
        if record.exc_info:
            entry["exception"] = self.formatException(record.exc_info)
        return json.dumps(entry, default=str)


def configure(level: str | int = "INFO", fmt: str = "text") -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.addFilter(RunIdFilter())
    handler.setFormatter(
        JsonFormatter()
        if fmt == "json"
        else logging.Formatter("%(asctime)s %(levelname)s run=%(run_id)s %(name)s: %(message)s")
    )
    root = logging.getLogger()
    for old in list(root.handlers):
        root.removeHandler(old)
    root.addHandler(handler)
    root.setLevel(level)
    # azure-core logs every request at INFO, alembic every plugin at each schema check: too much.
    for noisy in ("azure", "alembic"):
        logging.getLogger(noisy).setLevel(logging.WARNING)
