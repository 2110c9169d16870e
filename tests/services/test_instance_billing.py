"""The estimate, the meter and the FOCUS lines say the same for a placement (issue #17, part 2;
decision 0039): on a new rented instance billed whole, and on a running node by share."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiplane.core.events import Event
from aiplane.core.runs import Job, RunState
from aiplane.core.scheduling.engine import Engine
from aiplane.services import costs
from aiplane.services.execution import Executor
from aiplane.services.ids import new_id
from aiplane.services.scheduling import run_cycle
from aiplane.specs import workload_from_document
from aiplane.store.memory import MemoryStore
from tests.identities import ME
from tests.services.fleets import NO_BACKENDS, apply_fleet, fleet_cache, job_service, stored_fleet
from tests.store import factories

T0 = 1_750_000_000.0
HOURS = 3.0
NODE_USD = 8 * 3.0  # an 8-GPU instance at $3 per GPU-hour


def _fleet(nodes_min: int) -> dict[str, Any]:
    return {
        "sites": [
            {
                "name": "gcp",
                "kind": "cloud",
                "region": "us-central1",
                "jurisdiction": "US",
                "pools": [
                    {
                        "name": "a2",
                        "backend": "emulated",
                        "nodes": {"min": nodes_min, "max": 4},
                        "node": {"accelerator": "A100", "gpus": 8, "cpus": 96, "memory_gib": 680},
                        "pricing": {"model": "on_demand", "usd_per_gpu_hour": 3.0},
                    }
                ],
            }
        ],
        "teams": [{"name": "research"}],
    }


def _run_to_the_end(nodes_min: int, document: dict[str, Any], tmp: Path) -> dict[str, float]:
    """Submit, place in one cycle, run exactly the estimate, finish; then read the three."""
    store = MemoryStore()
    apply_fleet(store, _fleet(nodes_min), T0)
    fleet = stored_fleet(store)
    assert fleet is not None
    w = workload_from_document(
        {"name": "ft", "team": "research", "kind": "finetune", "run": "true", **document}, "w.yaml"
    )
    job = Job(new_id("j-", T0), w, T0, "me")
    run = factories.run(job)
    with store.unit_of_work() as uow:
        uow.jobs.add(job, run)
        uow.events.add(Event(T0, "job.submitted", "ft submitted", job.id, run.id))
    applied = run_cycle(store, fleet, Engine(), T0 + 10)
    assert applied.placed == 1
    admitted = store.jobs.run_for_job(job.id)
    assert admitted.placement is not None
    began = T0 + 10
    starting = store.jobs.update_run(admitted.transition(RunState.STARTING, began), admitted.state)
    running = store.jobs.update_run(starting.transition(RunState.RUNNING, began), RunState.STARTING)
    executor = Executor(store, NO_BACKENDS, tmp, fleet_cache(store).current)
    end = began + HOURS * 3600
    assert executor._finish(running, RunState.SUCCEEDED, end, None, 0)

    explained = job_service(store, end).explain(ME, job.id)
    placement = explained.view.run.placement
    assert placement is not None
    estimate = placement.explanation["chosen"]["cost"]["compute_usd"]
    (metered,) = store.usage.overlapping(T0, end + 1)
    report = costs.report(store, fleet, "team", T0, end + 1, end + 1, share_idle_to_teams=False)
    table = costs.focus_table(store, fleet, T0, end + 1, end + 1)
    rows = [
        i for i, run_id in enumerate(table.columns["x_run"]) if run_id == running.id
    ]  # the run's lines, not the pool's idle capacity
    return {
        "estimate": float(estimate),
        "metered": metered.usd_per_hour * (metered.end - metered.start) / 3600,
        "report": sum(r.usd for r in report.rows if r.key == "research"),
        "billed": sum(float(table.columns["BilledCost"][i]) for i in rows),
        "effective": sum(float(table.columns["EffectiveCost"][i]) for i in rows),
        "instances": float(len(placement.instances)),
    }


def test_a_run_on_new_instances_costs_the_same_in_explain_meter_and_focus(tmp_path: Path) -> None:
    # Two replicas of a whole node each: two instances started, each billed whole.
    seen = _run_to_the_end(
        0,
        {
            "replicas": 2,
            "resources": {"accelerators": ["A100:8"], "cpus": 8, "memory_gib": 64},
            "estimated_hours": HOURS,
        },
        tmp_path,
    )
    expected = 2 * NODE_USD * HOURS
    assert seen["instances"] == 2
    for name in ("estimate", "metered", "report", "billed", "effective"):
        assert seen[name] == pytest.approx(expected), name


def test_a_replica_on_a_running_node_costs_its_share_in_all_three(tmp_path: Path) -> None:
    # One node always up: a 2-GPU replica pays a quarter of it; nothing is started.
    seen = _run_to_the_end(
        1,
        {
            "resources": {"accelerators": ["A100:2"], "cpus": 8, "memory_gib": 64},
            "estimated_hours": HOURS,
        },
        tmp_path,
    )
    expected = NODE_USD / 4 * HOURS
    assert seen["instances"] == 0
    for name in ("estimate", "metered", "report", "billed", "effective"):
        assert seen[name] == pytest.approx(expected), name


def test_the_placement_quote_is_not_a_fraction_of_the_instance(tmp_path: Path) -> None:
    # With pack, three 2-GPU replicas share one instance, priced whole (2 GPUs idle).
    seen = _run_to_the_end(
        0,
        {
            "replicas": 3,
            "pack": True,
            "resources": {"accelerators": ["A100:2"], "cpus": 8, "memory_gib": 64},
            "estimated_hours": HOURS,
        },
        tmp_path,
    )
    assert seen["instances"] == 1
    assert seen["metered"] == pytest.approx(NODE_USD * HOURS)
    assert seen["estimate"] == pytest.approx(seen["billed"])
