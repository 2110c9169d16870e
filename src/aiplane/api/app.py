"""The FastAPI application over the services."""

from __future__ import annotations

from fastapi import FastAPI

from aiplane import __version__
from aiplane.api import errors, limits
from aiplane.api.routers import (
    audit,
    blobs,
    checkpoints,
    costs,
    datasets,
    endpoints,
    fleet,
    gateway,
    identity,
    jobs,
    metrics,
    models,
    placements,
    system,
)
from aiplane.services.container import Services
from aiplane.wire import API_PREFIX


def create_app(services: Services) -> FastAPI:
    """The API over ``services``. The process that serves it runs the control plane's loops
    itself (``aiplane.server``), so the app has no lifespan of its own."""
    app = FastAPI(
        title="aiplane",
        version=__version__,
        description="Control plane for AI compute across cloud, on-premise and edge.",
        openapi_url=f"{API_PREFIX}/openapi.json",
        docs_url=f"{API_PREFIX}/docs",
        redoc_url=None,
        responses=errors.EVERY_ROUTE,
    )
    app.state.services = services
    errors.install(app)
    # Outermost of the app's own layers: an oversized body is refused before any is parsed.
    # Blob uploads stream through to the artifact store, never held: exempt.
    app.add_middleware(limits.BodyLimit, exempt=(("PUT", blobs.PREFIX),))
    routers = (
        system.router,
        identity.router,
        fleet.router,
        jobs.router,
        placements.router,
        checkpoints.router,
        costs.router,
        audit.router,
        blobs.router,
        models.router,
        models.team_router,
        datasets.router,
        gateway.router,
        endpoints.router,
    )
    for router in routers:
        app.include_router(router, prefix=API_PREFIX)
    app.include_router(metrics.router)  # /metrics, where Prometheus looks for it
    return app
