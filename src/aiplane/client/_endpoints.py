from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from aiplane.client._http import Http
from aiplane.wire.endpoints import EndpointList, EndpointOut
from aiplane.wire.specs import SpecBody


class Endpoints:
    """``/endpoints``: models and servers served at sites behind the gateway."""

    def __init__(self, http: Http) -> None:
        self._http = http

    def apply(
        self, spec: Mapping[str, Any], source: str = "request body", workdir: str | None = None
    ) -> EndpointOut:
        """Create the endpoint an ``endpoint.yaml`` document describes, or change it;
        ``workdir``: the folder a command endpoint's command runs in (the file's, say)."""
        name = spec.get("name")
        if not isinstance(name, str) or not name:
            raise ValueError(f"{source}: the endpoint document has no name")
        body = SpecBody(spec=dict(spec), source=source, workdir=workdir).model_dump()
        return self._http.call(EndpointOut, "PUT", f"/endpoints/{quote(name, safe='')}", body=body)

    def list(self, team: str | None = None) -> EndpointList:
        params = {"team": team} if team is not None else {}
        return self._http.call(EndpointList, "GET", "/endpoints", params)

    def show(self, name: str) -> EndpointOut:
        return self._http.call(EndpointOut, "GET", f"/endpoints/{quote(name, safe='')}")

    def delete(self, name: str) -> None:
        """Delete the endpoint; its replicas are cancelled."""
        self._http.call_empty("DELETE", f"/endpoints/{quote(name, safe='')}")
