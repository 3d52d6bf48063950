"""`costwatch healthcheck`: is this container's process answering? For Docker's HEALTHCHECK.

One image runs two processes, so the check takes the process as `--target` (or from
`COSTWATCH_HEALTHCHECK_TARGET`, which the dashboard's container sets): the collector answers on its
Prometheus `/metrics` (`[schedule] metrics_port`), the dashboard on Streamlit's `/_stcore/health`.
Exit 0 when the endpoint answers 200 within the timeout, 1 otherwise, with one line saying why.
"""

from __future__ import annotations

import urllib.error
import urllib.request
from typing import Any

import click

PATHS = {"collector": "/metrics", "dashboard": "/_stcore/health"}
DASHBOARD_PORT = 8501  # `costwatch dashboard --port`'s default


def probe(url: str, timeout: float) -> str | None:
    """None when `url` answers 200 within `timeout` seconds, else what went wrong."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as answer:
            return None if answer.status == 200 else f"answered HTTP {answer.status}"
    except urllib.error.HTTPError as exc:
        return f"answered HTTP {exc.code}"
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        return f"no answer ({reason})"


@click.command()
@click.option(
    "--target",
    type=click.Choice(sorted(PATHS)),
    default="collector",
    show_default=True,
    envvar="COSTWATCH_HEALTHCHECK_TARGET",
    help="Which process this container runs (env: COSTWATCH_HEALTHCHECK_TARGET).",
)
@click.option(
    "--port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port to ask (default: [schedule] metrics_port for the collector, 8501 for the dashboard).",
)
@click.option("--host", default="127.0.0.1", show_default=True)
@click.option("--timeout", type=click.FloatRange(min=0.1), default=5.0, show_default=True, help="Seconds.")
@click.pass_obj
def healthcheck(obj: Any, target: str, port: int | None, host: str, timeout: float) -> None:
    """Exit 0 if this container's collector or dashboard answers its health endpoint, else 1."""
    if port is None:
        if target == "dashboard":
            port = DASHBOARD_PORT
        else:
            port = obj.settings.schedule.metrics_port  # the settings the collector itself runs with
            if port == 0:
                raise click.ClickException(
                    "the collector serves no /metrics: [schedule] metrics_port is 0 "
                    "(COSTWATCH_SCHEDULE__METRICS_PORT); set a port, or pass --port"
                )
    url = f"http://{host}:{port}{PATHS[target]}"
    problem = probe(url, timeout)
    if problem is not None:
        raise click.ClickException(f"{target} unhealthy: {url} {problem}")
    click.echo(f"{target} healthy: {url}")
