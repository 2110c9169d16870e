"""``GET /metrics``: Prometheus text format, outside ``/api/v1`` and without a token, as
Prometheus and dcgm-exporter expect (decision 0006)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from aiplane.api.deps import Svc
from aiplane.api.prometheus import CONTENT_TYPE, registry_for, render

router = APIRouter(tags=["metrics"])


@router.get("/metrics", include_in_schema=False)
def metrics(request: Request, svc: Svc) -> Response:
    registry = getattr(request.app.state, "metrics_registry", None)
    if registry is None:
        # One registry per app, built on first scrape: its collector reads at scrape time.
        registry = registry_for(svc.metrics)
        request.app.state.metrics_registry = registry
    return Response(render(registry), media_type=CONTENT_TYPE)
