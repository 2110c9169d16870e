"""A workload's service travels through the codec (what the store keeps and the API shows)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

from aiplane.core.codec import workload_from_dict, workload_to_dict
from aiplane.core.workloads import ServiceSpec, WorkloadKind
from aiplane.store.sql import SqlStore
from tests.store.factories import job, run, workload


def _round_trip(d: dict[str, object]) -> dict[str, object]:
    return dict(json.loads(json.dumps(d)))  # what a JSON column gives back


def test_a_service_is_stored_and_read_back() -> None:
    service = ServiceSpec(
        readiness_path="/v2/health/ready",
        restart=False,
        backoff_initial_s=0.25,
        backoff_max_s=8.0,
        backoff_reset_s=30.0,
    )
    served = replace(workload(), kind=WorkloadKind.SERVE, service=service)
    back = workload_from_dict(_round_trip(workload_to_dict(served)))
    assert back == served and back.service == service


def test_a_workload_without_a_service_has_none_and_old_records_too() -> None:
    plain = workload()
    assert workload_to_dict(plain)["service"] is None
    assert workload_from_dict(_round_trip(workload_to_dict(plain))).service is None
    old = workload_to_dict(plain)
    del old["service"]
    assert workload_from_dict(old).service is None


def test_a_stored_service_missing_keys_takes_the_defaults() -> None:
    stored = workload_to_dict(replace(workload(), service=ServiceSpec()))
    stored["service"] = {"readiness_path": "/healthz"}
    assert workload_from_dict(stored).service == ServiceSpec(readiness_path="/healthz")


def test_a_stored_job_keeps_its_service(tmp_path: Path) -> None:
    service = ServiceSpec(readiness_path="/ready", backoff_max_s=4.0)
    served = replace(job(1), workload=replace(workload(), service=service))
    store = SqlStore.open(f"sqlite:///{tmp_path / 'aiplane.db'}")
    try:
        store.jobs.add(served, run(served))
        assert store.jobs.get(served.id).workload.service == service
    finally:
        store.close()
