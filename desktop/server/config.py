"""What the local API server is told at start: where to listen, the key, the limits."""
from __future__ import annotations

import ipaddress
from dataclasses import dataclass

DEFAULT_HOST = "127.0.0.1"
DEFAULT_PORT = 8765
DEFAULT_MAX_BODY_BYTES = 4 * 1024 * 1024


class ServerError(Exception):
    """The server cannot start as asked (address in use, a public address without a key)."""


def is_loopback(host: str) -> bool:
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


@dataclass
class ServerConfig:
    host: str = DEFAULT_HOST
    port: int = DEFAULT_PORT  # 0 picks any free port
    api_key: str | None = None
    max_body_bytes: int = DEFAULT_MAX_BODY_BYTES
    record: bool = False  # keep API conversations in the history
    device: str = "auto"
    max_loaded_models: int = 2
    speculative: bool = False  # prompt lookup for chat models (models.generation.Generator.load)

    def check(self) -> None:
        """Raise ServerError for a configuration that must not run."""
        if not 0 <= int(self.port) <= 65535:
            raise ServerError(f"port {self.port} is not between 0 and 65535")
        if self.api_key is not None and not self.api_key.strip():
            self.api_key = None
        if not is_loopback(self.host) and not self.api_key:
            raise ServerError(
                f"listening on {self.host} lets other computers in; give an API key (--api-key) to allow it"
            )
        if self.max_body_bytes < 1024:
            raise ServerError("the body size limit must be at least 1 KB")

    def base_url(self, port: int | None = None) -> str:
        host = self.host
        if host in ("0.0.0.0", "::"):
            host = "127.0.0.1" if host == "0.0.0.0" else "::1"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"http://{host}:{self.port if port is None else port}/v1"
