"""Ports for serving replicas, and readiness: a TCP connect, or a service's HTTP GET.

A port is picked by binding to it and letting go; the replica binds it again a moment later.
Ports handed out recently are remembered (per process) and skipped, so the replicas of one gang,
launched before any of them listens, never get the same port.
"""

from __future__ import annotations

import http.client
import socket
import threading
import time

from aiplane.core.errors import BackendError

# Long enough for a replica to start listening on what it was given.
_RESERVED_S = 120.0
_RECENT: dict[tuple[str, int], float] = {}
_RECENT_LOCK = threading.Lock()
_CONNECT_TIMEOUT_S = 0.5


def pick_port(host: str, ports: tuple[int, int] | None) -> int:
    """A port free on ``host`` now and not handed out lately: from ``ports`` (inclusive) when
    given, else one the kernel picks."""
    family = _family(host)
    with _RECENT_LOCK:
        now = time.monotonic()
        for key in [k for k, at in _RECENT.items() if now - at > _RESERVED_S]:
            del _RECENT[key]
        candidates = range(ports[0], ports[1] + 1) if ports is not None else [0] * 64
        for wanted in candidates:
            if wanted and (host, wanted) in _RECENT:
                continue
            port = _bind(family, host, wanted)
            if port is not None and (host, port) not in _RECENT:
                _RECENT[(host, port)] = now
                return port
    where = f"ports {ports[0]}-{ports[1]}" if ports is not None else "the kernel's ports"
    raise BackendError(f"no free port for a serving replica on {host} in {where}")


def accepts(host: str, port: int) -> bool:
    """True when something accepts a TCP connection at ``host:port`` now."""
    try:
        with socket.create_connection((host, port), timeout=_CONNECT_TIMEOUT_S):
            return True
    except OSError:
        return False


def answers(host: str, port: int, path: str) -> bool:
    """True when an HTTP GET of ``path`` at ``host:port`` answers 2xx now (within a short
    timeout: a probe that waits for a busy replica would hold up the whole reconcile)."""
    connection = http.client.HTTPConnection(host, port, timeout=_CONNECT_TIMEOUT_S)
    try:
        connection.request("GET", path, headers={"User-Agent": "aiplane-readiness"})
        response = connection.getresponse()
        response.read()
        return 200 <= response.status < 300
    except (OSError, http.client.HTTPException, ValueError):
        # Refused, timed out, reset, not HTTP at all: not ready (yet).
        return False
    finally:
        connection.close()


def address(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _family(host: str) -> socket.AddressFamily:
    try:
        return socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)[0][0]
    except OSError as exc:
        raise BackendError(f"serve_host {host!r} does not resolve: {exc}") from exc


def _bind(family: socket.AddressFamily, host: str, port: int) -> int | None:
    with socket.socket(family, socket.SOCK_STREAM) as sock:
        try:
            sock.bind((host, port))
        except OSError:
            return None
        return int(sock.getsockname()[1])
