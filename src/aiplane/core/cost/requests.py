"""Requests and tokens served, from the gateway's hourly counters, and cost per request.

The gateway counts per endpoint, key and hour (:class:`~aiplane.core.serving.routes.
RequestCount`); these sums answer "who called what, how much" by endpoint, team (the
endpoint's, who pays for its replicas), principal or key, and join the cost report by endpoint
to give each endpoint's cost per 1,000 requests. A period takes the counters of the hours that
start inside it: an hour is counted whole or not at all.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiplane.core.serving.routes import RequestCount

# What a request report groups by, by the name users give. ``key`` is one token of one
# principal (a principal's requests made without a token, e.g. through a session, are a key
# of their own).
REQUEST_DIMENSIONS = ("endpoint", "team", "principal", "key")


@dataclass(frozen=True)
class RequestTotals:
    requests: int = 0
    errors: int = 0
    tokens_in: int = 0
    tokens_out: int = 0

    @property
    def tokens(self) -> int:
        return self.tokens_in + self.tokens_out

    def plus(self, c: RequestCount) -> RequestTotals:
        return RequestTotals(
            self.requests + c.requests,
            self.errors + c.errors,
            self.tokens_in + c.tokens_in,
            self.tokens_out + c.tokens_out,
        )


@dataclass(frozen=True)
class RequestRow:
    """One group's totals. For ``by="key"``, ``key`` is the token's id (None: no token) and
    ``principal`` its holder; otherwise ``key`` is the endpoint, team or principal."""

    key: str | None
    totals: RequestTotals
    principal: str | None = None
    endpoints: tuple[str, ...] = ()  # the endpoints the group called


@dataclass(frozen=True)
class RequestReport:
    by: str
    start: float
    end: float
    rows: tuple[RequestRow, ...]

    @property
    def totals(self) -> RequestTotals:
        t = RequestTotals()
        for r in self.rows:
            t = RequestTotals(
                t.requests + r.totals.requests,
                t.errors + r.totals.errors,
                t.tokens_in + r.totals.tokens_in,
                t.tokens_out + r.totals.tokens_out,
            )
        return t


def usd_per_1k_requests(usd: float, requests: int) -> float | None:
    """What 1,000 requests cost: spend / requests x 1000; None when there were none."""
    return usd / requests * 1000.0 if requests > 0 else None


def _group(c: RequestCount, by: str) -> tuple[str | None, str | None]:
    if by == "endpoint":
        return c.endpoint, None
    if by == "team":
        return c.team, None
    if by == "principal":
        return c.principal, None
    if by == "key":
        return c.token_id, c.principal
    raise ValueError(f"unknown dimension {by!r} (known: {', '.join(REQUEST_DIMENSIONS)})")


def requests_by(counts: Iterable[RequestCount], by: str) -> list[RequestRow]:
    """One row per group, most requests first (then by name)."""
    totals: dict[tuple[str | None, str | None], RequestTotals] = {}
    endpoints: dict[tuple[str | None, str | None], set[str]] = {}
    for c in counts:
        group = _group(c, by)
        totals[group] = totals.get(group, RequestTotals()).plus(c)
        endpoints.setdefault(group, set()).add(c.endpoint)
    rows = [
        RequestRow(key, t, principal, tuple(sorted(endpoints[(key, principal)])))
        for (key, principal), t in totals.items()
    ]
    rows.sort(key=lambda r: (-r.totals.requests, str(r.key), str(r.principal)))
    return rows


def totals_by_endpoint(counts: Iterable[RequestCount]) -> dict[str, RequestTotals]:
    return {str(r.key): r.totals for r in requests_by(counts, "endpoint")}
