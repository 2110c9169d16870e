"""``POST /api/v1/jobs/{job_id}/checkpoints``: a running workload reports a checkpoint."""

from __future__ import annotations

from dataclasses import replace

from fastapi.testclient import TestClient

from aiplane.core.runs import Job, Run, RunState
from aiplane.wiring import ControlPlane
from tests.builders import workload


def _job(cp: ControlPlane, state: RunState) -> str:
    job = Job("j-1", workload(), 10.0, "me")
    cp.store.jobs.add(job, Run("r-1", job.id, RunState.PENDING, 10.0, 10.0))
    if state is RunState.RUNNING:
        run = cp.store.jobs.get_run("r-1")
        cp.store.jobs.update_run(replace(run, state=state, started_at=20.0), RunState.PENDING)
    return job.id


def test_a_member_reports_a_checkpoint_of_a_running_job(
    api: TestClient, cp: ControlPlane, tokens: dict[str, dict[str, str]]
) -> None:
    job_id = _job(cp, RunState.RUNNING)
    url = f"/api/v1/jobs/{job_id}/checkpoints"
    body = {"uri": "s3://b/step-7", "saved_at": 30.0}
    assert api.post(url, json=body, headers=tokens["viewer"]).status_code == 403
    response = api.post(url, json=body, headers=tokens["member"])
    assert response.status_code == 201, response.text
    assert response.json() == {
        "job_id": job_id,
        "run_id": "r-1",
        "attempt": 1,
        "last_checkpoint_at": 30.0,
        "checkpoint_uri": "s3://b/step-7",
    }
    assert cp.store.jobs.get_run("r-1").checkpoint_uri == "s3://b/step-7"
    assert "run.checkpoint" in [e.kind for e in cp.store.events.recent(job_id=job_id)]


def test_a_job_that_is_not_running_cannot_report_one(
    api: TestClient, cp: ControlPlane, tokens: dict[str, dict[str, str]]
) -> None:
    job_id = _job(cp, RunState.PENDING)
    response = api.post(
        f"/api/v1/jobs/{job_id}/checkpoints", json={"uri": "x"}, headers=tokens["member"]
    )
    assert response.status_code == 409
