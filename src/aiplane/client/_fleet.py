from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiplane.client._http import Http
from aiplane.wire.fleet import FleetOut
from aiplane.wire.specs import SpecBody


class Fleet:
    """``/fleet``: the sites and pools in force."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def apply(self, spec: Mapping[str, Any], source: str = "request body") -> FleetOut:
        """Make a fleet document (``fleet.yaml``, resolved) the fleet in force (operator)."""
        body = SpecBody(spec=dict(spec), source=source).model_dump(exclude={"workdir"})
        return self._http.call(FleetOut, "PUT", "/fleet", body=body)

    def show(self, document: bool = False) -> FleetOut:
        """The pools in force and how full they are; with ``document``, the fleet itself."""
        params = {"document": document}
        return self._http.call(FleetOut, "GET", "/fleet", params)
