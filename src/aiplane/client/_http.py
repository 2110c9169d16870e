from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO, TypeVar

import httpx
from pydantic import BaseModel, TypeAdapter, ValidationError

from aiplane.client._errors import ApiError
from aiplane.discovery import UnreachableError, needs_tls
from aiplane.wire import API_PREFIX
from aiplane.wire.errors import ErrorDetail
from aiplane.wire.jobs import KEY_IN_FLIGHT

M = TypeVar("M", bound=BaseModel)
T = TypeVar("T")

# Failures after which a request may have reached the server or not: a retry is safe only
# for a request the server deduplicates (a submission with its Idempotency-Key).
_TRANSIENT_ERRORS = (httpx.TimeoutException, httpx.NetworkError, httpx.RemoteProtocolError)
# A gateway or a server that could not answer now (the store unavailable: 503).
_TRANSIENT_STATUSES = frozenset({502, 503, 504})


@dataclass(frozen=True)
class Retry:
    """How a request the server deduplicates is retried: up to ``attempts`` tries in all, on
    a connection error or timeout, a 502, 503 or 504, or a 409 saying the first try is still
    being processed; before try n+1 it waits ``base_delay_s * 2**(n-1)`` (at most
    ``max_delay_s``), with up to half of it again as jitter so that clients do not retry in
    step. ``sleep`` is for tests."""

    attempts: int = 4
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"Retry.attempts must be at least 1, not {self.attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0:
            raise ValueError("Retry delays must be zero or more seconds")

    def delay(self, attempt: int) -> float:
        """The wait after failed try ``attempt`` (1 for the first)."""
        wait = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return wait * (1 + random.random() / 2)  # noqa: S311 (jitter, not a secret)


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
        retry: Retry | None = None,
    ) -> None:
        self.url = url.rstrip("/")
        self.retry = retry or Retry()
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
        headers: Mapping[str, str] | None = None,
    ) -> M:
        """One request whose answer is a ``model``."""
        return self._model(model, self._send(method, path, params, body, headers))

    def call_retrying(
        self,
        model: type[M],
        method: str,
        path: str,
        body: Any,
        headers: Mapping[str, str],
    ) -> tuple[M, httpx.Response]:
        """A request the server deduplicates (its ``headers`` carry the idempotency key),
        sent again as :class:`Retry` says until one try is answered; the answer is a ``model``
        (returned with the response, whose headers may say it was replayed). The last
        failure is raised when every try failed."""
        attempt = 1
        while True:
            try:
                response = self._send(method, path, None, body, headers)
            except UnreachableError as exc:
                # Not an address that is wrong or a protocol this client cannot speak.
                again = isinstance(exc.__cause__, _TRANSIENT_ERRORS)
                if not again or attempt >= self.retry.attempts:
                    raise
            except ApiError as exc:
                again = exc.status in _TRANSIENT_STATUSES or (
                    exc.status == 409 and exc.code == KEY_IN_FLIGHT
                )
                if not again or attempt >= self.retry.attempts:
                    raise
            else:
                return self._model(model, response), response
            self.retry.sleep(self.retry.delay(attempt))
            attempt += 1

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
        self,
        method: str,
        path: str,
        params: Mapping[str, Any] | None,
        body: Any,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        clean = {k: v for k, v in (params or {}).items() if v is not None}
        try:
            response = self._http.request(method, path, params=clean, json=body, headers=headers)
        except httpx.HTTPError as exc:
            raise UnreachableError(f"cannot reach {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return response

    def _model(self, model: type[M], response: httpx.Response) -> M:
        return self._decode(response, lambda: model.model_validate_json(response.content))

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
        with open(out, "wb") as f:
            return self.copy(path, f, params)

    def copy(self, path: str, sink: BinaryIO, params: Mapping[str, Any]) -> int:
        """Stream a GET response body into ``sink`` (a file, stdout); returns the bytes
        written. The status is checked before anything is written."""
        clean = {k: v for k, v in params.items() if v is not None}
        try:
            with self._http.stream("GET", path, params=clean) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ApiError.from_response(response)
                written = 0
                for chunk in response.iter_bytes():
                    written += sink.write(chunk)
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
