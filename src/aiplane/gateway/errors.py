"""The gateway's own answers in each protocol's error shape: ``{"error": "..."}`` on the
Open Inference Protocol routes, OpenAI's ``{"error": {"message", "type", "code"}}`` on /v1."""

from __future__ import annotations

import json
from collections.abc import Mapping

from starlette.responses import Response

# status -> (OpenAI's error type, code)
_OPENAI = {
    400: ("invalid_request_error", "invalid_request"),
    401: ("authentication_error", "invalid_api_key"),
    403: ("permission_error", "forbidden"),
    404: ("invalid_request_error", "model_not_found"),
    429: ("rate_limit_error", "rate_limit_exceeded"),
    502: ("server_error", "upstream_error"),
    503: ("server_error", "unavailable"),
    504: ("server_error", "upstream_timeout"),
}


def error(
    status: int,
    message: str,
    openai: bool,
    headers: Mapping[str, str] | None = None,
    code: str | None = None,
) -> Response:
    if openai:
        kind, default_code = _OPENAI.get(status, ("server_error", "error"))
        body: dict[str, object] = {
            "error": {"message": message, "type": kind, "code": code or default_code}
        }
    else:
        body = {"error": message}
    return Response(
        json.dumps(body), status_code=status, headers=headers, media_type="application/json"
    )
