"""The aiplane side of ``benchmarks/bench_placement_vs_skypilot.py`` on a two-type catalog:
the JSON keys, the billed-cost arithmetic (whole instances at the catalog's price), and how
the comparison with SkyPilot's picks is counted. SkyPilot itself is not needed."""

from __future__ import annotations

import importlib.util
import json
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from aiplane.core.runs import Placement, ReplicaAssignment

BENCH = Path(__file__).resolve().parents[2] / "benchmarks" / "bench_placement_vs_skypilot.py"

# Lambda's schema; one region. The 8-GPU type is cheaper per GPU (1.50) than the 1-GPU type
# (2.00), so an engine that prices a share of a node is tempted onto a fraction of it.
CATALOG = """\
InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Price,Region,GpuInfo,SpotPrice
gpu_1x_h100,H100,1,26,200,2.00,us-east-1,H100,
gpu_8x_h100,H100,8,208,1800,12.00,us-east-1,H100,6.00
"""


@pytest.fixture(scope="module")
def bench() -> ModuleType:
    spec = importlib.util.spec_from_file_location("bench_placement_vs_skypilot", BENCH)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


@pytest.fixture
def catalog(tmp_path: Path) -> Path:
    (tmp_path / "lambda.csv").write_text(CATALOG)
    return tmp_path


def _tasks(bench: ModuleType) -> list[Any]:
    task = bench.Task
    return [
        task("1x1-od", "H100", 1, 1, False),
        task("3x1-od", "H100", 1, 3, False),
        task("1x8-od", "H100", 8, 1, False),
        task("2x8-spot", "H100", 8, 2, True),
        task("1x1-spot", "H100", 1, 1, True, ("lambda",)),
        task("no-a100", "A100", 1, 1, False),
        task("elsewhere", "H100", 1, 1, False, ("gcp",)),
    ]


PRICES = {("gpu_1x_h100", False): 2.0, ("gpu_8x_h100", False): 12.0, ("gpu_8x_h100", True): 6.0}


def test_billed_cost_is_whole_instances_at_the_catalog_price(bench, catalog):
    tasks = _tasks(bench)
    line, details = bench.run(catalog, tasks, limits="sites")
    for key in (
        "tasks",
        "cheaper",
        "equal",
        "dearer",
        "decision_ms_p50",
        "skypilot_ms_p50",
        "ratio",
        "infeasible_both",
        "aiplane_only_infeasible",
        "skypilot_only_infeasible",
        "estimate_mismatch",
    ):
        assert key in line
    assert line["tasks"] == len(tasks) == len(details)
    assert line["skypilot"] == "not installed"
    assert line["cheaper"] is None and line["skypilot_ms_p50"] is None
    assert line["sites"] == 1 and line["pools"] == 3  # 2 on demand, 1 spot
    json.dumps(line)
    mismatched = 0
    for row in details:
        pick = row["aiplane"]
        assert pick["ms"] >= 0
        if not pick["feasible"]:
            continue
        price = PRICES[(pick["instance_type"], pick["spot"])]
        assert pick["spot"] is row["task"]["spot"]
        assert pick["usd_per_instance_hour"] == price
        assert pick["billed_usd_per_hour"] == pytest.approx(pick["instances"] * price)
        assert 1 <= pick["instances"] <= row["task"]["nodes"]
        mismatched += abs(pick["billed_usd_per_hour"] - pick["estimate_usd_per_hour"]) > 0.005
    assert line["estimate_mismatch"] == mismatched
    by_name = {row["task"]["name"]: row["aiplane"] for row in details}
    # No A100 anywhere, and no GCP site: nothing can take these, whatever the engine.
    assert not by_name["no-a100"]["feasible"]
    assert not by_name["elsewhere"]["feasible"]
    # Only the 8-GPU type has a spot price: two spot nodes are two instances of it.
    assert by_name["2x8-spot"]["billed_usd_per_hour"] == pytest.approx(12.0)
    assert by_name["1x8-od"]["billed_usd_per_hour"] == pytest.approx(12.0)


def test_a_fraction_of_a_node_is_billed_as_the_whole_instance(bench):
    placement = Placement(
        pool="lambda-us-east-1/gpu_8x_h100",
        site="lambda-us-east-1",
        backend="emulated",
        accelerator="H100-80GB",
        assignments=(
            ReplicaAssignment(0, "lambda-us-east-1/gpu_8x_h100/0", 1),
            ReplicaAssignment(1, "lambda-us-east-1/gpu_8x_h100/0", 1),
            ReplicaAssignment(2, "lambda-us-east-1/gpu_8x_h100/1", 1),
        ),
        usd_per_hour=3 * 1.5,  # three eighths of 12.00, as a share-pricing engine says
        emulated=True,
    )
    assert bench.billed_usd_per_hour(placement, 12.0) == pytest.approx(24.0)


def test_comparison_counts(bench):
    task = bench.Task

    def ours(billed: float | None, **extra: Any) -> dict[str, Any]:
        if billed is None:
            return {"feasible": False, "ms": 1.0}
        pick = {"feasible": True, "ms": 1.0, "billed_usd_per_hour": billed}
        pick |= {"estimate_usd_per_hour": billed, "fractional": False, "packed": False}
        return pick | {"within_limits": True} | extra

    def theirs(usd: float | None) -> dict[str, Any]:
        if usd is None:
            return {"feasible": False, "ms": 40.0, "version": "0.14.1"}
        return {"feasible": True, "ms": 40.0, "usd_per_hour": usd, "version": "0.14.1"}

    pairs = [
        (ours(1.0), theirs(2.0)),  # cheaper
        (ours(2.004), theirs(2.0)),  # equal within half a cent
        (ours(3.0), theirs(2.0)),  # dearer
        (ours(None), theirs(None)),
        (ours(None), theirs(2.0)),
        (ours(1.0), theirs(None)),
        (ours(1.0, within_limits=False), theirs(2.0)),
        (ours(1.0, packed=True), theirs(2.0)),
    ]
    tasks = [task(f"t{i}", "H100", 1, 1, False) for i in range(len(pairs))]
    line, details = bench.summarise(tasks, [p[0] for p in pairs], [p[1] for p in pairs], "clouds")
    assert (line["cheaper"], line["equal"], line["dearer"]) == (1, 1, 1)
    assert line["infeasible_both"] == 1
    assert line["aiplane_only_infeasible"] == 1
    assert line["skypilot_only_infeasible"] == 1
    assert line["aiplane_outside_limits"] == 1
    assert line["aiplane_packed"] == 1
    assert line["decision_ms_p50"] == 1.0 and line["skypilot_ms_p50"] == 40.0
    assert line["ratio"] == 0.025
    assert [d.get("verdict") for d in details[:3]] == ["cheaper", "equal", "dearer"]
