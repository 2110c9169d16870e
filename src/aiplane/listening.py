"""Listening sockets for aiplane's HTTP servers (the control plane, the gateway alone, the
model server), bound before the server starts so a port that cannot be had is a clear error
naming the option, not a traceback from inside uvicorn."""

from __future__ import annotations

import socket

from aiplane.core.errors import Problem, SpecError


def bind(host: str, port: int) -> socket.socket:
    """A listening socket on ``host:port``; SpecError naming the option when it cannot be."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    # IPPROTO_TCP must be explicit: asyncio enables TCP_NODELAY on accepted connections only
    # when the protocol says TCP, and without it every keep-alive response waits ~40 ms for
    # the client's delayed ACK (Nagle).
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(2048)
    except (OSError, OverflowError) as exc:
        # OverflowError: a port outside 0-65535 (``python -m aiplane.server`` has no range check).
        sock.close()
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        raise SpecError(
            f"cannot listen on {host}:{port}",
            [Problem("--port", reason, str(port), "a free port, or 0 for any")],
        ) from exc
    sock.set_inheritable(True)
    return sock
