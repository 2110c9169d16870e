"""The FastAPI application."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI

from aiplane import __version__
from aiplane.api import errors
from aiplane.api.routers import checkpoints, costs, fleet, jobs, metrics, system
from aiplane.wire import API_PREFIX
from aiplane.wiring import ControlPlane


def create_app(cp: ControlPlane, run_loops: bool = True) -> FastAPI:
    """The API over ``cp``. With ``run_loops`` the app's lifespan starts and stops the
    scheduler and reconciler (recovering runs first), so one process is the whole plane."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        if run_loops:
            cp.start()
        try:
            yield
        finally:
            if run_loops:
                cp.stop()

    app = FastAPI(
        title="aiplane",
        version=__version__,
        description="Control plane for AI compute across cloud, on-premise and edge.",
        lifespan=lifespan,
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
    )
    app.state.control_plane = cp
    errors.install(app)
    for router in (system.router, fleet.router, jobs.router, checkpoints.router, costs.router):
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(metrics.router)  # /metrics, where Prometheus looks for it
    return app
