"""Endpoint specs: the example, every field read, the document written back, and bad specs
with the problems they get (file, field, what is allowed)."""

from __future__ import annotations

from typing import Any

import pytest

from aiplane.core.serving.endpoints import Protocol, ScaleMetric, SiteReplicas
from aiplane.core.workloads import AcceleratorOption
from aiplane.specs import load_fleet
from aiplane.specs.endpoint import endpoint_from_document, endpoint_to_document, load_endpoint

from .conftest import EXAMPLES, problems_of


def minimal(**fields: Any) -> dict[str, Any]:
    return {
        "name": "fraud",
        "team": "t",
        "model": "fraud@production",
        "sites": [{"site": "edge"}],
        **fields,
    }


FULL: dict[str, Any] = {
    "kind": "Endpoint",
    "name": "chat",
    "team": "t",
    "protocol": "openai",
    "model": "llama@production",
    "placement": {"sites": 2, "min": 1, "max": 4},
    "latency_slo_ms": {"eu-users": 50, "us-users": 80.5},
    "resources": {"accelerators": ["L4:1", "A100-80GB:1@2.0"], "cpus": 4, "memory_gib": 16},
    "autoscale": {"metric": "p95_ms", "target": 200, "scale_down_after": 30},
    "traffic": {
        "canary": {"version": "llama@4", "weight": 0.1},
        "shadow": {"version": "llama@candidate", "weight": 0.05},
    },
    "access": {"teams": ["u"], "principals": ["bob"], "tokens": ["tk-1"]},
    "limits": {
        "requests_per_s": 5,
        "burst": 10,
        "requests_per_day": 1000,
        "tokens_per_day": 100000,
    },
    "readiness_path": "/healthz",
    "drain": 20,
    "env": {"MODE": "fast", "THREADS": 4},
    "labels": {"project": "assist"},
}


def test_the_example_reads_and_its_sites_are_in_the_demo_fleet() -> None:
    spec = load_endpoint(EXAMPLES / "endpoints" / "fraud.yaml")
    assert spec.model == "fraud@production" and spec.team == "product"
    assert spec.sites == (
        SiteReplicas("edge-retail-berlin", 1, 3),
        SiteReplicas("gcp-europe-west4", 1, 2),
    )
    fleet = load_fleet(EXAMPLES / "fleet-hybrid.yaml").fleet
    assert {s.site for s in spec.sites} <= {s.name for s in fleet.sites}
    assert fleet.team(spec.team) is not None
    edge = fleet.site("edge-retail-berlin")
    assert edge is not None and edge.latency_ms["eu-users"] <= spec.latency_slo_ms["eu-users"]


def test_every_field_is_read_and_written_back() -> None:
    spec = endpoint_from_document(FULL, "e.yaml")
    assert spec.protocol is Protocol.OPENAI
    assert spec.placement is not None and spec.placement.sites == 2
    assert spec.accelerators == (
        AcceleratorOption("L4", 1.0),
        AcceleratorOption("A100-80GB", 1.0, 2.0),
    )
    assert spec.autoscale.metric is ScaleMetric.P95_MS and spec.autoscale.scale_down_after_s == 30
    assert spec.traffic.canary == "llama@4" and spec.traffic.shadow_weight == 0.05
    assert spec.access.tokens == ("tk-1",) and spec.limits.burst == 10
    assert spec.env == {"MODE": "fast", "THREADS": "4"}
    assert spec.probe_path == "/healthz" and spec.drain_s == 20
    assert endpoint_from_document(endpoint_to_document(spec), "again") == spec
    bare = endpoint_from_document(minimal(), "e.yaml")
    assert endpoint_from_document(endpoint_to_document(bare), "again") == bare
    assert bare.probe_path == "/v2/health/ready"


def test_a_command_endpoint() -> None:
    spec = endpoint_from_document(
        minimal(model=None, command=" python serve.py ", protocol="openai"), "e.yaml"
    )
    assert spec.command == "python serve.py" and spec.model is None
    assert spec.probe_path == "/v1/models"


def test_a_command_endpoints_workdir_is_the_files_folder_or_joined_to_it() -> None:
    command = minimal(model=None, command="python3 serve.py")
    assert endpoint_from_document(command, "e.yaml", "/srv/ex").workdir == "/srv/ex"
    joined = endpoint_from_document({**command, "workdir": "../programs"}, "e.yaml", "/srv/ex")
    assert joined.workdir == "/srv/programs"
    assert endpoint_to_document(joined)["workdir"] == "/srv/programs"
    # A model endpoint runs aiplane's model server: no folder of the user's.
    assert endpoint_from_document(minimal(), "e.yaml", "/srv/ex").workdir is None


BAD: list[tuple[dict[str, Any], str, str]] = [
    (minimal(kind="Workload"), "e.yaml: kind", "Endpoint"),
    (minimal(name="Fraud!"), "e.yaml: name", "lower-case"),
    (minimal(colour="red"), "e.yaml: colour", ""),
    (minimal(model=None), "e.yaml: model", "command"),
    (minimal(command="serve"), "e.yaml: command", "one of them"),
    (minimal(model=None, command="  "), "e.yaml: command", "a shell command"),
    (minimal(model="fraud@"), "e.yaml: model", "model reference"),
    (minimal(sites=[]), "e.yaml: sites", "placement"),
    (minimal(placement={"sites": 1}), "e.yaml: placement", "not both"),
    (minimal(sites=[{"site": "a", "min": 3, "max": 2}]), "e.yaml: sites[0].max", ">= 3"),
    (minimal(sites=[{"site": "a", "min": 0, "max": 0}]), "e.yaml: sites[0].max", ">= 1"),
    (minimal(sites=[{"site": "a"}, {"site": "a"}]), "e.yaml: sites[1].site", "each site once"),
    (minimal(sites=[{"site": "a", "min": -1}]), "e.yaml: sites[0].min", "0 to 1000"),
    (minimal(sites=[], placement={"sites": 0}), "e.yaml: placement.sites", "1 to 64"),
    (minimal(latency_slo_ms={"eu": 0}), "e.yaml: latency_slo_ms.eu", "> 0"),
    (minimal(resources={"accelerators": "H100:x"}), "e.yaml: resources.accelerators", ""),
    (minimal(resources={"cpus": "2"}), "e.yaml: resources.cpus", "> 0"),
    (minimal(autoscale={"metric": "qps"}), "e.yaml: autoscale.metric", "in_flight"),
    (
        minimal(traffic={"canary": {"version": "fraud@2", "weight": 1.5}}),
        "e.yaml: traffic.canary.weight",
        "0 to 1",
    ),
    (
        minimal(traffic={"canary": {"version": "other@2", "weight": 0.1}}),
        "e.yaml: traffic.canary.version",
        "fraud@N",
    ),
    (
        minimal(traffic={"shadow": {"version": "fraud@production", "weight": 0.1}}),
        "e.yaml: traffic.shadow.version",
        "another version",
    ),
    (
        minimal(model=None, command="s", traffic={"canary": {"version": "x@1", "weight": 0.1}}),
        "e.yaml: traffic.canary.version",
        "a model endpoint",
    ),
    (minimal(access={"teams": "u"}), "e.yaml: access.teams", ""),
    (minimal(limits={"burst": 5}), "e.yaml: limits.burst", "requests_per_s"),
    (minimal(limits={"requests_per_day": 0}), "e.yaml: limits.requests_per_day", ">= 1"),
    (minimal(readiness_path="health"), "e.yaml: readiness_path", "starting with '/'"),
    (minimal(drain=-1), "e.yaml: drain", "0 to 3600"),
    (minimal(env={"1X": "a"}), "e.yaml: env.1X", "letters"),
    (minimal(env={"AIPLANE_PORT": "80"}), "e.yaml: env.AIPLANE_PORT", "another variable"),
    (minimal(labels={"aiplane.endpoint": "x"}), "e.yaml: labels['aiplane.endpoint']", "another"),
]


@pytest.mark.parametrize(("document", "location", "allowed"), BAD)
def test_bad_specs_name_the_field_and_what_is_allowed(
    document: dict[str, Any], location: str, allowed: str
) -> None:
    problems = problems_of(lambda: endpoint_from_document(document, "e.yaml"))
    found = [p for p in problems if p.location == location]
    assert found, [(p.location, p.message) for p in problems]
    assert allowed in (found[0].allowed or "") + found[0].message


def test_every_problem_at_once() -> None:
    document = minimal(model=None, sites=[], drain=-1, env={"1X": "a"})
    problems = problems_of(lambda: endpoint_from_document(document, "e.yaml"))
    assert len(problems) == 1  # the shape first: drain is refused before the rest is read
    document = minimal(model=None, sites=[], env={"1X": "a"})
    locations = {p.location for p in problems_of(lambda: endpoint_from_document(document, "e"))}
    assert locations == {"e: model", "e: sites", "e: env.1X"}
