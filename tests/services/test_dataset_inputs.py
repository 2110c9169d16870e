"""Dataset references in a submission, and the egress of an attempt at a site with a replica,
through the services with a fleet applied as the API applies it."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from aiplane.core.errors import Problem, SpecError
from aiplane.core.runs import RunState
from aiplane.services.metering import record_usage
from aiplane.specs import workload_from_document
from aiplane.store.memory import MemoryStore
from tests.identities import ME
from tests.services.fleets import apply_fleet, job_service, stored_fleet
from tests.services.test_metering import FLEET, T0, start, submit


def replicated_fleet() -> dict[str, Any]:
    document = copy.deepcopy(FLEET)
    document["datasets"] = [
        # clicks@3 also lies at gcp, where the pool is: an attempt there moves nothing.
        {"name": "clicks", "version": 3, "site": "fra", "size_gb": 200, "replicas": ["gcp"]},
        {"name": "clicks", "version": 2, "site": "fra", "size_gb": 180},
        {"name": "local", "site": "gcp", "size_gb": 50},
    ]
    return document


@pytest.fixture
def store() -> MemoryStore:
    s = MemoryStore()
    apply_fleet(s, replicated_fleet(), T0)
    return s


def submission(inputs: list[str]) -> Any:
    document = {
        "name": "ft",
        "team": "research",
        "kind": "batch",
        "run": "true",
        "resources": {"accelerators": "H100:8"},
    }
    return workload_from_document({**document, "inputs": inputs}, "w.yaml")


def test_a_version_the_fleet_does_not_hold_is_named_with_those_it_does(
    store: MemoryStore,
) -> None:
    with pytest.raises(SpecError) as err:
        job_service(store, T0).submit(ME, submission(["clicks@2", "clicks@4", "nothing"]))
    assert err.value.problems == [
        Problem(
            "inputs[1]", "no such version of dataset clicks", "'clicks@4'", "clicks@2, clicks@3"
        ),
        Problem("inputs[2]", "unknown dataset", "'nothing'", "clicks, local"),
    ]


def test_references_the_fleet_holds_are_accepted(store: MemoryStore) -> None:
    view = job_service(store, T0).submit(ME, submission(["clicks@2", "clicks@latest", "local"]))
    assert view.job.workload.inputs == ("clicks@2", "clicks@latest", "local")


def test_an_attempt_at_a_site_with_a_replica_is_billed_no_egress(store: MemoryStore) -> None:
    # The job reads clicks (the newest: @3, replicated at gcp) and runs at gcp.
    job_id = submit(store)
    job = store.jobs.get(job_id)
    run = start(store, job_id, T0 + 100)
    usage = record_usage(
        store, job, run, T0 + 3700, outcome=RunState.SUCCEEDED, fleet=stored_fleet(store)
    )
    assert usage is not None
    assert (usage.egress_gb, usage.egress_usd) == (0.0, 0.0)
    # Without the replica the same attempt copies 200 GB from fra, as before.
    document = replicated_fleet()
    document["datasets"][0].pop("replicas")
    second = MemoryStore()
    apply_fleet(second, document, T0)
    other = submit(second)
    run = start(second, other, T0 + 100)
    usage = record_usage(
        second,
        second.jobs.get(other),
        run,
        T0 + 3700,
        outcome=RunState.SUCCEEDED,
        fleet=stored_fleet(second),
    )
    assert usage is not None
    assert usage.egress_gb == 200.0 and usage.egress_usd == pytest.approx(10.0)
