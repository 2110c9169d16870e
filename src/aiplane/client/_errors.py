from __future__ import annotations

import httpx
from pydantic import ValidationError

from aiplane.wire.errors import ErrorBody, ErrorDetail, ProblemOut


class ApiError(Exception):
    """The server refused a request: its HTTP status and its ``{"error": ...}`` body."""

    def __init__(self, status: int, detail: ErrorDetail) -> None:
        super().__init__(detail.message)
        self.status = status
        self.detail = detail

    @property
    def code(self) -> str:
        return self.detail.code

    @property
    def message(self) -> str:
        return self.detail.message

    @property
    def problems(self) -> list[ProblemOut]:
        return self.detail.problems

    @classmethod
    def from_response(cls, response: httpx.Response) -> ApiError:
        try:
            detail = ErrorBody.model_validate_json(response.content).error
        except ValidationError:
            # Not ours (a proxy in between, say): keep what it said.
            detail = ErrorDetail(code="http_error", message=response.text[:500])
        return cls(response.status_code, detail)

    def __repr__(self) -> str:
        return f"ApiError({self.status}, {self.code!r}, {self.message!r})"


class TokenFileError(Exception):
    """``AIPLANE_TOKEN_FILE`` names a file that cannot be read (or holds no token)."""
