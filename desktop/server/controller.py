"""Start and stop the local API server: in a background thread for the app, in the foreground for the CLI."""
from __future__ import annotations

import logging
import socket
import sys
import threading
import time

from desktop.server.app import ServerState, create_app
from desktop.server.config import ServerConfig, ServerError
from desktop.server.request_log import RequestLog
from desktop.server.runtime import ModelPool
from models.registry import Registry

log = logging.getLogger(__name__)


def bind_socket(host: str, port: int) -> socket.socket:
    """A listening-ready socket on host:port, or a ServerError that says why not."""
    try:
        family, kind, proto, _, address = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except socket.gaierror as exc:
        raise ServerError(f"cannot listen on {host}: {exc.strerror or exc}") from exc
    sock = socket.socket(family, kind, proto)
    try:
        if sys.platform != "win32":  # on Windows this option would let two servers share a port
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(address)
        sock.set_inheritable(False)
    except OSError as exc:
        sock.close()
        reason = "the port is in use by another program" if exc.errno in (48, 98, 10048) else exc.strerror or exc
        raise ServerError(f"cannot listen on {host}:{port}: {reason}") from exc
    return sock


class ServerController:
    """One local API server at a time. `start` returns once it accepts connections."""

    def __init__(self, registry: Registry | None = None, db=None, log: RequestLog | None = None):
        self.registry = registry or Registry()
        self.db = db
        self.log = log or RequestLog()
        self.config: ServerConfig | None = None
        self.state: ServerState | None = None
        self._server = None
        self._thread: threading.Thread | None = None
        self._socket: socket.socket | None = None
        self.port: int | None = None

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive() and bool(self._server and self._server.started)

    @property
    def address(self) -> str | None:
        return self.config.base_url(self.port) if self.config and self.port is not None else None

    def _prepare(self, config: ServerConfig):
        import uvicorn

        config.check()
        sock = bind_socket(config.host, config.port)
        self.port = sock.getsockname()[1]
        self.config = config
        pool = ModelPool(self.registry, device=config.device, max_loaded=config.max_loaded_models,
                         speculative=config.speculative)
        self.state = ServerState(config=config, registry=self.registry, pool=pool, log=self.log, db=self.db)
        uv_config = uvicorn.Config(
            create_app(self.state), log_config=None, access_log=False, lifespan="off", ws="none",
            http="h11", timeout_graceful_shutdown=3, server_header=False,
        )
        self._socket = sock
        self._server = uvicorn.Server(uv_config)
        return self._server, sock

    def start(self, config: ServerConfig, timeout: float = 15.0) -> str:
        if self.running:
            raise ServerError(f"the server is already running at {self.address}")
        server, sock = self._prepare(config)
        self._thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, name="fireside-api",
                                        daemon=True)
        self._thread.start()
        deadline = time.monotonic() + timeout
        while not server.started:
            if not self._thread.is_alive() or time.monotonic() > deadline:
                self.stop()
                raise ServerError("the server did not start (see the log)")
            time.sleep(0.01)
        log.info("local API listening on %s", self.address)
        return self.address

    def serve_forever(self, config: ServerConfig, on_ready=None) -> None:
        """Run in the calling (main) thread until Ctrl+C or SIGTERM; `on_ready(address)` once it listens."""
        server, sock = self._prepare(config)
        if on_ready is not None:
            def announce():
                while not server.started and not server.should_exit:
                    time.sleep(0.01)
                if server.started:
                    on_ready(self.address)

            threading.Thread(target=announce, daemon=True).start()
        try:
            server.run(sockets=[sock])
        finally:
            self._release()

    def stop(self, timeout: float = 10.0) -> None:
        """Stop every generation, close the connections and release the models."""
        if self.state is not None:
            self.state.pool.stop_all()
        if self._server is not None:
            self._server.should_exit = True
        if self._thread is not None:
            self._thread.join(timeout)
        self._release()

    def _release(self) -> None:
        if self.state is not None:
            self.state.pool.close(wait=False)
        if self._socket is not None:
            self._socket.close()
        self._server = self._thread = self._socket = None
        self.state = None
