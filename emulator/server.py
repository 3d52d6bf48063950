"""The HTTPS transport: a threading HTTP/1.1 server with a throwaway trustme CA.

Official Azure clients refuse bearer tokens over plain HTTP, hence TLS. Keep-alive works
because every answer has a Content-Length; each connection gets its own daemon thread and
does its TLS handshake there, so a slow client cannot stall the accept loop.
"""

from __future__ import annotations

import contextlib
import logging
import shutil
import socket
import ssl
import struct
import tempfile
import threading
import time
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from types import TracebackType
from typing import Any
from urllib.parse import parse_qsl, unquote, urlsplit

import trustme

from .api import EmulatorApi, Request, Response, error_response
from .faults import Faults
from .stats import Stats
from .tenant import Tenant, TenantSpec, generate_tenant
from .throttle import QpuMeter

logger = logging.getLogger(__name__)

CA_FILENAME = "emulator-ca.pem"


class _TlsHttpServer(ThreadingHTTPServer):
    daemon_threads = True
    block_on_close = False  # idle keep-alive connections must not hold up stop()
    allow_reuse_address = True

    def __init__(self, address: tuple[str, int], ssl_context: ssl.SSLContext, api: EmulatorApi) -> None:
        if ":" in address[0]:
            self.address_family = socket.AF_INET6
        self.ssl_context = ssl_context
        self.api = api
        self._connections: set[socket.socket] = set()
        self._connections_lock = threading.Lock()
        super().__init__(address, _Handler)
        self.authority = f"{address[0]}:{self.server_port}"  # for nextLinks when a client sends no Host

    def get_request(self) -> tuple[Any, Any]:
        sock, address = self.socket.accept()
        # Headers and body go out as separate TLS records; without NODELAY, Nagle plus the
        # client's delayed ACK adds ~40 ms to every keep-alive answer.
        if sock.family in (socket.AF_INET, socket.AF_INET6):
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        tls = self.ssl_context.wrap_socket(sock, server_side=True, do_handshake_on_connect=False)
        with self._connections_lock:
            self._connections.add(tls)
        return tls, address

    def shutdown_request(self, request: Any) -> None:
        with self._connections_lock:
            self._connections.discard(request)
        super().shutdown_request(request)

    def close_connections(self) -> None:
        """End kept-alive connections, so a stopped server stops answering."""
        with self._connections_lock:
            connections = list(self._connections)
        for connection in connections:
            with contextlib.suppress(OSError):  # already gone
                connection.shutdown(socket.SHUT_RDWR)

    def handle_error(self, request: Any, client_address: Any) -> None:
        # Clients that drop connections (or fail the handshake) are routine, not errors.
        logger.debug("connection from %s ended with an error", client_address, exc_info=True)


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    timeout = 30  # seconds an idle keep-alive connection is kept
    server: _TlsHttpServer

    def setup(self) -> None:
        self.request.settimeout(self.timeout)
        self.request.do_handshake()
        super().setup()

    def log_message(self, format: str, *args: Any) -> None:
        logger.debug("%s " + format, self.address_string(), *args)

    def do_GET(self) -> None:
        self._serve()

    def do_POST(self) -> None:
        self._serve()

    def do_PUT(self) -> None:
        self._serve()

    def do_PATCH(self) -> None:
        self._serve()

    def do_DELETE(self) -> None:
        self._serve()

    def _read_body(self) -> bytes:
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            chunks: list[bytes] = []
            while True:
                size = int(self.rfile.readline().split(b";")[0].strip() or b"0", 16)
                if size == 0:
                    while self.rfile.readline() not in (b"\r\n", b"\n", b""):
                        pass  # trailers
                    return b"".join(chunks)
                chunks.append(self.rfile.read(size))
                self.rfile.readline()
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _serve(self) -> None:
        parts = urlsplit(self.path)
        request = Request(
            method=self.command,
            path=unquote(parts.path),
            query={k.lower(): v for k, v in parse_qsl(parts.query, keep_blank_values=True)},
            headers={k.lower(): v for k, v in self.headers.items()},
            body=self._read_body(),
            host=self.headers.get("Host") or self.server.authority,
        )
        try:
            response = self.server.api.handle(request)
        except Exception:  # a bug in the emulator must not look like a network fault
            logger.exception("emulator failed on %s %s", self.command, self.path)
            response = error_response(500, "InternalServerError", "The emulator failed; see its log.")
        if response.reset:
            self._reset()
            return
        self._write(response)

    def _reset(self) -> None:
        # Linger 0 makes close() send RST: the client sees the connection dropped mid-request.
        self.close_connection = True
        self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))

    def _write(self, response: Response) -> None:
        self.send_response(response.status)
        for name, value in response.headers.items():
            self.send_header(name, value)
        body = response.body or b""
        if response.status != 204:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if body and response.status != 204:
            self.wfile.write(body)


class EmulatorServer:
    """An HTTPS stand-in for Azure Resource Manager serving one tenant.

    Use as a context manager, or call start()/stop(). Clients trust `ca_path`
    (e.g. `connection_verify=server.ca_path`) and talk to `url`.
    """

    def __init__(
        self,
        tenant: Tenant,
        host: str = "127.0.0.1",
        port: int = 0,
        faults: Faults | None = None,
        *,
        ca_dir: str | Path | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.tenant = tenant
        self.faults = faults if faults is not None else Faults()
        self.stats = Stats()
        spec = tenant.spec
        self.qpu = QpuMeter(spec.qpu_per_10s, spec.qpu_per_minute, spec.qpu_per_hour, clock)
        self.api = EmulatorApi(tenant, self.faults, self.stats, self.qpu)
        self._host = host
        self._port = port
        self._owns_ca_dir = ca_dir is None
        self._ca_dir = Path(tempfile.mkdtemp(prefix="costwatch-emulator-")) if ca_dir is None else Path(ca_dir)
        self._ca_dir.mkdir(parents=True, exist_ok=True)
        ca = trustme.CA(organization_name="costwatch emulator")
        self.ca_path = self._ca_dir / CA_FILENAME
        ca.cert_pem.write_to_path(str(self.ca_path))
        self._ssl_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        names = ["127.0.0.1", "localhost", "::1"]
        if host not in names and host not in ("0.0.0.0", "::", ""):
            names.append(host)
        ca.issue_cert(*names).configure_cert(self._ssl_context)
        self._httpd: _TlsHttpServer | None = None
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        if self._httpd is None:
            raise RuntimeError("the emulator is not running")
        return int(self._httpd.server_address[1])

    @property
    def url(self) -> str:
        """Base URL, e.g. https://127.0.0.1:54321 (what clients pass as base_url)."""
        host = self._host
        if host in ("0.0.0.0", ""):
            host = "127.0.0.1"
        elif host == "::":
            host = "::1"
        if ":" in host:
            host = f"[{host}]"
        return f"https://{host}:{self.port}"

    def start(self) -> EmulatorServer:
        if self._httpd is not None:
            return self
        self._httpd = _TlsHttpServer((self._host, self._port), self._ssl_context, self.api)
        self._thread = threading.Thread(
            target=self._httpd.serve_forever, kwargs={"poll_interval": 0.05}, name="costwatch-emulator", daemon=True
        )
        self._thread.start()
        logger.info("Azure emulator listening on %s (CA: %s)", self.url, self.ca_path)
        return self

    def stop(self) -> None:
        if self._httpd is not None:
            self._httpd.shutdown()
            self._httpd.server_close()
            self._httpd.close_connections()
            self._httpd = None
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        if self._owns_ca_dir:
            shutil.rmtree(self._ca_dir, ignore_errors=True)

    def __enter__(self) -> EmulatorServer:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()


def serve_forever(
    spec: TenantSpec,
    host: str = "127.0.0.1",
    port: int = 8443,
    ca_dir: str | Path = ".",
    on_ready: Callable[[EmulatorServer], None] | None = None,
    stop: threading.Event | None = None,
) -> None:
    """Serve a tenant generated from `spec` until interrupted (or `stop` is set).

    The CA PEM goes to `ca_dir`/emulator-ca.pem; `on_ready` gets the running server
    (e.g. to print its URL).
    """
    tenant = generate_tenant(spec)
    with EmulatorServer(tenant, host, port, ca_dir=ca_dir) as server:
        if on_ready is not None:
            on_ready(server)
        try:
            (stop or threading.Event()).wait()
        except KeyboardInterrupt:
            logger.info("emulator stopped")
