"""Error responses: one table from error class to HTTP status, one JSON shape for all."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.routing import compile_path

from aiplane.core import errors as e
from aiplane.wire.errors import ErrorBody

log = logging.getLogger("aiplane.api")

STATUS: dict[type[e.AiplaneError], int] = {
    e.SpecError: 422,
    e.NotFoundError: 404,
    e.IllegalTransitionError: 409,
    e.ConflictError: 409,
    e.AuthenticationError: 401,
    e.PermissionDeniedError: 403,
    e.BackendError: 502,
    e.CatalogError: 422,
    e.StoreError: 503,
    # 402 Payment Required: the request is fine, the money for it is not there.
    e.BudgetExceededError: 402,
    e.MissingDependencyError: 501,
    e.IntegrityError: 422,
    e.PromotionRefusedError: 409,
}


# What each error status means here, for the OpenAPI document.
MEANING: dict[int, str] = {
    400: "the body could not be read: not text in the encoding it declares (body_unreadable)",
    401: "no token, or an invalid or revoked one (unauthenticated)",
    402: "a budget of the team or project blocks new work (budget_exceeded)",
    403: "the token's role is not enough for this (forbidden)",
    404: "no such job, replica or route (not_found)",
    409: "the state changed meanwhile, or does not allow this (conflict, illegal_transition); "
    "or a request with this Idempotency-Key is still being processed: retry it "
    "(idempotency_key_in_flight); or a promotion that its policy refuses, every failed rule "
    "named (promotion_refused)",
    413: "the request body is over the size limit, 1 MiB (payload_too_large)",
    422: "the request or a document in it is invalid: every problem located (request_invalid, "
    "spec_invalid, catalog_error); or bytes that are not the bytes registered, each file "
    "named (integrity)",
    500: "an unexpected error; the server log has the details (internal)",
    501: "the format asked for needs a library this server lacks (missing_dependency)",
    502: "the backend that runs the work refused or failed (backend_error)",
    503: "the store is unavailable (store_error)",
}


def responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI responses for ``statuses``: each with the one error body, ``ErrorBody``.

    Declaring 422 also replaces FastAPI's own ``HTTPValidationError`` schema, which is not
    what the validation handler below sends."""
    return {s: {"model": ErrorBody, "description": MEANING[s]} for s in statuses}


# Each route declares what it can really answer (the fuzz test, tests/api/test_fuzz.py, holds
# the server to it; decision 0037). Every route: a body too large is refused whatever the
# route, a GET's included (api/limits.py), and the server can fail.
EVERY_ROUTE = responses(413, 500)
# Every route behind a token: no token or a bad one, a role short of the action, and reading
# the token's principal from the store, which can be unavailable.
AUTHENTICATED = responses(401, 403, 503)
# And each route its own: 422 where it takes parameters or a body (FastAPI validates them),
# 400 where it takes a body (one that is not even text), 404 where it names something.


def status_for(exc: e.AiplaneError) -> int:
    for cls in type(exc).__mro__:
        if cls in STATUS:
            return STATUS[cls]
    return 500


def body(code: str, message: str, problems: list[dict[str, Any]] | None = None) -> dict[str, Any]:
    return {"error": {"code": code, "message": message, "problems": problems or []}}


def _problems(exc: e.AiplaneError) -> list[dict[str, Any]]:
    return [
        {"location": p.location, "message": p.message, "given": p.given, "allowed": p.allowed}
        for p in exc.problems
    ]


def allowed_methods(request: Request) -> list[str]:
    """The methods the OpenAPI document gives the path of ``request`` (for a 405's Allow)."""
    paths = request.app.openapi().get("paths", {})
    return sorted(m.upper() for m in paths.get(route_template(request), {}))


# Calls that change something: each that fails is on the audit record.
MUTATING = frozenset({"POST", "PUT", "PATCH", "DELETE"})
# A POST that changes nothing (a placement preview) says so on its route (``openapi_extra``,
# so the OpenAPI document says it too): its failures are not failed mutations, and are not
# recorded.
READ_ONLY_KEY = "x-aiplane-read-only"
READ_ONLY: dict[str, Any] = {READ_ONLY_KEY: True}


def mutating(request: Request) -> bool:
    """Whether ``request`` is a call that may change something (its method, less the routes
    marked ``READ_ONLY``)."""
    if request.method not in MUTATING:
        return False
    extra = getattr(request.scope.get("route"), "openapi_extra", None) or {}
    return not extra.get(READ_ONLY_KEY, False)


def route_template(request: Request) -> str:
    """The path template of the route ``request`` reached (``/api/v1/jobs/{job_id}/cancel``),
    from the app's OpenAPI document (what a route is called there is what it is called in
    the audit log); the path itself for one outside the document."""
    state = request.app.state
    table: list[tuple[re.Pattern[str], str]] | None = getattr(state, "route_templates", None)
    if table is None:
        table = [(compile_path(p)[0], p) for p in request.app.openapi().get("paths", {})]
        state.route_templates = table
    path = request.url.path
    return next((template for regex, template in table if regex.match(path)), path)


def audit_failure(request: Request, outcome: str, message: str) -> None:
    """Record a failed mutating call in the audit log: actor from ``request.state.caller``
    when authentication got that far, action "<METHOD> <route path template>". The audit log
    failing must not turn the answer into a 500 that hides the real error: it is logged."""
    if not mutating(request):
        return
    services = getattr(request.app.state, "services", None)
    if services is None:
        return
    template = route_template(request)
    try:
        services.audit.record_now(
            getattr(request.state, "caller", None),
            f"{request.method} {template}",
            request.url.path,
            outcome=outcome,
            detail={"message": message[:500]},
        )
    except Exception as exc:  # noqa: BLE001 (whatever broke, the caller gets the real answer)
        log.error("could not audit a failed %s %s: %r", request.method, template, exc)


def install(app: FastAPI) -> None:
    @app.exception_handler(e.AiplaneError)
    async def aiplane_error(request: Request, exc: e.AiplaneError) -> JSONResponse:
        if not exc.audited:
            await run_in_threadpool(audit_failure, request, exc.code, exc.message)
        headers = {"WWW-Authenticate": "Bearer"} if status_for(exc) == 401 else None
        return JSONResponse(
            body(exc.code, exc.message, _problems(exc)), status_for(exc), headers=headers
        )

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        problems = [
            {
                "location": ".".join(str(p) for p in err.get("loc", ())),
                "message": err.get("msg", "invalid"),
                "given": repr(err.get("input"))[:80] if "input" in err else None,
                "allowed": None,
            }
            for err in exc.errors()
        ]
        await run_in_threadpool(audit_failure, request, "request_invalid", "invalid request")
        return JSONResponse(body("request_invalid", "invalid request", problems), 422)

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        # 400 is FastAPI's answer to a body it cannot even decode (bytes that are not UTF-8).
        codes = {400: "body_unreadable", 404: "not_found", 405: "method_not_allowed"}
        code = codes.get(exc.status_code, "http_error")
        headers = dict(exc.headers or {})
        if exc.status_code == 405:
            # Every method of the path, not only those of the one route Starlette tried.
            headers["Allow"] = ", ".join(allowed_methods(request)) or headers.get("Allow", "")
        return JSONResponse(body(code, str(exc.detail)), exc.status_code, headers=headers)

    @app.exception_handler(Exception)
    async def unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.error("unhandled error", exc_info=exc)
        # A mutating call that broke may have changed something: it is audited all the same.
        await run_in_threadpool(audit_failure, request, "internal", type(exc).__name__)
        return JSONResponse(body("internal", "internal error; see the server log"), 500)
