"""Bad fleet specs: every problem names the field, the value given and what is allowed."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest

from aiplane.core.accelerators import ACCELERATORS
from aiplane.core.errors import Problem
from aiplane.specs import fleet_from_document

from .conftest import example, problems_of

KNOWN = ", ".join(ACCELERATORS)
SITES = "onprem-local, gcp-europe-west4, gcp-us-central1, edge-retail-berlin"
POOL_FIELDS = "name, backend, backend_config, nodes, node, pricing"

Doc = dict[str, Any]


def pool(d: Doc, site: int, index: int) -> Doc:
    result: Doc = d["sites"][site]["pools"][index]
    return result


CASES: list[tuple[str, Callable[[Doc], object], Problem]] = [
    (
        "unknown top-level field",
        lambda d: d.update(sitez=[]),
        Problem(
            "fleet.yaml: sitez",
            "unknown field; did you mean 'sites'?",
            "'sitez'",
            "sites, teams, datasets, budgets",
        ),
    ),
    (
        "misspelt pool field",
        lambda d: pool(d, 0, 1).update(backnd="local"),
        Problem(
            "fleet.yaml: sites[0].pools[1].backnd",
            "unknown field; did you mean 'backend'?",
            "'backnd'",
            POOL_FIELDS,
        ),
    ),
    (
        "bad site kind",
        lambda d: d["sites"][1].update(kind="cluod"),
        Problem(
            "fleet.yaml: sites[1].kind",
            "not one of the allowed values",
            "'cluod'",
            "cloud, onprem, edge",
        ),
    ),
    (
        "unknown accelerator",
        lambda d: pool(d, 0, 1)["node"].update(accelerator="H900"),
        Problem(
            "fleet.yaml: sites[0].pools[1].node.accelerator",
            "unknown accelerator type",
            "'H900'",
            KNOWN + ", auto (local pools), or any name with custom_accelerator: true",
        ),
    ),
    (
        "unknown accelerator in a quota",
        lambda d: d["teams"][0]["quota"].update(B300=8),
        Problem("fleet.yaml: teams[0].quota.B300", "unknown accelerator type", "'B300'", KNOWN),
    ),
    (
        "negative dataset size",
        lambda d: d["datasets"][0].update(size_gb=-5),
        Problem(
            "fleet.yaml: datasets[0].size_gb",
            "must be greater than or equal to 0",
            "-5",
            "a number >= 0",
        ),
    ),
    (
        "negative price",
        lambda d: pool(d, 0, 1)["pricing"].update(usd_per_gpu_hour=-1.35),
        Problem(
            "fleet.yaml: sites[0].pools[1].pricing.usd_per_gpu_hour",
            "must be greater than or equal to 0",
            "-1.35",
            "a number >= 0",
        ),
    ),
    (
        "min greater than max",
        lambda d: pool(d, 1, 0).update(nodes={"min": 5, "max": 2}),
        Problem(
            "fleet.yaml: sites[1].pools[0].nodes",
            "min is greater than max",
            "{'min': 5, 'max': 2}",
            "min <= max",
        ),
    ),
    (
        "negative node count",
        lambda d: pool(d, 0, 1).update(nodes=-1),
        Problem(
            "fleet.yaml: sites[0].pools[1].nodes",
            "a node count must be >= 0",
            "-1",
            "a node count (a whole number >= 0) or {min, max}",
        ),
    ),
    (
        "duplicate site name",
        lambda d: d["sites"][3].update(name="gcp-europe-west4"),
        Problem(
            "fleet.yaml: sites[3].name",
            "duplicate site name (also sites[1])",
            "'gcp-europe-west4'",
            "a name not used by another site",
        ),
    ),
    (
        "duplicate pool name in a site",
        lambda d: pool(d, 0, 1).update(name="workstation"),
        Problem(
            "fleet.yaml: sites[0].pools[1].name",
            "duplicate pool in this site name (also pools[0])",
            "'workstation'",
            "a name not used by another pool in this site",
        ),
    ),
    (
        "dataset on an unknown site",
        lambda d: d["datasets"][0].update(site="onprem-locl"),
        Problem(
            "fleet.yaml: datasets[0].site",
            "unknown site; did you mean 'onprem-local'?",
            "'onprem-locl'",
            SITES,
        ),
    ),
    (
        "unknown instance type",
        lambda d: pool(d, 1, 0)["node"].update(instance_type="a3-highgpu-9g"),
        Problem(
            "fleet.yaml: sites[1].pools[0].node.instance_type",
            "unknown instance type",
            "'a3-highgpu-9g'",
            "similar known types: a3-highgpu-8g, a2-highgpu-8g",
        ),
    ),
    (
        "instance type not in the site's region",
        lambda d: pool(d, 1, 0)["node"].update(instance_type="p5.48xlarge"),
        Problem(
            "fleet.yaml: sites[1].pools[0].node.instance_type",
            "instance type not offered in region 'europe-west4'",
            "'p5.48xlarge'",
            "regions that offer it: us-east-1, us-west-2",
        ),
    ),
    (
        "bad pricing model",
        lambda d: pool(d, 2, 0)["pricing"].update(model="preemptible"),
        Problem(
            "fleet.yaml: sites[2].pools[0].pricing.model",
            "not one of the allowed values",
            "'preemptible'",
            "owned, on_demand, spot, reserved",
        ),
    ),
    (
        "spot without a spot price",
        lambda d: (
            d["sites"][2].update(region="us-east-1"),
            pool(d, 2, 0)["node"].update(instance_type="gpu_8x_h100_sxm5"),
        ),
        Problem(
            "fleet.yaml: sites[2].pools[0].pricing.model",
            "no spot price for gpu_8x_h100_sxm5 in us-east-1",
            "'spot'",
            "on_demand, or usd_per_gpu_hour or usd_per_node_hour",
        ),
    ),
    (
        "per-GPU price on a CPU-only node",
        lambda d: pool(d, 0, 1).update(node={"cpus": 8, "memory_gib": 64}),
        Problem(
            "fleet.yaml: sites[0].pools[1].pricing.usd_per_gpu_hour",
            "the node has no GPUs",
            "1.35",
            "usd_per_node_hour",
        ),
    ),
    (
        "GPUs without an accelerator",
        lambda d: pool(d, 0, 1)["node"].pop("accelerator"),
        Problem(
            "fleet.yaml: sites[0].pools[1].node.gpus",
            "GPUs need an accelerator type",
            "8",
            "node.accelerator, or gpus: 0 for a CPU-only node",
        ),
    ),
    (
        "auto on a pool that is not local",
        lambda d: pool(d, 0, 0).update(backend="emulated"),
        Problem(
            "fleet.yaml: sites[0].pools[0].node.accelerator",
            "'auto' is only for pools on the local backend",
            "'auto'",
            KNOWN,
        ),
    ),
    (
        "a string where a number belongs",
        lambda d: pool(d, 0, 1)["node"].update(gpus="8"),
        Problem(
            "fleet.yaml: sites[0].pools[1].node.gpus",
            "expected a whole number",
            "'8'",
            "a whole number >= 0",
        ),
    ),
    (
        "missing required field",
        lambda d: pool(d, 0, 1).pop("node"),
        Problem(
            "fleet.yaml: sites[0].pools[1].node",
            "required field is missing",
            None,
            "{accelerator, gpus, cpus, memory_gib} or {instance_type}",
        ),
    ),
    (
        "a backend config that is not a mapping",
        lambda d: pool(d, 0, 0).update(backend_config="partition=gpu"),
        Problem(
            "fleet.yaml: sites[0].pools[0].backend_config",
            "expected a mapping",
            "'partition=gpu'",
            "a mapping of settings for the pool's backend (which settings: see the backend; "
            "local and emulated take serve_host and ports)",
        ),
    ),
    (
        "a name that breaks the naming rule",
        lambda d: d["teams"][0].update(name="Research Team"),
        Problem(
            "fleet.yaml: teams[0].name",
            "not in the allowed form",
            "'Research Team'",
            "lower-case letters, digits, '-', '_' and '.', starting with a letter or digit, "
            "at most 63",
        ),
    ),
    (
        "a latency that is not a number",
        lambda d: d["sites"][0]["latency_ms"].update({"eu-users": "fast"}),
        Problem(
            "fleet.yaml: sites[0].latency_ms.eu-users",
            "expected a number",
            "'fast'",
            "a mapping of user region -> round-trip milliseconds (numbers >= 0)",
        ),
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_fleet(mutate: Callable[[Doc], object], expected: Problem) -> None:
    document = example("fleet-hybrid.yaml")
    mutate(document)
    assert problems_of(lambda: fleet_from_document(document, "fleet.yaml")) == [expected]


def test_a_cloud_pool_needs_a_price() -> None:
    document = example("fleet-hybrid.yaml")
    del pool(document, 1, 0)["pricing"]
    pool(document, 1, 0)["node"] = {"accelerator": "H100", "gpus": 8, "cpus": 8, "memory_gib": 64}
    assert problems_of(lambda: fleet_from_document(document, "fleet.yaml")) == [
        Problem(
            "fleet.yaml: sites[1].pools[0].pricing",
            "a cloud pool needs a price",
            None,
            "pricing with usd_per_gpu_hour or usd_per_node_hour, or node.instance_type",
        )
    ]


def test_several_problems_are_reported_at_once() -> None:
    document = example("fleet-hybrid.yaml")
    document["sites"][1]["kind"] = "cluod"
    pool(document, 0, 1)["nodez"] = 2
    document["datasets"][0]["size_gb"] = -1
    problems = problems_of(lambda: fleet_from_document(document, "fleet.yaml"))
    assert [p.location for p in problems] == [
        "fleet.yaml: sites[0].pools[1].nodez",
        "fleet.yaml: sites[1].kind",
        "fleet.yaml: datasets[0].size_gb",
    ]


def test_several_cross_field_problems_are_reported_at_once() -> None:
    document = example("fleet-hybrid.yaml")
    pool(document, 1, 0)["node"]["instance_type"] = "nope-8g"
    pool(document, 2, 0)["nodes"] = {"min": 9, "max": 8}
    document["teams"][1]["name"] = "research"
    document["datasets"][1]["site"] = "mars"
    problems = problems_of(lambda: fleet_from_document(document, "fleet.yaml"))
    assert [(p.location, p.message) for p in problems] == [
        ("fleet.yaml: sites[1].pools[0].node.instance_type", "unknown instance type"),
        ("fleet.yaml: sites[2].pools[0].nodes", "min is greater than max"),
        ("fleet.yaml: teams[1].name", "duplicate team name (also teams[0])"),
        ("fleet.yaml: datasets[1].site", "unknown site"),
    ]


def test_long_values_are_cut() -> None:
    document = example("fleet-hybrid.yaml")
    document["sites"][0]["kind"] = "x" * 500
    [problem] = problems_of(lambda: fleet_from_document(document, "fleet.yaml"))
    assert problem.given is not None and len(problem.given) == 80
    assert problem.given.endswith("...")
