"""The gateway's composition: its rate limiter and inference log from settings, one port for
the gateway and another app, and the process ``aiplane gateway`` runs.

Inside ``aiplane up`` (``server.py``) the gateway is given the endpoint service itself and
shares the API's port and metrics registry; alone (``python -m aiplane.gateway_wiring``, what
``aiplane gateway`` becomes) it is given :class:`aiplane.client.RemoteControl` and serves its
own ``/metrics``. The edges never import this module (a contract in ``pyproject.toml``).
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import sys
from collections.abc import Awaitable, Callable, MutableMapping
from pathlib import Path
from typing import Any, Protocol

import uvicorn
from prometheus_client import CollectorRegistry, make_asgi_app
from rich.console import Console

from aiplane.client import RemoteControl
from aiplane.core.errors import AiplaneError
from aiplane.discovery import DEFAULT_GATEWAY_PORT, GATEWAY_TOKEN_ENV
from aiplane.exits import report
from aiplane.gateway.app import Gateway, create_gateway
from aiplane.gateway.settings import GatewaySettings
from aiplane.ratelimit.base import RateLimiter
from aiplane.ratelimit.memory import MemoryRateLimiter
from aiplane.ratelimit.redis import RedisRateLimiter
from aiplane.services.serving_ports import GatewayControl
from aiplane.streams.base import InferenceLog
from aiplane.streams.local import LocalInferenceLog
from aiplane.streams.nats import NatsInferenceLog

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]

# What the gateway answers on a shared port: the OpenAI-compatible API and the Open Inference
# Protocol. The control plane's own paths (/api/v1, /metrics, the dashboard) never start so.
GATEWAY_PREFIXES = ("/v1", "/v2")

log = logging.getLogger("aiplane.gateway")


def rate_limiter(redis_url: str | None) -> RateLimiter:
    """Redis when a URL is set (shared by every gateway on it), else this process's memory."""
    return RedisRateLimiter(redis_url) if redis_url else MemoryRateLimiter()


def inference_log(nats_url: str | None, directory: Path) -> InferenceLog:
    """NATS JetStream when a URL is set, else SQLite files in ``directory``."""
    if nats_url:
        return NatsInferenceLog(nats_url)
    directory.mkdir(parents=True, exist_ok=True, mode=0o700)
    return LocalInferenceLog(directory)


class Startable(Protocol):
    """What :class:`Dispatch` needs of a gateway: its app, and its background work."""

    @property
    def app(self) -> Any: ...

    async def start(self) -> None: ...

    async def stop(self) -> None: ...


class ServedGateway:
    """A gateway with the limiter and the log built for it, which it does not own: they are
    closed here, after the gateway has stopped (and written what it still held)."""

    def __init__(self, gateway: Gateway, limiter: RateLimiter, log: InferenceLog) -> None:
        self.gateway = gateway
        self.limiter = limiter
        self.log = log

    @property
    def app(self) -> Any:
        return self.gateway.app

    async def start(self) -> None:
        await self.gateway.start()

    async def stop(self) -> None:
        try:
            await self.gateway.stop()
        finally:
            await self.limiter.close()
            await self.log.close()


def build_gateway(
    control: GatewayControl,
    *,
    redis_url: str | None,
    nats_url: str | None,
    log_dir: Path,
    registry: CollectorRegistry | None,
    settings: GatewaySettings | None = None,
) -> ServedGateway:
    limiter = rate_limiter(redis_url)
    log = inference_log(nats_url, log_dir)
    gateway = create_gateway(
        control, limiter, log, settings or GatewaySettings(), registry=registry
    )
    return ServedGateway(gateway, limiter, log)


def is_gateway_path(path: str) -> bool:
    return any(path == p or path.startswith(p + "/") for p in GATEWAY_PREFIXES)


class Dispatch:
    """One port for two apps: ``/v1/...`` and ``/v2/...`` to the gateway, everything else to
    ``other``. The lifespan is the gateway's: its ``start()`` when the server starts, its
    ``stop()`` when it stops (``other`` has none of its own)."""

    def __init__(self, gateway: Startable, other: ASGIApp) -> None:
        self.gateway = gateway
        self.other = other

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await self._lifespan(receive, send)
        elif is_gateway_path(scope.get("path", "")):
            await self.gateway.app(scope, receive, send)
        else:
            await self.other(scope, receive, send)

    async def _lifespan(self, receive: Receive, send: Send) -> None:
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                try:
                    await self.gateway.start()
                except Exception as exc:  # noqa: BLE001 (uvicorn is told, and says it)
                    await send({"type": "lifespan.startup.failed", "message": repr(exc)})
                    return
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                try:
                    await self.gateway.stop()
                finally:
                    await send({"type": "lifespan.shutdown.complete"})
                return


def metrics_app(registry: CollectorRegistry) -> ASGIApp:
    """``GET /metrics`` in Prometheus text format from ``registry``; any other path 404."""
    prometheus = make_asgi_app(registry)

    async def app(scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http" and scope.get("path") == "/metrics":
            await prometheus(scope, receive, send)
            return
        body = b'{"error": "not found: the gateway serves /v1, /v2 and /metrics"}'
        headers = [(b"content-type", b"application/json"), (b"content-length", b"%d" % len(body))]
        await send({"type": "http.response.start", "status": 404, "headers": headers})
        await send({"type": "http.response.body", "body": body})

    return app


def main(argv: list[str] | None = None) -> None:
    """``python -m aiplane.gateway_wiring --control-plane URL [...]``: ``aiplane gateway``,
    its credential in ``$AIPLANE_GATEWAY_TOKEN`` (``GATEWAY_TOKEN_ENV``)."""
    # Here, not above: the control-plane process (server.py) imports this module.
    from aiplane.listening import bind

    os.umask(0o077)  # the inference log holds requests' features: its owner's only
    parser = argparse.ArgumentParser(prog="aiplane gateway")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=DEFAULT_GATEWAY_PORT)
    parser.add_argument("--control-plane", required=True)
    parser.add_argument("--redis-url")
    parser.add_argument("--nats-url")
    parser.add_argument("--log-dir", type=Path, required=True)
    parser.add_argument("--quiet", action="store_true")
    args = parser.parse_args(argv)
    console, err_console = Console(), Console(stderr=True)
    logging.basicConfig(level=logging.WARNING, format="%(asctime)s %(name)s: %(message)s")
    control = RemoteControl(args.control_plane, os.environ.get(GATEWAY_TOKEN_ENV) or None)
    try:
        sock = bind(args.host, args.port)
        registry = CollectorRegistry(auto_describe=False)
        gateway = build_gateway(
            control,
            redis_url=args.redis_url,
            nats_url=args.nats_url,
            log_dir=args.log_dir,
            registry=registry,
        )
    except AiplaneError as exc:
        control.close()
        raise SystemExit(report(err_console, exc)) from None
    app = Dispatch(gateway, metrics_app(registry))
    server = uvicorn.Server(
        uvicorn.Config(app, log_level="warning", access_log=False, lifespan="on")
    )
    if not args.quiet:
        host, port = sock.getsockname()[:2]
        shown = f"[{host}]" if ":" in host else host
        console.print(f"aiplane gateway at [bold]http://{shown}:{port}[/]", highlight=False)
        console.print(f"control plane: {control.url}; metrics: http://{shown}:{port}/metrics")
    # uvicorn stops on SIGTERM/SIGINT itself; the default SIGTERM it re-raises then is
    # ignored so that the control port's pending reports are sent before the process ends.
    previous = signal.signal(signal.SIGTERM, signal.SIG_IGN)
    try:
        server.run(sockets=[sock])
    except KeyboardInterrupt:
        pass
    finally:
        signal.signal(signal.SIGTERM, previous)
        control.close()
        sock.close()
    sys.exit(0 if server.started else 1)


if __name__ == "__main__":
    main()
