from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from aiplane.client._errors import ApiError
from aiplane.discovery import UnreachableError, needs_tls
from aiplane.wire import API_PREFIX
from aiplane.wire.errors import ErrorDetail

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")


class Http:
    """JSON over ``/api/v1`` into wire models: every failure becomes an :class:`ApiError`
    (the server's refusal, or ``protocol_error`` for an answer that is not the model: another
    version's body, a proxy's HTML page) or an :class:`UnreachableError`."""

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

    def call(
        self,
        model: type[M],
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> M:
        """One request whose answer is a ``model``."""
        response = self._send(method, path, params, body)
        return self._decode(response, lambda: model.model_validate_json(response.content))

    def call_list(
        self,
        model: type[M],
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
    ) -> list[M]:
        """One request whose answer is a list of ``model``."""
        response = self._send(method, path, params, None)
        adapter = TypeAdapter(list[model])  # type: ignore[valid-type]
        found: list[M] = self._decode(response, lambda: adapter.validate_json(response.content))
        return found

    def call_empty(
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None = None,
        body: Any = None,
    ) -> None:
        """One request whose answer has no body (204)."""
        self._send(method, path, params, body)

    def _send(
        self, method: str, path: str, params: Mapping[str, Any] | None, body: Any
    ) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=clean, json=body)
        except httpx.HTTPError as exc:
            raise UnreachableError(f"cannot reach {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response

    def _decode(self, response: httpx.Response, validate: Callable[[], T]) -> T:
        try:
            return validate()
        except ValidationError as exc:
            # Not JSON at all (pydantic says json_invalid), or JSON of another shape.
            raise self._protocol_error(response, _first_problem(exc)) from exc

    def _protocol_error(self, response: httpx.Response, problem: str) -> ApiError:
        kind = response.headers.get("content-type", "no content type")
        message = (
            f"{response.request.method} {response.request.url} answered {response.status_code} "
            f"({kind}) with a body this client does not understand: {problem}; is "
            f"{self.url} an aiplane server of a compatible version?"
        )
        return ApiError(response.status_code, ErrorDetail(code="protocol_error", message=message))

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


def _first_problem(exc: ValidationError) -> str:
    errors = exc.errors()
    if not errors:
        return str(exc)
    first = errors[0]
    where = ".".join(str(p) for p in first.get("loc", ())) or "the body"
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: {first.get('msg', 'invalid')}{more}"
