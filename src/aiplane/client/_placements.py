from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiplane.client._http import Http
from aiplane.wire.placements import PreviewOut
from aiplane.wire.specs import SpecBody


class Placements:
    """``/placements``: where work would go, without queueing it."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def preview(
        self, spec: Mapping[str, Any], source: str = "request body", workdir: str | None = None
    ) -> PreviewOut:
        """Where the workload document (as for :meth:`Jobs.submit`) would be placed on the free
        capacity now, with the chosen offer's cost breakdown and the rejected offers; or why
        it would wait. Refused as its submission would be (an :class:`ApiError`); nothing is
        queued, so no idempotency key is needed."""
        body = SpecBody(spec=dict(spec), source=source, workdir=workdir)
        return self._http.call(PreviewOut, "POST", "/placements:preview", body=body.model_dump())
