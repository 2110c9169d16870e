"""Issue #10 through the API: a job's logs never follow a link it planted at its output, and a
``workdir`` that is not a directory here is refused at submission (decision 0027)."""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiplane.wiring import ControlPlane
from tests.backends.helpers import wait_until
from tests.builders import local_fleet_document
from tests.identities import admin_caller

FLEET = local_fleet_document()
MARKER = "SECRET-MARKER-c41d"
TERMINAL = ("succeeded", "failed", "cancelled")


@pytest.fixture
def running(cp: ControlPlane) -> Iterator[ControlPlane]:
    """The control plane with the local fleet in force and its loops running real work."""
    cp.services.fleet.apply(admin_caller(), FLEET, "fleet.yaml")
    cp.start()
    yield cp
    cp.stop()


def _submit(api: TestClient, headers: dict[str, str], **spec: Any) -> Any:
    body = {"spec": {"name": "w", "team": "t", "kind": "batch", "run": "true", **spec}}
    return api.post("/api/v1/jobs", json=body, headers=headers)


def _finished(api: TestClient, job_id: str, headers: dict[str, str]) -> dict[str, Any]:
    def done() -> dict[str, Any] | None:
        job: dict[str, Any] = api.get(f"/api/v1/jobs/{job_id}", headers=headers).json()
        return job if job["state"] in TERMINAL else None

    return wait_until(done, what=f"job {job_id} to end")


# -- logs ----------------------------------------------------------------------------------


@pytest.mark.usefixtures("running")
def test_logs_never_show_the_target_of_a_link_the_job_planted(
    api: TestClient, tokens: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    secret = tmp_path / "outside" / "credentials"
    secret.parent.mkdir()
    secret.write_text(f"{MARKER}\n")
    # The command runs in its run directory: it swaps its own output.log for a link.
    planted = f"echo started; ln -s {secret} link && mv -f link output.log"
    created = _submit(api, tokens["member"], run=planted)
    assert created.status_code == 201, created.text
    job = _finished(api, created.json()["id"], tokens["viewer"])
    assert job["state"] == "succeeded", job
    for role in ("viewer", "member"):
        for params in ({}, {"tail_bytes": 100}, {"replica": 0}):
            response = api.get(
                f"/api/v1/jobs/{job['id']}/logs", params=params, headers=tokens[role]
            )
            assert MARKER not in response.text
            assert response.status_code == 502, response.text
            error = response.json()["error"]
            assert error["code"] == "backend_error"
            assert "output.log is not a regular file of the run" in error["message"]
            assert "symbolic link" in error["message"]


@pytest.mark.usefixtures("running")
def test_logs_of_a_job_that_plants_nothing_still_read(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    created = _submit(api, tokens["member"], run="echo hello-logs")
    job = _finished(api, created.json()["id"], tokens["viewer"])
    response = api.get(f"/api/v1/jobs/{job['id']}/logs", headers=tokens["viewer"])
    assert response.status_code == 200, response.text
    assert "hello-logs" in response.json()["replicas"][0]["text"]


# -- workdir -------------------------------------------------------------------------------


def _refused_workdir(response: Any, given: str, message: str) -> None:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["code"] == "spec_invalid"
    assert error["problems"] == [
        {
            "location": "workdir",
            "message": message,
            "given": repr(given),
            "allowed": "an absolute path of an existing directory on the control plane's machine",
        }
    ]


def test_a_missing_workdir_is_refused_at_submission(
    api: TestClient, cp: ControlPlane, tokens: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    cp.services.fleet.apply(admin_caller(), FLEET, "fleet.yaml")
    missing = str(tmp_path / "absent")
    _refused_workdir(_submit(api, tokens["member"], workdir=missing), missing, "no such directory")
    # The body's workdir (what the CLI sends: the spec file's directory) is checked the same.
    body = {"spec": {"name": "w", "team": "t", "kind": "batch", "run": "true"}, "workdir": missing}
    response = api.post("/api/v1/jobs", json=body, headers=tokens["member"])
    _refused_workdir(response, missing, "no such directory")
    assert api.get("/api/v1/jobs", headers=tokens["viewer"]).json()["items"] == []


def test_a_file_or_a_relative_workdir_is_refused(
    api: TestClient, tokens: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    a_file = tmp_path / "file"
    a_file.write_text("")
    response = _submit(api, tokens["member"], workdir=str(a_file))
    _refused_workdir(response, str(a_file), "not a directory")
    response = _submit(api, tokens["member"], workdir="rel/dir")
    _refused_workdir(response, "rel/dir", "not an absolute path")


@pytest.mark.usefixtures("running")
def test_an_existing_workdir_is_where_the_command_runs(
    api: TestClient, tokens: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    workdir = tmp_path / "wd"
    workdir.mkdir()
    created = _submit(api, tokens["member"], workdir=str(workdir), run="pwd")
    assert created.status_code == 201, created.text
    job = _finished(api, created.json()["id"], tokens["viewer"])
    assert job["state"] == "succeeded", job
    text = api.get(f"/api/v1/jobs/{job['id']}/logs", headers=tokens["viewer"]).json()
    assert str(workdir) in text["replicas"][0]["text"].splitlines()


def test_a_workdir_removed_after_submission_fails_the_launch(
    api: TestClient, cp: ControlPlane, tokens: dict[str, dict[str, str]], tmp_path: Path
) -> None:
    # Kept at launch: the command never runs somewhere else instead (before 0027 it ran in
    # its run directory).
    cp.services.fleet.apply(admin_caller(), FLEET, "fleet.yaml")
    workdir = tmp_path / "wd"
    workdir.mkdir()
    created = _submit(api, tokens["member"], workdir=str(workdir), run="pwd")
    assert created.status_code == 201, created.text
    os.rmdir(workdir)
    cp.start()
    try:
        job = _finished(api, created.json()["id"], tokens["viewer"])
    finally:
        cp.stop()
    assert job["state"] == "failed", job
    assert f"workdir {str(workdir)!r} is not a directory" in (job["reason"] or "")
