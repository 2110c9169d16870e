"""Staging a job's registry inputs again (a retry, or a launch redone after a crash) on a real
control plane: the copy a previous attempt changed is made right, and the model's deployment
is recorded once."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplane.core.registry.lineage import NodeKind
from aiplane.services.staging import MODEL_ENV, input_env
from tests.services.registry_plane import Plane, fleet

CLICKS = {"day1.csv": b"user,clicks\nu1,3\n", "part/day2.csv": b"user,clicks\nu2,5\n"}
FRAUD = {"model.pkl": b"pretend pickle"}


@pytest.fixture
def plane(tmp_path: Path) -> Plane:
    p = Plane(tmp_path)
    p.apply(fleet())
    return p


def stage(plane: Plane, job_id: str) -> dict[str, str]:
    staging = plane.cp.executor.staging
    assert staging is not None
    return dict(staging(plane.store.jobs.get(job_id)))


def test_what_a_previous_attempt_changed_in_its_copy_is_made_right(plane: Plane) -> None:
    plane.dataset("clicks", CLICKS, "here")
    job = plane.submit(run="true", inputs=["clicks"])
    folder = Path(stage(plane, job)[input_env("clicks")])
    # The first attempt wrote into its input folder: a file added, one changed, a link.
    (folder / "part" / "scratch.tmp").write_bytes(b"junk")
    (folder / "extra").mkdir()
    (folder / "extra" / "x").write_bytes(b"x")
    (folder / "day1.csv").write_bytes(b"edited")
    (folder / "part" / "day2.csv").unlink()
    (folder / "part" / "day2.csv").symlink_to(folder / "day1.csv")
    assert Path(stage(plane, job)[input_env("clicks")]) == folder
    found = {p.relative_to(folder).as_posix(): p for p in folder.rglob("*")}
    assert sorted(found) == ["day1.csv", "part", "part/day2.csv"]
    assert not found["part/day2.csv"].is_symlink()
    assert {k: found[k].read_bytes() for k in CLICKS} == CLICKS


def test_a_model_staged_twice_for_one_job_is_one_deployment(plane: Plane) -> None:
    number = plane.production_model("fraud", FRAUD)
    job = plane.submit(run="true", model="fraud@production")
    stage(plane, job)
    model_dir = Path(stage(plane, job)[MODEL_ENV])
    assert (model_dir / "model.pkl").read_bytes() == FRAUD["model.pkl"]
    assert [d.target for d in plane.store.models.deployments("fraud", number)] == [f"job/{job}"]
    graph = plane.services.lineage.of_model(plane.alice, f"fraud@{number}")
    assert len(graph.of_kind(NodeKind.DEPLOYMENT)) == 1
    # Another job is another deployment.
    other = plane.submit(run="true", model="fraud@production")
    stage(plane, other)
    graph = plane.services.lineage.of_model(plane.alice, f"fraud@{number}")
    assert len(graph.of_kind(NodeKind.DEPLOYMENT)) == 2
