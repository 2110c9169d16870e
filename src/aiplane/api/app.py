"""The FastAPI application over the services."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager

from fastapi import FastAPI

from aiplane import __version__
from aiplane.api import errors
from aiplane.api.routers import checkpoints, costs, fleet, jobs, metrics, system
from aiplane.services.container import Services
from aiplane.wire import API_PREFIX


def create_app(
    services: Services,
    *,
    on_start: Callable[[], object] | None = None,
    on_stop: Callable[[], object] | None = None,
) -> FastAPI:
    """The API over ``services``. ``on_start`` and ``on_stop`` run in the app's lifespan, for
    a process whose ASGI server should start and stop the control plane's loops with it; a
    process that runs them itself (``aiplane.server``) passes neither."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if on_start is not None:
            on_start()
        try:
            yield
        finally:
            if on_stop is not None:
                on_stop()

    app = FastAPI(
        title="aiplane",
        version=__version__,
        description="Control plane for AI compute across cloud, on-premise and edge.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        responses=errors.EVERY_ROUTE,
    )
    app.state.services = services
    errors.install(app)
    for router in (system.router, fleet.router, jobs.router, checkpoints.router, costs.router):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(metrics.router)  # /metrics, where Prometheus looks for it
    return app
