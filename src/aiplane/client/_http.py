from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Any

import httpx

from aiplane.client._errors import ApiError
from aiplane.discovery import UnreachableError, needs_tls
from aiplane.wire import API_PREFIX


class Http:
    """JSON over ``/api/v1``: errors become :class:`ApiError` or :class:`UnreachableError`."""

    def __init__(
        self,
        url: str,
        token: str | None,
        timeout: float,
        transport: httpx.BaseTransport | None,
    ) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(
            base_url=self.url + API_PREFIX,
            headers=headers,
            timeout=timeout,
            transport=transport,
            verify=needs_tls(self.url),
        )

    def request(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> Any:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=clean, json=body)
        except httpx.HTTPError as exc:
            raise UnreachableError(f"cannot reach {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response.json()

    def download(self, path: str, out: Path, params: Mapping[str, Any]) -> int:
        """Stream a GET response body into ``out``; returns the bytes written."""
        clean = {k: v for k, v in params.items() if v is not None}
        try:
            with self._http.stream("GET", path, params=clean) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ApiError.from_response(response)
                written = 0
                with open(out, "wb") as f:
                    for chunk in response.iter_bytes():
                        written += f.write(chunk)
                return written
        except httpx.HTTPError as exc:
            raise UnreachableError(f"cannot reach {self.url}: {exc}") from exc

    def close(self) -> None:
        self._http.close()
