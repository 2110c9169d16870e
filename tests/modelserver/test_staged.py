"""A model version staged by a real control plane, then checked and served: the server reads
the manifest staging wrote beside the folder, and refuses a folder that is not those bytes,
naming the files."""

from __future__ import annotations

import dataclasses
import io
import json
from pathlib import Path

import joblib  # type: ignore[import-untyped]
import numpy as np
import pytest
from starlette.testclient import TestClient

from aiplane.core.errors import IntegrityError, SpecError
from aiplane.modelserver.app import create_app
from aiplane.modelserver.main import MODEL_DIR_ENV, Options, prepare
from aiplane.modelserver.verify import MANIFEST_ENV, read_manifest
from aiplane.services.staging import MODEL_ENV, MODEL_MANIFEST_ENV
from tests.modelserver.models import rows, trained
from tests.services.registry_plane import Plane, fleet

ESTIMATOR = trained()


def pickled() -> bytes:
    buffer = io.BytesIO()
    joblib.dump(ESTIMATOR, buffer)
    return buffer.getvalue()


FILES = {"model.joblib": pickled(), "README.md": b"fraud, by alice\n"}


@pytest.fixture
def staged(tmp_path: Path) -> dict[str, str]:
    """The environment staging gives a job that serves fraud@production."""
    plane = Plane(tmp_path)
    plane.apply(fleet())
    plane.production_model("fraud", FILES)
    job = plane.submit(run="true", model="fraud@production")
    staging = plane.cp.executor.staging
    assert staging is not None
    return dict(staging(plane.store.jobs.get(job)))


def options(env: dict[str, str], **changes: object) -> Options:
    base = Options(
        Path(env[MODEL_ENV]), Path(env[MODEL_MANIFEST_ENV]), None, None, "127.0.0.1", 0, 32, 2.0
    )
    return dataclasses.replace(base, **changes)  # type: ignore[arg-type]


def test_staging_names_the_folder_and_manifest_the_server_reads() -> None:
    assert (MODEL_ENV, MODEL_MANIFEST_ENV) == (MODEL_DIR_ENV, MANIFEST_ENV)


def test_a_staged_version_is_served_under_its_name_and_number(staged: dict[str, str]) -> None:
    manifest = Path(staged[MODEL_MANIFEST_ENV])
    assert manifest.parent == Path(staged[MODEL_ENV]).parent  # beside the folder, not in it
    version = read_manifest(manifest)
    assert (version.model, version.version, version.flavor) == ("fraud", 1, "sklearn")
    serving = prepare(options(staged))
    assert (serving.name, serving.version, serving.model.platform) == ("fraud", "1", "sklearn")
    x = rows(3)
    tensor = {"name": "input-0", "shape": [3, 4], "datatype": "FP64", "data": x.ravel().tolist()}
    with TestClient(create_app(serving)) as client:
        answer = client.post("/v2/models/fraud/versions/1/infer", json={"inputs": [tensor]})
    assert answer.json()["outputs"][0]["data"] == ESTIMATOR.predict(x).tolist()


def test_a_changed_added_or_missing_file_is_refused_by_name(staged: dict[str, str]) -> None:
    folder = Path(staged[MODEL_ENV])
    (folder / "model.joblib").write_bytes(FILES["model.joblib"][:-1] + b"\x00")
    (folder / "extra.pkl").write_bytes(b"not registered")
    (folder / "README.md").unlink()
    with pytest.raises(IntegrityError) as caught:
        prepare(options(staged))
    assert "is not the version registered" in caught.value.message
    found = {p.location: p.message for p in caught.value.problems}
    assert set(found) == {"README.md", "extra.pkl", "model.joblib"}
    assert found["README.md"] == "missing"
    assert found["extra.pkl"] == "added"
    assert found["model.joblib"].startswith("changed (registered sha256 ")


def test_a_link_in_place_of_a_file_is_refused(staged: dict[str, str], tmp_path: Path) -> None:
    folder = Path(staged[MODEL_ENV])
    (tmp_path / "elsewhere").write_bytes(FILES["README.md"])
    (folder / "README.md").unlink()
    (folder / "README.md").symlink_to(tmp_path / "elsewhere")
    with pytest.raises(IntegrityError) as caught:
        prepare(options(staged))
    assert [(p.location, p.message) for p in caught.value.problems] == [
        ("README.md", "a link, not a file"),
        ("README.md", "missing"),
    ]


def test_served_under_an_endpoint_name_it_answers_to_the_model_name_too(
    staged: dict[str, str],
) -> None:
    serving = prepare(options(staged, name="fraud-api", version="1"))
    tensor = {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [0, 0, 0, 0]}
    with TestClient(create_app(serving)) as client:
        for name in ("fraud-api", "fraud"):
            assert client.get(f"/v2/models/{name}").json()["name"] == name
            answer = client.post(f"/v2/models/{name}/infer", json={"inputs": [tensor]})
            assert answer.json()["model_name"] == name
        refused = client.get("/v2/models/other").json()["error"]
    assert refused == "model 'other' is not served here; 'fraud-api', 'fraud' is"


def test_an_edited_manifest_or_another_version_is_refused(staged: dict[str, str]) -> None:
    with pytest.raises(SpecError, match="another version than the one staged") as caught:
        prepare(options(staged, version="2"))
    assert caught.value.problems[0].location == "--version"
    manifest = Path(staged[MODEL_MANIFEST_ENV])
    data = json.loads(manifest.read_text())
    data["files"] = [f for f in data["files"] if f["path"] != "README.md"]
    manifest.write_text(json.dumps(data))
    with pytest.raises(IntegrityError, match="is not the artifact it names"):
        prepare(options(staged))
    manifest.write_text("{not json")
    with pytest.raises(SpecError, match="cannot read the model's manifest") as caught:
        prepare(options(staged))
    assert caught.value.problems[0].location == MANIFEST_ENV


def test_without_a_manifest_the_folder_is_served_as_it_is(tmp_path: Path) -> None:
    folder = tmp_path / "m"
    folder.mkdir()
    (folder / "model.pkl").write_bytes(FILES["model.joblib"])
    serving = prepare(Options(folder, None, "fraud", None, "127.0.0.1", 0, 32, 2.0))
    assert (serving.name, serving.version) == ("fraud", "1")
    got = serving.model.predict({"input-0": rows(2)}, ["predict"])["predict"]
    assert np.array_equal(got, ESTIMATOR.predict(rows(2)))
    with pytest.raises(SpecError) as caught:
        prepare(Options(folder, None, None, None, "127.0.0.1", 0, 32, 2.0))
    assert caught.value.problems[0].location == "--name"
    (folder / "model.pkl").rename(folder / "weights.bin")
    with pytest.raises(SpecError, match="not one this server serves") as refused:
        prepare(Options(folder, None, "fraud", None, "127.0.0.1", 0, 32, 2.0))
    assert refused.value.problems[0].allowed == "sklearn, onnx"
