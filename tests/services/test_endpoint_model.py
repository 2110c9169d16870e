"""A model endpoint end to end on real processes: fraud@production (a scikit-learn model,
registered, approved and promoted) served by aiplane's model server as the endpoint's replica
on the local backend; it becomes ready in the gateway's table and answers an inference at
its address; deleting the endpoint stops it."""

from __future__ import annotations

import io
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import joblib  # type: ignore[import-untyped]
import pytest

from aiplane.core.runs import RunState
from aiplane.core.serving.routes import EndpointRoute
from aiplane.services.jobs import stop_processes
from aiplane.specs.endpoint import endpoint_from_document
from tests.modelserver.models import rows, trained
from tests.services.registry_plane import TEAM, Plane, fleet

pytestmark = pytest.mark.slow

ESTIMATOR = trained()


def pickled() -> bytes:
    buffer = io.BytesIO()
    joblib.dump(ESTIMATOR, buffer)
    return buffer.getvalue()


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    made = Plane(tmp_path)
    made.apply(fleet())
    yield made
    for run in made.store.jobs.runs_in_states([RunState.RUNNING, RunState.STARTING]):
        stop_processes(made.cp.backends, run, 1.0)
    made.cp.stop()


def ready_route(plane: Plane, timeout_s: float = 60.0) -> EndpointRoute:
    deadline = time.monotonic() + timeout_s
    while True:
        plane.cp.endpoints.reconcile(time.time())
        plane.step()
        plane.services.gateway._cached = None  # type: ignore[attr-defined]  # the 1 s cache
        route = plane.services.gateway.table().endpoint("fraud")
        if route is not None and any(r.ready for r in route.replicas):
            return route
        failed = [r for r in plane.store.jobs.runs_in_states([RunState.FAILED]) if r.reason]
        assert time.monotonic() < deadline and not failed, (route, [r.reason for r in failed])
        time.sleep(0.2)


def test_a_registered_model_is_served_by_its_endpoint(plane: Plane) -> None:
    version = plane.production_model("fraud", {"model.joblib": pickled()})
    document = {
        "name": "fraud",
        "team": TEAM,
        "model": "fraud@production",
        "sites": [{"site": "here", "min": 1, "max": 1}],
        "drain": 0,
    }
    plane.services.endpoints.apply(plane.alice, endpoint_from_document(document, "e.yaml"))
    route = ready_route(plane)
    (replica,) = route.replicas
    assert replica.version == f"fraud@{version}"
    x = rows(3)
    body = {
        "inputs": [
            {
                "name": "input-0",
                "shape": list(x.shape),
                "datatype": "FP64",
                "data": x.ravel().tolist(),
            }
        ]
    }
    with httpx.Client(base_url=f"http://{replica.address}", timeout=30) as client:
        answer = client.post("/v2/models/fraud/infer", json=body)
    assert answer.status_code == 200, answer.text
    assert answer.json()["outputs"][0]["data"] == ESTIMATOR.predict(x).tolist()
    plane.services.endpoints.delete(plane.alice, "fraud")
    assert plane.store.jobs.get_run(replica.run_id).state is RunState.CANCELLED
