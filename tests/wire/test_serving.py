"""The gateway's control API bodies: the core's routing table and caller survive JSON."""

from __future__ import annotations

import json

import pytest
from pydantic import ValidationError

from aiplane.core.auth import Caller, GlobalRole, Principal, PrincipalKind, TeamRole, TokenScope
from aiplane.core.serving.endpoints import (
    Access,
    AutoPlacement,
    Autoscale,
    EndpointSpec,
    KeyLimits,
    Protocol,
    Role,
    ScaleMetric,
    SiteReplicas,
    Traffic,
)
from aiplane.core.serving.routes import (
    EndpointRoute,
    ReplicaLoad,
    ReplicaRoute,
    RequestCount,
    RoutingTable,
    SiteRoute,
)
from aiplane.core.workloads import AcceleratorOption
from aiplane.wire.serving import (
    DenialIn,
    ReplicaLoadIn,
    ReportIn,
    RequestCountIn,
    caller_from_wire,
    caller_to_wire,
    table_from_wire,
    table_to_wire,
)


def spec(**changes: object) -> EndpointSpec:
    fields: dict[str, object] = {
        "name": "fraud",
        "team": "risk",
        "protocol": Protocol.OPENAI,
        "model": "fraud@production",
        "sites": (SiteReplicas("edge-fra", 1, 3), SiteReplicas("gcp-us", 0, 8)),
        "latency_slo_ms": {"eu-users": 40.0, "us-users": 120.0},
        "cpus": 2.0,
        "memory_gib": 4.5,
        "accelerators": (AcceleratorOption("H100-80GB", 1 / 7, 1.0, "1g.10gb"),),
        "autoscale": Autoscale(ScaleMetric.P95_MS, 80.0, 30.0),
        "traffic": Traffic("fraud@4", 0.1, "fraud@5", 0.05),
        "access": Access(("ops",), ("bot",), ("tok-1",)),
        "limits": KeyLimits(10.0, 20, 1000, 50_000),
        "readiness_path": "/ready",
        "drain_s": 3.0,
        "labels": {"tier": "gold"},
    }
    fields.update(changes)
    return EndpointSpec(**fields)  # type: ignore[arg-type]


def table() -> RoutingTable:
    replicas = (
        ReplicaRoute("r-1", "edge-fra", "jetson", Role.PRIMARY, "fraud@3", "10.0.0.1:9000", True),
        ReplicaRoute(
            "r-2",
            "gcp-us",
            "a3",
            Role.CANARY,
            "fraud@4",
            "[::1]:9001",
            False,
            3.5,
            refused="fraud@4: its signature does not verify",  # a gateway run alone gets it
        ),
    )
    sites = {
        "edge-fra": SiteRoute("edge-fra", "edge", {"eu-users": 8.0}, emulated=True),
        "gcp-us": SiteRoute("gcp-us", "cloud", {"eu-users": 95.0, "us-users": 12.0}),
    }
    routes = {
        "fraud": EndpointRoute(spec(), 3, replicas, sites),
        "auto": EndpointRoute(
            spec(
                name="auto",
                model=None,
                command="vllm serve",
                sites=(),
                placement=AutoPlacement(2, 1, 4),
            ),
            1,
        ),
    }
    return RoutingTable(routes, 1_764_000_000.5)


def test_the_routing_table_survives_json() -> None:
    original = table()
    text = json.dumps(table_to_wire(original))
    assert table_from_wire(text) == original
    assert table_from_wire(json.loads(text)) == original
    assert table_from_wire(text.encode()) == original


def test_the_replicas_environment_is_not_sent() -> None:
    secret = RoutingTable({"fraud": EndpointRoute(spec(env={"HF_TOKEN": "hf_secret"}), 1)}, 0.0)
    wire = table_to_wire(secret)
    assert "hf_secret" not in json.dumps(wire)
    back = table_from_wire(wire)
    assert back.endpoints["fraud"].spec.env == {}
    assert back.endpoints["fraud"].spec.name == "fraud"


def test_a_table_that_is_not_one_is_refused() -> None:
    wire = table_to_wire(table())
    wire["endpoints"]["fraud"]["replicas"][0]["role"] = "leader"
    with pytest.raises(ValidationError, match="role"):
        table_from_wire(wire)


@pytest.mark.parametrize(
    "caller",
    [
        Caller(
            Principal(
                "p-1",
                "alice",
                PrincipalKind.USER,
                10.0,
                teams={"risk": TeamRole.MEMBER},
                email="a@example.com",
            ),
            token_id="tok-1",
            claimed_teams={"ops": TeamRole.VIEWER},
        ),
        Caller(
            Principal("p-2", "ci", PrincipalKind.SERVICE, 0.0, GlobalRole.OPERATOR),
            via="oidc",
        ),
        Caller(
            Principal("p-3", "job", PrincipalKind.USER, 0.0, disabled=True),
            token_id="tok-3",
            scope=TokenScope("risk", "j-9"),
        ),
    ],
)
def test_a_caller_survives_json(caller: Caller) -> None:
    assert caller_from_wire(json.loads(json.dumps(caller_to_wire(caller)))) == caller
    assert DenialIn(caller=caller, endpoint="fraud", reason="no", at=1.0).caller == caller


def test_loads_and_counts_survive_the_report_body() -> None:
    load = ReplicaLoad("fraud", "r-1", 100.0, 5.0, 1.5, 40, 2, 33.0)
    count = RequestCount("fraud", "risk", "alice", None, 3600.0, 40, 2, 100, 900)
    body = ReportIn(loads=[ReplicaLoadIn.of(load)], counts=[RequestCountIn.of(count)])
    back = ReportIn.model_validate_json(body.model_dump_json())
    assert [x.core() for x in back.loads] == [load]
    assert [x.core() for x in back.counts] == [count]


@pytest.mark.parametrize(
    ("field", "value"),
    [("requests", -1), ("window_s", 0), ("in_flight", float("inf")), ("endpoint", "")],
)
def test_a_load_out_of_bounds_is_refused(field: str, value: object) -> None:
    fields = {
        "endpoint": "e",
        "run_id": "r",
        "at": 1.0,
        "window_s": 5.0,
        "in_flight": 0.0,
        "requests": 0,
        "errors": 0,
    }
    fields[field] = value
    with pytest.raises(ValidationError, match=field):
        ReplicaLoadIn.model_validate(fields)


def test_a_count_names_a_whole_hour() -> None:
    with pytest.raises(ValidationError, match="hour"):
        RequestCountIn(endpoint="e", team="t", principal="p", hour=3601.0)
