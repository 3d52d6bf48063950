"""The database goes away mid-run (a failover, a restart): the run waits for it and loses nothing."""

from __future__ import annotations

import contextlib
import logging
import socket
import threading
import time
from collections.abc import Iterator

import pytest
from sqlalchemy import Engine, func, select
from sqlalchemy.engine import make_url
from sqlalchemy.orm import Session

from collector.db.engine import make_engine
from collector.db.models import ScopeRun
from tests.emulated import BY, collect_all, emulator, settings_for, stored, truth
from tests.test_faults import _no_duplicates


class CuttableProxy:
    """A TCP proxy to PostgreSQL that a test can cut: open connections drop, new ones are refused."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.down = threading.Event()
        self.listener = socket.create_server(("127.0.0.1", 0))
        self.port = self.listener.getsockname()[1]
        self.sockets: list[socket.socket] = []
        self.lock = threading.Lock()
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self.listener.accept()
            except OSError:
                return
            if self.down.is_set():
                client.close()
                continue
            upstream = socket.create_connection(self.target)
            with self.lock:
                self.sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pump, args=(a, b), daemon=True).start()

    @staticmethod
    def _pump(source: socket.socket, sink: socket.socket) -> None:
        try:
            while data := source.recv(65536):
                sink.sendall(data)
        except OSError:
            pass
        finally:
            for s in (source, sink):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    def cut(self) -> None:
        self.down.set()
        with self.lock:
            for s in self.sockets:
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)
                s.close()
            self.sockets.clear()

    def restore(self) -> None:
        self.down.clear()

    def close(self) -> None:
        self.cut()
        self.listener.close()


@pytest.fixture
def proxy(db_url: str) -> Iterator[CuttableProxy]:
    url = make_url(db_url)
    running = CuttableProxy((url.host or "127.0.0.1", url.port or 5432))
    yield running
    running.close()


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)
def test_a_database_outage_mid_run_is_waited_out(
    db_url: str, engine: Engine, proxy: CuttableProxy, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.WARNING, logger="collector.db.session")
    through_proxy = make_url(db_url).set(host="127.0.0.1", port=proxy.port).render_as_string(hide_password=False)
    collector_engine = make_engine(through_proxy)
    with emulator() as server:
        settings = settings_for(server, through_proxy, database_retry_seconds=60)
        result: dict[str, object] = {}
        worker = threading.Thread(target=lambda: result.update(summary=collect_all(server, settings, collector_engine)))
        worker.start()
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # wait until the run has written its first cost month
            with Session(engine) as session:
                if session.scalar(select(func.count()).select_from(ScopeRun).where(ScopeRun.scope.like("costs %"))):
                    break
            time.sleep(0.05)
        proxy.cut()
        time.sleep(5)  # the database is unreachable for a while
        proxy.restore()
        worker.join(120)
        summary = result["summary"]
        assert getattr(summary, "status", None) == "succeeded", getattr(summary, "failures", None)
        _no_duplicates(engine)
        assert stored(engine, server, BY) == truth(server, BY)
    collector_engine.dispose()
    assert "database unavailable while writing" in caplog.text  # the outage did hit the run
