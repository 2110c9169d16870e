"""What a run is given of the registry and what it gives back, with real processes on a real
control plane (SQLite, the local backend): its inputs and model copied and checked before it
starts (a stored file tampered with fails the launch, naming it), a deployment recorded per
model staged, and its ``outputs:`` registered with lineage when it succeeds."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from aiplane.core.errors import SpecError
from aiplane.core.registry.lineage import NodeKind
from aiplane.core.runs import RunState
from aiplane.services.outputs import JOB_TAG
from tests.services.registry_plane import Plane, fleet

CLICKS = {"day1.csv": b"user,clicks\nu1,3\n", "part/day2.csv": b"user,clicks\nu2,5\n"}
FRAUD = {"model.pkl": b"pretend pickle", "params/weights.bin": b"\x00\x01\x02"}

# Reads what it was given and checks it (a wrong byte exits 3, and the run fails).
READS_INPUT = (
    'test "$(cat "$AIPLANE_INPUT_CLICKS/part/day2.csv")" = "$(printf "user,clicks\\nu2,5")"'
)
READS_MODEL = 'test "$(cat "$AIPLANE_MODEL_DIR/model.pkl")" = "pretend pickle"'


@pytest.fixture
def plane(tmp_path: Path) -> Plane:
    p = Plane(tmp_path)
    p.apply(fleet())
    return p


def tamper(plane: Plane, sha256: str) -> None:
    """Flip the first byte of a stored blob, behind the store's back."""
    path = plane.cp.settings.home / "artifacts" / "blobs" / "sha256" / sha256[:2] / sha256
    os.chmod(path, 0o600)
    data = path.read_bytes()
    path.write_bytes(bytes([data[0] ^ 1]) + data[1:])


def sha_of(plane: Plane, files: dict[str, bytes], path: str) -> str:
    entry = plane.upload(files).entry(path)
    assert entry is not None
    return entry.sha256


def test_a_run_reads_its_input_dataset_verified(plane: Plane) -> None:
    plane.dataset("clicks", CLICKS, "here")
    job = plane.submit(run=READS_INPUT, inputs=["clicks"])
    run = plane.wait(job)
    assert (run.state, run.reason) == (RunState.SUCCEEDED, None)
    # The copy is removed once no attempt reads it.
    assert not (plane.cp.settings.work_root / "staged" / job).exists()


def test_a_tampered_input_fails_the_launch_naming_the_file(plane: Plane) -> None:
    plane.dataset("clicks", CLICKS, "here")
    job = plane.submit(run="true", inputs=["clicks@1"])
    tamper(plane, sha_of(plane, CLICKS, "part/day2.csv"))
    run = plane.wait(job)
    assert run.state is RunState.FAILED
    assert run.reason is not None
    assert "staging failed" in run.reason and "clicks@1" in run.reason
    assert "part/day2.csv" in run.reason and "day1.csv" not in run.reason


def test_a_production_model_is_pinned_staged_verified_and_deployed(plane: Plane) -> None:
    number = plane.production_model("fraud", FRAUD)
    job = plane.submit(run=READS_MODEL, model="fraud@production")
    assert plane.store.jobs.get(job).workload.model == f"fraud@{number}"
    run = plane.wait(job)
    assert (run.state, run.reason) == (RunState.SUCCEEDED, None)
    graph = plane.services.lineage.of_model(plane.alice, f"fraud@{number}")
    (deployment,) = graph.of_kind(NodeKind.DEPLOYMENT)
    assert f"job/{job}" in deployment.label or deployment.attrs.get("target") == f"job/{job}"


def test_a_tampered_model_fails_the_launch_naming_the_file(plane: Plane) -> None:
    number = plane.production_model("fraud", FRAUD)
    job = plane.submit(run="true", model="fraud@production")
    tamper(plane, sha_of(plane, FRAUD, "params/weights.bin"))
    run = plane.wait(job)
    assert run.state is RunState.FAILED and run.reason is not None
    assert f"fraud@{number}" in run.reason and "params/weights.bin" in run.reason
    assert "model.pkl" not in run.reason
    # Nothing was deployed.
    graph = plane.services.lineage.of_model(plane.alice, f"fraud@{number}")
    assert graph.of_kind(NodeKind.DEPLOYMENT) == []


def test_outputs_are_registered_with_the_runs_lineage_once(plane: Plane, tmp_path: Path) -> None:
    plane.dataset("clicks", CLICKS, "here")
    workdir = tmp_path / "code"
    workdir.mkdir()
    job = plane.submit(
        run="mkdir -p out && echo weights > out/model.pkl",
        workdir=str(workdir),
        inputs=["clicks"],
        outputs=[{"model": "churn", "path": "out"}],
    )
    run = plane.wait(job)
    assert (run.state, run.reason) == (RunState.SUCCEEDED, None)
    version = plane.services.models.resolve(plane.alice, "churn@1")
    assert version.run is not None and version.run.job_id == job
    assert version.inputs == ("clicks@1",)
    assert version.created_by == plane.alice.principal.id
    assert version.tags[JOB_TAG] == job
    _, manifest = plane.services.models.manifest(plane.alice, "churn@1")
    assert [e.path for e in manifest.entries] == ["model.pkl"]
    # The reconciler seeing the run's end again (a restart before it was marked) does not
    # register a second version.
    outputs = plane.cp.executor.outputs
    assert outputs is not None and outputs(plane.store.jobs.get(job)) is None
    assert [v.version for v in plane.services.models.versions(plane.alice, "churn")] == [1]


def test_a_run_that_writes_no_output_fails_with_the_reason(plane: Plane, tmp_path: Path) -> None:
    job = plane.submit(
        run="true", workdir=str(tmp_path), outputs=[{"model": "churn", "path": "out"}]
    )
    run = plane.wait(job)
    assert run.state is RunState.FAILED and run.reason is not None
    assert "outputs[0]" in run.reason and "out" in run.reason


def test_a_relative_output_needs_a_workdir(plane: Plane) -> None:
    # Without one the run writes in a folder of the backend's choosing, which the control
    # plane cannot find again: refused at submission, not failed after the run.
    with pytest.raises(SpecError) as err:
        plane.submit(run="true", outputs=[{"model": "churn", "path": "out"}])
    assert [p.location for p in err.value.problems] == ["outputs[0].path"]


def test_a_run_missing_one_of_its_outputs_registers_none(plane: Plane, tmp_path: Path) -> None:
    job = plane.submit(
        run="mkdir -p out && echo w > out/model.pkl",
        workdir=str(tmp_path),
        outputs=[{"model": "churn", "path": "out"}, {"model": "other", "path": "missing"}],
    )
    run = plane.wait(job)
    assert run.state is RunState.FAILED and run.reason is not None
    assert "outputs[1]" in run.reason
    assert plane.services.models.listing(plane.alice) == []


def test_the_control_planes_home_is_no_output(plane: Plane, tmp_path: Path) -> None:
    # The control plane reads outputs as itself: its keys must not become a model version.
    home = plane.cp.settings.home
    job = plane.submit(
        run="true", workdir=str(tmp_path), outputs=[{"model": "keys", "path": str(home)}]
    )
    run = plane.wait(job)
    assert run.state is RunState.FAILED and run.reason is not None
    assert "control plane's own" in run.reason
    assert plane.services.models.listing(plane.alice) == []
