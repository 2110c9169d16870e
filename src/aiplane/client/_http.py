from __future__ import annotations

import random
import time
from collections.abc import Callable, Iterator, Mapping
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
from aiplane.wire.registry import SHA256_HEADER

M = TypeVar("M", bound=BaseModel)
# What a download reads at a time.
CHUNK_BYTES = 1024 * 1024
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
    step.

    A refused connection (nothing listens: a control plane restarting, after a kill -9 say)
    is tried again past ``attempts`` while the waits so far stay within ``refused_budget_s``
    seconds: such a try never reached a server, and a restart takes longer than the default
    tries wait (about 2 s). 0, the default, leaves it to ``attempts`` (a program decides how
    long it may block; the CLI waits 30 s). ``notice`` is told once, before the first wait,
    that the request is being retried. ``sleep`` is for tests."""

    attempts: int = 4
    base_delay_s: float = 0.25
    max_delay_s: float = 4.0
    refused_budget_s: float = 0.0
    notice: Callable[[str], object] | None = field(default=None, repr=False)
    sleep: Callable[[float], None] = field(default=time.sleep, repr=False)

    def __post_init__(self) -> None:
        if self.attempts < 1:
            raise ValueError(f"Retry.attempts must be at least 1, not {self.attempts}")
        if self.base_delay_s < 0 or self.max_delay_s < 0 or self.refused_budget_s < 0:
            raise ValueError("Retry delays and budgets must be zero or more seconds")

    def delay(self, attempt: int) -> float:
        """The wait after failed try ``attempt`` (1 for the first)."""
        wait = min(self.max_delay_s, self.base_delay_s * 2.0 ** (attempt - 1))
        return wait * (1 + random.random() / 2)  # noqa: S311 (jitter, not a secret)


def retryable(exc: BaseException) -> bool:
    """Whether ``exc`` is a failure :meth:`Http.call_retrying` retries: one after which the
    request may have been processed or may not (the caller cannot tell), or one the server
    says will pass (unavailable, the same key still in flight). After such a failure a
    submission may have been stored: only its key, sent again, settles it."""
    if isinstance(exc, UnreachableError):
        # Not an address that is wrong or a protocol this client cannot speak.
        return isinstance(exc.__cause__, _TRANSIENT_ERRORS)
    if isinstance(exc, ApiError):
        return exc.status in _TRANSIENT_STATUSES or (
            exc.status == 409 and exc.code == KEY_IN_FLIGHT
        )
    return False


def _refused(exc: BaseException) -> bool:
    """A connection refused: httpx's ConnectError wraps the socket's ConnectionRefusedError."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


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
        retry: Retry | None = None,
    ) -> tuple[M, httpx.Response]:
        """A request the server deduplicates (its ``headers`` carry the idempotency key),
        sent again as ``retry`` (default: the client's :class:`Retry`) says until one try is
        answered; the answer is a ``model`` (returned with the response, whose headers may
        say it was replayed). The last failure is raised when every try failed."""
        policy = retry or self.retry
        attempt, waited = 1, 0.0
        while True:
            try:
                response = self._send(method, path, None, body, headers)
            except (UnreachableError, ApiError) as exc:
                wait = policy.delay(attempt)
                more = attempt < policy.attempts or (
                    _refused(exc) and waited + wait <= policy.refused_budget_s
                )
                if not (retryable(exc) and more):
                    raise
                if attempt == 1 and policy.notice is not None:
                    policy.notice(f"{exc}; trying again with the same Idempotency-Key")
            else:
                return self._model(model, response), response
            policy.sleep(wait)
            waited += wait
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

    def put_bytes(
        self,
        model: type[M],
        path: str,
        content: Iterator[bytes],
        params: Mapping[str, Any] | None = None,
    ) -> M:
        """Stream ``content`` as a request body (a blob upload) into a ``model`` answer."""
        try:
            response = self._http.put(
                path,
                params=dict(params or {}),
                content=content,
                headers={"content-type": "application/octet-stream"},
                # A large upload may take long to be answered: no read timeout.
                timeout=httpx.Timeout(self._http.timeout.connect, read=None, write=None),
            )
        except httpx.HTTPError as exc:
            raise UnreachableError(f"cannot reach {self.url}: {exc}") from exc
        if response.status_code >= 400:
            raise ApiError.from_response(response)
        return self._model(model, response)

    def stream_to(self, path: str, sink: BinaryIO, offset: int = 0) -> tuple[int, str | None]:
        """Stream a GET body into ``sink`` from byte ``offset`` (``Range``); returns the bytes
        written and the digest the server says the whole file has."""
        headers = {"Range": f"bytes={offset}-"} if offset else {}
        try:
            with self._http.stream("GET", path, headers=headers) as response:
                if response.status_code >= 400:
                    response.read()
                    raise ApiError.from_response(response)
                written = 0
                for chunk in response.iter_bytes(CHUNK_BYTES):
                    written += sink.write(chunk)
                return written, response.headers.get(SHA256_HEADER)
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
