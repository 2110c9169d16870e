"""Endpoints and their request counters as JSON-ready values and back, shared by the store
members.

An endpoint's spec is one JSON document (the memory member keeps it as text, the SQL member in
a JSON column beside its name, team, generation and times), so both store exactly what
survives JSON: enums by value, tuples back to tuples where the spec declares them, mappings
back as fresh ``dict``s a caller may mutate without changing what is stored.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from aiplane.core.guards.policy import GuardPolicy
from aiplane.core.guards.types import GuardAction
from aiplane.core.serving.endpoints import (
    Access,
    AutoPlacement,
    Autoscale,
    Endpoint,
    EndpointSpec,
    KeyLimits,
    Protocol,
    ScaleMetric,
    SiteReplicas,
    Traffic,
)
from aiplane.core.serving.routes import RequestCount
from aiplane.core.workloads import AcceleratorOption

Data = dict[str, Any]

# What a counter's key holds for "no token": SQL compares NULLs as distinct, so a NULL in the
# key would make each add a row of its own rather than one counter.
NO_TOKEN = ""

# The counter fields that ``add_counts`` sums.
SUMMED = ("requests", "errors", "tokens_in", "tokens_out")


def generation_conflict(name: str, expected: int, stored: int) -> str:
    """Why a compare-and-set of an endpoint was refused: the same words from every member."""
    return (
        f"endpoint {name} is at generation {stored}, not {expected}: it was changed since it "
        "was read"
    )


def taken(name: str) -> str:
    return f"endpoint {name} exists already"


def not_found(name: str) -> str:
    return f"endpoint {name} not found"


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def _optional_int(value: Any) -> int | None:
    return None if value is None else int(value)


def spec_to(spec: EndpointSpec) -> Data:
    placement = spec.placement
    return {
        "name": spec.name,
        "team": spec.team,
        "protocol": str(spec.protocol),
        "model": spec.model,
        "command": spec.command,
        "sites": [
            {"site": s.site, "min_replicas": s.min_replicas, "max_replicas": s.max_replicas}
            for s in spec.sites
        ],
        "placement": None
        if placement is None
        else {
            "sites": placement.sites,
            "min_replicas": placement.min_replicas,
            "max_replicas": placement.max_replicas,
        },
        "latency_slo_ms": dict(spec.latency_slo_ms),
        "cpus": spec.cpus,
        "memory_gib": spec.memory_gib,
        # As the workload codec writes them (``aiplane.core.codec``).
        "accelerators": [
            {"name": a.name, "count": a.count, "speed": a.speed, "mig_profile": a.mig_profile}
            for a in spec.accelerators
        ],
        "autoscale": {
            "metric": str(spec.autoscale.metric),
            "target": spec.autoscale.target,
            "scale_down_after_s": spec.autoscale.scale_down_after_s,
        },
        "traffic": {
            "canary": spec.traffic.canary,
            "canary_weight": spec.traffic.canary_weight,
            "shadow": spec.traffic.shadow,
            "shadow_weight": spec.traffic.shadow_weight,
        },
        "access": {
            "teams": list(spec.access.teams),
            "principals": list(spec.access.principals),
            "tokens": list(spec.access.tokens),
        },
        "limits": {
            "requests_per_s": spec.limits.requests_per_s,
            "burst": spec.limits.burst,
            "requests_per_day": spec.limits.requests_per_day,
            "tokens_per_day": spec.limits.tokens_per_day,
        },
        "guards": guards_to(spec.guards),
        "readiness_path": spec.readiness_path,
        "drain_s": spec.drain_s,
        "workdir": spec.workdir,
        "env": dict(spec.env),
        "labels": dict(spec.labels),
    }


def spec_from(data: Mapping[Any, Any]) -> EndpointSpec:
    placement = data["placement"]
    autoscale = data["autoscale"]
    traffic = data["traffic"]
    access = data["access"]
    limits = data["limits"]
    return EndpointSpec(
        name=data["name"],
        team=data["team"],
        protocol=Protocol(data["protocol"]),
        model=data["model"],
        command=data["command"],
        sites=tuple(
            SiteReplicas(s["site"], int(s["min_replicas"]), int(s["max_replicas"]))
            for s in data["sites"]
        ),
        placement=None
        if placement is None
        else AutoPlacement(
            int(placement["sites"]),
            int(placement["min_replicas"]),
            int(placement["max_replicas"]),
        ),
        latency_slo_ms={region: float(ms) for region, ms in data["latency_slo_ms"].items()},
        cpus=float(data["cpus"]),
        memory_gib=float(data["memory_gib"]),
        accelerators=tuple(
            AcceleratorOption(a["name"], float(a["count"]), float(a["speed"]), a["mig_profile"])
            for a in data["accelerators"]
        ),
        autoscale=Autoscale(
            metric=ScaleMetric(autoscale["metric"]),
            target=float(autoscale["target"]),
            scale_down_after_s=float(autoscale["scale_down_after_s"]),
        ),
        traffic=Traffic(
            canary=traffic["canary"],
            canary_weight=float(traffic["canary_weight"]),
            shadow=traffic["shadow"],
            shadow_weight=float(traffic["shadow_weight"]),
        ),
        access=Access(
            teams=tuple(access["teams"]),
            principals=tuple(access["principals"]),
            tokens=tuple(access["tokens"]),
        ),
        limits=KeyLimits(
            requests_per_s=_optional_float(limits["requests_per_s"]),
            burst=_optional_int(limits["burst"]),
            requests_per_day=_optional_int(limits["requests_per_day"]),
            tokens_per_day=_optional_int(limits["tokens_per_day"]),
        ),
        # Absent in endpoints stored before the guards existed: no guard runs.
        guards=guards_from(data.get("guards")),
        readiness_path=data["readiness_path"],
        drain_s=float(data["drain_s"]),
        workdir=data.get("workdir"),  # absent in endpoints stored before it existed
        env=dict(data["env"]),
        labels=dict(data["labels"]),
    )


_ACTIONS = ("injection", "pii", "output_pii", "canary")


def guards_to(policy: GuardPolicy) -> Data:
    data: Data = {name: _action_to(getattr(policy, name)) for name in _ACTIONS}
    data["pii_types"] = list(policy.pii_types)
    data["restore_pii"] = policy.restore_pii
    return data


def _action_to(action: GuardAction | None) -> str | None:
    return None if action is None else str(action)


def guards_from(data: Mapping[Any, Any] | None) -> GuardPolicy:
    if not data:
        return GuardPolicy()
    actions = {
        name: None if data.get(name) is None else GuardAction(data[name]) for name in _ACTIONS
    }
    return GuardPolicy(
        **actions,
        pii_types=tuple(data.get("pii_types", ())),
        restore_pii=bool(data.get("restore_pii", True)),
    )


def endpoint_to(endpoint: Endpoint) -> Data:
    """The SQL member spreads these over columns of the same names, ``spec`` a JSON one."""
    return {
        "name": endpoint.name,
        "team": endpoint.team,
        "generation": endpoint.generation,
        "created_at": endpoint.created_at,
        "updated_at": endpoint.updated_at,
        "created_by": endpoint.created_by,
        "spec": spec_to(endpoint.spec),
    }


def endpoint_from(data: Mapping[Any, Any]) -> Endpoint:
    return Endpoint(
        spec=spec_from(data["spec"]),
        created_at=float(data["created_at"]),
        updated_at=float(data["updated_at"]),
        created_by=data["created_by"],
        generation=int(data["generation"]),
    )


def count_key(count: RequestCount) -> tuple[str, str, str, float]:
    """The counter a count adds to: (endpoint, principal, token id or NO_TOKEN, hour)."""
    token = NO_TOKEN if count.token_id is None else count.token_id
    return (count.endpoint, count.principal, token, float(count.hour))


def count_to(count: RequestCount) -> Data:
    """A counter row: the token id as its key holds it."""
    endpoint, principal, token, hour = count_key(count)
    return {
        "endpoint": endpoint,
        "principal": principal,
        "token_id": token,
        "hour": hour,
        "team": count.team,
        "requests": count.requests,
        "errors": count.errors,
        "tokens_in": count.tokens_in,
        "tokens_out": count.tokens_out,
    }


def count_from(data: Mapping[Any, Any]) -> RequestCount:
    token = data["token_id"]
    return RequestCount(
        endpoint=data["endpoint"],
        team=data["team"],
        principal=data["principal"],
        token_id=None if token == NO_TOKEN else token,
        hour=float(data["hour"]),
        requests=int(data["requests"]),
        errors=int(data["errors"]),
        tokens_in=int(data["tokens_in"]),
        tokens_out=int(data["tokens_out"]),
    )


def summed(counts: Collection[RequestCount]) -> list[Data]:
    """``counts`` as counter rows, one per key with the fields summed, in key
    order: a batch that names one counter twice is one upsert (PostgreSQL refuses to update a
    row twice in one statement), and writers lock counters in one order, never each other's
    reverse."""
    rows: dict[tuple[str, str, str, float], Data] = {}
    for count in counts:
        key = count_key(count)
        row = rows.get(key)
        if row is None:
            rows[key] = count_to(count)
        else:
            for name in SUMMED:
                row[name] += getattr(count, name)
    return [rows[key] for key in sorted(rows)]
