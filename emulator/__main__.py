"""`python -m emulator`: serve a synthetic tenant until interrupted."""

from __future__ import annotations

import argparse
import logging
from datetime import date

from .server import EmulatorServer, serve_forever
from .tenant import TenantSpec


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m emulator", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=8443)
    parser.add_argument("--seed", type=int, default=42)
    parser.add_argument("--today", type=date.fromisoformat, default=None, help="YYYY-MM-DD (default: UTC today)")
    parser.add_argument("--history-months", type=int, default=3)
    parser.add_argument("--subscriptions", type=int, default=4)
    parser.add_argument("--extra-projects", type=int, default=0, help="extra projects per subscription")
    parser.add_argument("--metrics-lag", type=int, default=0, help="minutes metrics trail the wall clock")
    parser.add_argument("--quiet", action="store_true", help="a tenant on which no alert rule fires")
    parser.add_argument("--no-foundry", action="store_true", help="a tenant without Foundry resources")
    parser.add_argument("--ca-dir", default=".", help="where to write emulator-ca.pem")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    spec = TenantSpec(
        seed=args.seed,
        today=args.today,
        history_months=args.history_months,
        subscriptions=args.subscriptions,
        extra_projects_per_subscription=args.extra_projects,
        metrics_lag_minutes=args.metrics_lag,
        quiet=args.quiet,
        foundry=not args.no_foundry,
    )

    def ready(server: EmulatorServer) -> None:
        log = logging.getLogger("emulator")
        log.info("base URL %s, CA %s; Ctrl-C stops", server.url, server.ca_path)
        for what, scope in server.tenant.wide_scopes.items():
            log.info("%s scope: %s", what, scope)

    serve_forever(spec, args.host, args.port, args.ca_dir, on_ready=ready)


if __name__ == "__main__":
    main()
