"""The MLflow source against real MLflow: a file store and a tracking server, filled through
MLflow's own API with scikit-learn models trained here, read back and fetched byte for byte."""

from __future__ import annotations

import builtins
import hashlib
import os
import socket
import subprocess
import sys
import time
import warnings
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import httpx
import mlflow
import numpy as np
import pytest
from mlflow import MlflowClient
from mlflow.models import infer_signature
from mlflow.tracking._tracking_service.utils import _use_tracking_uri
from sklearn.linear_model import LinearRegression

from aiplane.core.errors import (
    AiplaneError,
    BackendError,
    MissingDependencyError,
    NotFoundError,
    SpecError,
)
from aiplane.core.registry.imports import ImportedModel
from aiplane.core.registry.records import Flavor
from aiplane.importers.base import ModelSource
from aiplane.importers.mlflow import MlflowSource

FRAUD = "Fraud Detector"  # not an aiplane name: spaces and capitals
CHURN = "churn_Model.EU"


@dataclass
class Filled:
    """What the test wrote into MLflow, to compare with what the source reads."""

    runs: dict[tuple[str, int], str] = field(default_factory=dict)  # (model, version) -> run
    rmse: dict[tuple[str, int], float] = field(default_factory=dict)
    started: float = 0.0
    ended: float = 0.0


@contextmanager
def _mlflow_at(uri: str) -> Iterator[MlflowClient]:
    """MLflow's fluent API pointed at ``uri`` for the filling only, file stores allowed."""
    before = os.environ.get("MLFLOW_ALLOW_FILE_STORE")
    os.environ["MLFLOW_ALLOW_FILE_STORE"] = "true"
    try:
        with _use_tracking_uri(uri), warnings.catch_warnings():
            # Stages are deprecated in MLflow: the test sets them as teams still have them.
            warnings.simplefilter("ignore", FutureWarning)
            yield MlflowClient(tracking_uri=uri, registry_uri=uri)
    finally:
        if before is None:
            os.environ.pop("MLFLOW_ALLOW_FILE_STORE", None)
        else:
            os.environ["MLFLOW_ALLOW_FILE_STORE"] = before


def _log_sklearn(model_name: str, alpha: int, final_rmse: float) -> str:
    rng = np.random.default_rng(alpha)
    x = rng.normal(size=(32, 3))
    y = x @ np.array([1.0, -2.0, 0.5]) + alpha
    estimator = LinearRegression().fit(x, y)
    with mlflow.start_run() as run:
        mlflow.log_param("alpha", alpha)
        mlflow.log_param("solver", "lstsq")
        for step, value in enumerate((final_rmse + 1.0, final_rmse + 0.5, final_rmse)):
            mlflow.log_metric("rmse", value, step=step)
        mlflow.log_metric("r2", 0.9)
        mlflow.sklearn.log_model(
            estimator,
            name="model",
            registered_model_name=model_name,
            signature=infer_signature(x, estimator.predict(x)),
            # Given, so MLflow does not infer them in a subprocess (seconds per model).
            pip_requirements=["scikit-learn"],
            serialization_format="pickle",
        )
    return str(run.info.run_id)


def fill(uri: str, tmp: Path) -> Filled:
    filled = Filled(started=time.time() - 1)
    with _mlflow_at(uri) as client:
        for version, rmse in enumerate((0.9, 0.7, 0.5), start=1):
            filled.runs[FRAUD, version] = _log_sklearn(FRAUD, version, rmse)
            filled.rmse[FRAUD, version] = rmse
        client.update_registered_model(FRAUD, description="card fraud, v1 to v3")
        client.set_registered_model_tag(FRAUD, "team", "risk")
        client.set_model_version_tag(FRAUD, "2", "validated", "yes")
        client.update_model_version(FRAUD, "2", description="the champion")
        client.set_registered_model_alias(FRAUD, "champion", "2")
        client.transition_model_version_stage(FRAUD, "3", "Production")

        filled.runs[CHURN, 1] = _log_sklearn(CHURN, 7, 0.3)
        filled.rmse[CHURN, 1] = 0.3
        client.transition_model_version_stage(CHURN, "1", "Staging")
        # A version of plain files (no MLmodel): generic, without a signature.
        notes = tmp / "notes"
        notes.mkdir()
        (notes / "weights.bin").write_bytes(bytes(range(256)) * 64)
        (notes / "README").write_text("raw weights\n")
        with mlflow.start_run() as run:
            mlflow.log_metric("auc", 0.8)
            mlflow.log_artifacts(str(notes), artifact_path="files")
        client.create_model_version(
            CHURN, source=f"{run.info.artifact_uri}/files", run_id=run.info.run_id
        )
        filled.runs[CHURN, 2] = str(run.info.run_id)
    filled.ended = time.time() + 1
    return filled


def _digests(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _by_name(source: ModelSource) -> dict[str, ImportedModel]:
    return {model.name: model for model in source.models()}


def check_read(models: dict[str, ImportedModel], filled: Filled) -> None:
    assert sorted(models) == ["churn_model.eu", "fraud-detector"]
    fraud, churn = models["fraud-detector"], models["churn_model.eu"]
    assert (fraud.source_name, churn.source_name) == (FRAUD, CHURN)
    assert fraud.description == "card fraud, v1 to v3"
    assert fraud.tags == {"team": "risk"}
    assert [v.source_version for v in fraud.versions] == [1, 2, 3]
    assert [v.source_version for v in churn.versions] == [1, 2]
    # MLflow 2.3+ aliases and the legacy stages both, onto our aliases.
    assert fraud.aliases == {"champion": 2, "production": 3}
    assert churn.aliases == {"staging": 1}
    for model in (fraud, churn):
        for version in model.versions:
            key = (model.source_name, version.source_version)
            assert version.run_id == filled.runs[key]
            assert filled.started <= version.created_at <= filled.ended
            if key in filled.rmse:
                assert version.flavor is Flavor.SKLEARN
                assert version.metrics == {"rmse": filled.rmse[key], "r2": 0.9}  # the latest
                assert version.params["solver"] == "lstsq"
                inputs = version.io_signature["inputs"]
                assert inputs == [
                    {"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1, 3]}}
                ]
                assert version.io_signature["outputs"][0]["tensor-spec"]["shape"] == [-1]
    two = fraud.versions[1]
    assert two.tags == {"validated": "yes"}
    assert two.description == "the champion"
    plain = churn.versions[1]
    assert plain.flavor is Flavor.GENERIC
    assert plain.io_signature == {}
    assert plain.metrics == {"auc": 0.8}


def check_fetch(source: ModelSource, models: dict[str, ImportedModel], dest: Path, stored) -> None:
    """Each version's files arrive as MLflow stored them, by sha256 and by name."""
    for model in models.values():
        for version in model.versions:
            target = dest / model.name / str(version.source_version)
            written = source.fetch(model, version, target)
            assert written.is_relative_to(target)
            expected = _digests(stored(version.source_uri))
            assert expected, version.source_uri
            assert _digests(written) == expected
            if version.flavor is Flavor.SKLEARN:
                assert {"MLmodel", "model.pkl"} <= set(expected)
    generic = models["churn_model.eu"].versions[1]
    assert set(_digests(dest / "churn_model.eu" / "2")) == {"files/README", "files/weights.bin"}
    assert generic.source_uri.endswith("/files")


# --- a file store folder ----------------------------------------------------------------------


@pytest.fixture(scope="module")
def file_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Filled]:
    root = tmp_path_factory.mktemp("mlruns")
    uri = (root / "store").as_uri()
    return uri, fill(uri, root)


def test_a_file_store_reads_back_models_versions_aliases_runs(
    file_store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    uri, filled = file_store
    monkeypatch.chdir(tmp_path)
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ
    source = MlflowSource(uri)
    assert source.uri == uri
    check_read(_by_name(source), filled)
    # Read without leaving MLflow's file store switch on or its tracking URI moved for the
    # process, and without MLflow making a store of its own in the working folder.
    assert "MLFLOW_ALLOW_FILE_STORE" not in os.environ
    assert "MLFLOW_TRACKING_URI" not in os.environ
    assert list(tmp_path.iterdir()) == []


def test_pages_of_one_read_the_same(file_store) -> None:
    uri, _ = file_store
    assert _by_name(MlflowSource(uri, page_size=1)) == _by_name(MlflowSource(uri))


def test_a_plain_folder_path_is_a_file_store(file_store) -> None:
    uri, filled = file_store
    folder = unquote(urlparse(uri).path)
    source = MlflowSource(folder)
    assert source.uri == uri
    check_read(_by_name(source), filled)


def test_fetch_writes_the_files_mlflow_stored(file_store, tmp_path: Path) -> None:
    uri, _ = file_store
    source = MlflowSource(uri)

    def stored(source_uri: str) -> Path:
        return Path(unquote(urlparse(source_uri).path))

    check_fetch(source, _by_name(source), tmp_path / "fetched", stored)


def test_a_missing_folder_is_named(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-mlruns"
    with pytest.raises(NotFoundError) as caught:
        MlflowSource(str(missing))
    problem = caught.value.problems[0]
    assert problem.location == "from_mlflow"
    assert problem.given == missing.as_uri()
    assert not missing.exists()  # MLflow was not let create it


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_server_is_named_at_once() -> None:
    uri = f"http://127.0.0.1:{_free_port()}"
    started = time.monotonic()
    with pytest.raises(BackendError) as caught:
        MlflowSource(uri, timeout_s=2)
    assert time.monotonic() - started < 5  # not MLflow's minutes of retries
    assert caught.value.problems[0].given == uri
    assert uri in str(caught.value)


def test_without_mlflow_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def no_mlflow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "mlflow" or name.startswith("mlflow."):
            raise ImportError(name)
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", no_mlflow)
    with pytest.raises(MissingDependencyError, match="pip install mlflow"):
        MlflowSource("http://127.0.0.1:1")


# --- a real tracking server -------------------------------------------------------------------


@dataclass(frozen=True)
class Server:
    uri: str
    artifacts: Path
    filled: Filled


@pytest.fixture(scope="module")
def mlflow_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Server]:
    root = tmp_path_factory.mktemp("mlflow-server")
    port = _free_port()
    uri = f"http://127.0.0.1:{port}"
    artifacts = root / "artifacts"
    log = (root / "server.log").open("wb")
    # Artifacts served by the server (--artifacts-destination), so that every byte the test
    # writes and the source fetches goes over HTTP, not through the shared folder.
    process = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("mlflow")),
            "server",
            "--backend-store-uri",
            f"sqlite:///{root / 'mlflow.db'}",
            "--artifacts-destination",
            str(artifacts),
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            "1",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    try:
        deadline = time.monotonic() + 90
        while True:
            if process.poll() is not None:
                pytest.fail(f"mlflow server exited: {(root / 'server.log').read_text()[-2000:]}")
            try:
                if httpx.get(f"{uri}/health", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            if time.monotonic() > deadline:
                pytest.fail("mlflow server did not answer /health within 90 s")
            time.sleep(0.25)
        yield Server(uri, artifacts, fill(uri, root))
    finally:
        os.killpg(process.pid, 15)
        try:
            process.wait(timeout=3)  # the test is done with its data: no need to drain
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, 9)
            process.wait()
        log.close()


@pytest.mark.slow
def test_a_server_reads_back_and_fetches_over_http(mlflow_server: Server, tmp_path: Path) -> None:
    source = MlflowSource(mlflow_server.uri, page_size=1)
    models = _by_name(source)
    check_read(models, mlflow_server.filled)
    for model in models.values():
        for version in model.versions:
            assert version.source_uri.startswith("mlflow-artifacts:")

    def stored(source_uri: str) -> Path:
        # mlflow-artifacts:/<path> lies at <artifacts destination>/<path> on the server.
        return mlflow_server.artifacts / urlparse(source_uri).path.lstrip("/")

    check_fetch(source, models, tmp_path / "fetched", stored)


def test_files_gone_from_the_source_are_a_located_error(file_store, tmp_path: Path) -> None:
    uri, _ = file_store
    source = MlflowSource(uri)
    model = _by_name(source)["fraud-detector"]
    gone = replace(model.versions[0], source_uri=(tmp_path / "deleted").as_uri())
    with pytest.raises(AiplaneError) as caught:
        source.fetch(model, gone, tmp_path / "dest")
    assert isinstance(caught.value, NotFoundError | BackendError)
    problem = caught.value.problems[0]
    assert (problem.location, problem.given) == ("from_mlflow", uri)
    assert "Fraud Detector version 1" in problem.message


def test_a_broken_mlmodel_file_is_named(tmp_path: Path) -> None:
    uri = (tmp_path / "store").as_uri()
    files = tmp_path / "files"
    files.mkdir()
    (files / "MLmodel").write_text("flavors: [unclosed\n")
    with _mlflow_at(uri) as client, mlflow.start_run() as run:
        mlflow.log_artifacts(str(files), artifact_path="model")
        client.create_registered_model("broken")
        client.create_model_version("broken", source=f"{run.info.artifact_uri}/model")
    with pytest.raises(SpecError, match="MLmodel") as caught:
        list(MlflowSource(uri).models())
    assert caught.value.problems[0].location.endswith("/model/MLmodel")
