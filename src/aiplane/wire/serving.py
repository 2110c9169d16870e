"""The gateway's control API on the wire (``/gateway/...``): the routing table, who a token
stands for, denials and reports.

The routing table and the caller are the core's own frozen dataclasses, coded by pydantic
(``TypeAdapter``): one shape, the core's, with no second model to keep in step. What a gateway
sends (loads, counts, a denial) is checked field by field here, at the edge, before a service
sees it.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from pydantic import BaseModel, ConfigDict, Field, TypeAdapter

from aiplane.core.auth import Caller
from aiplane.core.guards.types import GuardAction, GuardName
from aiplane.core.serving.guard_hits import GuardHit, GuardStage
from aiplane.core.serving.routes import ReplicaLoad, RequestCount, RoutingTable

_TABLE: TypeAdapter[RoutingTable] = TypeAdapter(RoutingTable)
_CALLER: TypeAdapter[Caller] = TypeAdapter(Caller)

# Bounds on what one report may carry: a gateway reports every few seconds, so a list this
# long is a bug or an attack, not traffic.
MAX_REPORT_ITEMS = 100_000


def public_table(table: RoutingTable) -> RoutingTable:
    """``table`` as a gateway gets it: without the replicas' environment, which may hold
    secrets and which routing never reads."""
    endpoints = {
        name: dataclasses.replace(route, spec=dataclasses.replace(route.spec, env={}))
        for name, route in table.endpoints.items()
    }
    return dataclasses.replace(table, endpoints=endpoints)


def table_to_wire(table: RoutingTable) -> dict[str, Any]:
    """JSON values of ``public_table(table)``."""
    out: dict[str, Any] = _TABLE.dump_python(public_table(table), mode="json")
    return out


def table_from_wire(data: bytes | str | dict[str, Any]) -> RoutingTable:
    """A routing table from its JSON (text, bytes or parsed); pydantic's ValidationError when
    it is not one."""
    if isinstance(data, dict):
        return _TABLE.validate_python(data)
    return _TABLE.validate_json(data)


def caller_to_wire(caller: Caller) -> dict[str, Any]:
    out: dict[str, Any] = _CALLER.dump_python(caller, mode="json")
    return out


def caller_from_wire(data: dict[str, Any]) -> Caller:
    return _CALLER.validate_python(data)


class AuthenticateIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    token: str = Field(min_length=1, max_length=8192, description="a bearer token or API key")


class CallerOut(BaseModel):
    """Who a token stands for: the principal with its teams, the token's id and its scope."""

    caller: Caller


# The most one report may count of anything: exact in a JSON number, and far from the store's
# 64-bit counters (a larger one was refused by PostgreSQL as a 503, found by the API fuzzer).
MAX_COUNT = 2**53


class DenialIn(BaseModel):
    """An invocation the gateway refused (403), for the audit log."""

    model_config = ConfigDict(extra="forbid")

    caller: Caller | None = Field(None, description="who was refused; null: not known")
    endpoint: str = Field(min_length=1, max_length=200)
    reason: str = Field(max_length=2000)
    at: float = Field(ge=0, allow_inf_nan=False, description="epoch seconds")


class ReplicaLoadIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(min_length=1, max_length=200)
    run_id: str = Field(min_length=1, max_length=200)
    at: float = Field(ge=0, allow_inf_nan=False, description="epoch seconds: the window's end")
    window_s: float = Field(gt=0, le=86_400, allow_inf_nan=False)
    in_flight: float = Field(ge=0, allow_inf_nan=False, description="mean over the window")
    requests: int = Field(ge=0, le=MAX_COUNT)
    errors: int = Field(ge=0, le=MAX_COUNT)
    p95_ms: float | None = Field(None, ge=0, allow_inf_nan=False)

    def core(self) -> ReplicaLoad:
        return ReplicaLoad(**self.model_dump())

    @classmethod
    def of(cls, load: ReplicaLoad) -> ReplicaLoadIn:
        return cls(**dataclasses.asdict(load))


class RequestCountIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    endpoint: str = Field(min_length=1, max_length=200)
    team: str = Field(min_length=1, max_length=200)
    principal: str = Field(min_length=1, max_length=200)
    token_id: str | None = Field(None, max_length=200)
    hour: float = Field(
        ge=0, multiple_of=3600, allow_inf_nan=False, description="epoch seconds, a whole hour"
    )
    requests: int = Field(0, ge=0, le=MAX_COUNT)
    errors: int = Field(0, ge=0, le=MAX_COUNT)
    tokens_in: int = Field(0, ge=0, le=MAX_COUNT)
    tokens_out: int = Field(0, ge=0, le=MAX_COUNT)

    def core(self) -> RequestCount:
        return RequestCount(**self.model_dump())

    @classmethod
    def of(cls, count: RequestCount) -> RequestCountIn:
        return cls(**dataclasses.asdict(count))


class ReportIn(BaseModel):
    """What a gateway served since its last report; counts are deltas."""

    model_config = ConfigDict(extra="forbid")

    loads: list[ReplicaLoadIn] = Field(default_factory=list, max_length=MAX_REPORT_ITEMS)
    counts: list[RequestCountIn] = Field(default_factory=list, max_length=MAX_REPORT_ITEMS)


class GuardHitIn(BaseModel):
    """One guard hit at the gateway, for the audit log: never the text it matched."""

    model_config = ConfigDict(extra="forbid")

    caller: Caller
    endpoint: str = Field(min_length=1, max_length=200)
    team: str = Field(min_length=1, max_length=200)
    guard: GuardName
    action: GuardAction
    stage: GuardStage
    kinds: list[str] = Field(default_factory=list, max_length=64)
    count: int = Field(ge=0, le=MAX_COUNT)
    request_id: str = Field(max_length=200)
    at: float = Field(ge=0, allow_inf_nan=False, description="epoch seconds")

    def core(self) -> GuardHit:
        return GuardHit(
            caller=self.caller,
            endpoint=self.endpoint,
            team=self.team,
            guard=self.guard,
            action=self.action,
            stage=self.stage,
            kinds=tuple(self.kinds),
            count=self.count,
            request_id=self.request_id,
            at=self.at,
        )

    @classmethod
    def of(cls, hit: GuardHit) -> GuardHitIn:
        return cls(
            caller=hit.caller,
            endpoint=hit.endpoint,
            team=hit.team,
            guard=hit.guard,
            action=hit.action,
            stage=hit.stage,
            kinds=list(hit.kinds),
            count=hit.count,
            request_id=hit.request_id,
            at=hit.at,
        )


class GuardHitsIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    hits: list[GuardHitIn] = Field(max_length=MAX_REPORT_ITEMS)
