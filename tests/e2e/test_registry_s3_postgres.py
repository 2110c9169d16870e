"""The registry end to end, as a deployment runs it: metadata in PostgreSQL, blobs on S3 (moto's
standalone server, started here), and every call through ``aiplane.client`` over HTTP.

A folder with a file of more than one upload piece goes up and comes back byte for byte; an
upload whose connection drops mid-file resumes from what the server says it holds; a model
imported from an MLflow file store arrives with its versions, metrics, parameters, aliases and
files, and a second import brings nothing new.
"""

from __future__ import annotations

import hashlib
import os
import socket
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlparse

import httpx
import pytest

from aiplane.api.routers.blobs import WRITE_BYTES
from aiplane.artifacts.fsspec import FsspecBlobStore
from aiplane.client import Client
from aiplane.config import Settings
from aiplane.server import EmbeddedServer
from tests.artifacts.conftest import BUCKET, s3_options
from tests.e2e.server_process import wait_until
from tests.store.conftest import PostgresServer, postgres_server

__all__ = ["postgres_server", "s3_options"]  # fixtures shared with the store's and blobs' tests

TEAM = "ml"
MIB = 1024 * 1024


@pytest.fixture
def server(
    postgres_server: PostgresServer, s3_options: dict[str, Any], tmp_path: Path
) -> Iterator[EmbeddedServer]:
    settings = Settings(
        home=tmp_path / "home",
        database_url=postgres_server.create_database(),
        catalog_dir=None,
        telemetry="off",
        artifacts_url=f"s3://{BUCKET}/{uuid.uuid4().hex}",
        artifacts_options=s3_options,
    )
    with EmbeddedServer(settings) as running:
        yield running


@pytest.fixture
def client(server: EmbeddedServer) -> Iterator[Client]:
    with Client(server.url, server.token, timeout=120) as opened:
        yield opened


def _digests(folder: Path) -> dict[str, str]:
    return {
        path.relative_to(folder).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(folder.rglob("*"))
        if path.is_file()
    }


def _blob_keys(server: EmbeddedServer) -> list[str]:
    """The blob objects under the server's prefix, read from S3 itself."""
    url = server.settings.artifacts_url
    assert url is not None
    fs = FsspecBlobStore(url, server.settings.artifacts_options).fs
    return sorted(str(key) for key in fs.find(url.removeprefix("s3://") + "/blobs"))


def test_a_folder_goes_to_s3_in_pieces_and_comes_back_byte_for_byte(
    server: EmbeddedServer, client: Client, tmp_path: Path
) -> None:
    folder = tmp_path / "model"
    (folder / "weights").mkdir(parents=True)
    (folder / "weights" / "big.bin").write_bytes(os.urandom(WRITE_BYTES + 3 * MIB + 17))
    (folder / "config.json").write_text('{"layers": 3}\n')
    (folder / "copy.json").write_text('{"layers": 3}\n')  # the same bytes: stored once
    (folder / "empty").write_bytes(b"")

    registered = client.models.register(
        "ranker", folder, team=TEAM, metrics={"auc": 0.91}, params={"lr": "0.1"}
    )
    assert (registered.model, registered.version) == ("ranker", 1)
    assert registered.signature is not None  # signed with the team's key at registration
    assert len(_blob_keys(server)) == 3  # big, the JSON once, the empty file

    back = tmp_path / "back"
    manifest = client.models.download("ranker@1", back)
    assert manifest.file_count == 4
    assert _digests(back) == _digests(folder)
    assert (back / "weights" / "big.bin").read_bytes() == (
        folder / "weights" / "big.bin"
    ).read_bytes()

    verified = client.models.verify("ranker@1")
    assert verified.ok, verified.problems
    assert (verified.files, verified.bytes) == (4, manifest.size)
    assert verified.signature is None


def _cut_off(server: EmbeddedServer, digest: str, data: bytes, after: int) -> None:
    """A PUT of ``data`` whose connection drops after ``after`` bytes of the body."""
    host, port = urlparse(server.url).netloc.split(":")
    with socket.create_connection((host, int(port)), timeout=30) as sock:
        head = (
            f"PUT /api/v1/blobs/{digest}?offset=0 HTTP/1.1\r\n"
            f"Host: {host}:{port}\r\n"
            f"Authorization: Bearer {server.token}\r\n"
            "Content-Type: application/octet-stream\r\n"
            f"Content-Length: {len(data)}\r\n\r\n"
        )
        sock.sendall(head.encode() + data[:after])
        sock.shutdown(socket.SHUT_WR)  # the rest never comes


def _upload_state(server: EmbeddedServer, digest: str) -> dict[str, Any]:
    answer = httpx.get(
        f"{server.url}/api/v1/blobs/{digest}/upload",
        headers={"Authorization": f"Bearer {server.token}"},
    )
    answer.raise_for_status()
    state: dict[str, Any] = answer.json()
    return state


def test_an_upload_cut_off_mid_file_resumes_from_received(
    server: EmbeddedServer, client: Client, tmp_path: Path
) -> None:
    data = os.urandom(2 * WRITE_BYTES + 5 * MIB)
    digest = hashlib.sha256(data).hexdigest()
    cut = WRITE_BYTES + 3 * MIB + 11  # a whole piece and part of the next
    _cut_off(server, digest, data, cut)
    # Every byte that arrived is kept, the piece cut short too.
    state = wait_until(
        lambda: (s := _upload_state(server, digest))["received"] == cut and s,
        60,
        "the cut-off upload to be kept",
    )
    assert state == {"sha256": digest, "received": cut, "complete": False}

    folder = tmp_path / "model"
    folder.mkdir()
    (folder / "weights.bin").write_bytes(data)
    sent: list[int] = []
    client.models.register("resumed", folder, team=TEAM, progress=sent.append)
    # The client went on from ``received``: the first piece was not sent again.
    assert sent and sent[-1] == len(data)
    assert min(sent) > cut
    verified = client.models.verify("resumed@1")
    assert verified.ok, verified.problems
    back = tmp_path / "back"
    client.models.download("resumed@1", back)
    assert (back / "weights.bin").read_bytes() == data


# --- MLflow through the API ---------------------------------------------------------------


@pytest.fixture(scope="module")
def mlflow_store(tmp_path_factory: pytest.TempPathFactory) -> tuple[str, Any]:
    from tests.importers.test_mlflow import fill

    root = tmp_path_factory.mktemp("mlruns")
    uri = (root / "store").as_uri()
    return uri, fill(uri, root)


def _stored(source_uri: str) -> Path:
    return Path(unquote(urlparse(source_uri).path))


def test_mlflow_models_come_across_through_the_api(
    client: Client, mlflow_store: tuple[str, Any], tmp_path: Path
) -> None:
    from aiplane.importers.mlflow import MlflowSource
    from tests.importers.test_mlflow import CHURN, FRAUD

    uri, filled = mlflow_store
    # A model of the same name here already: its versions come after ours, its aliases stay.
    here = tmp_path / "here"
    here.mkdir()
    (here / "weights.bin").write_bytes(b"ours")
    client.models.register("churn_model.eu", here, team=TEAM)

    report = client.models.import_mlflow(uri, TEAM)
    assert sorted(report.models) == ["churn_model.eu", "fraud-detector"]
    assert report.versions == 5
    # champion on the model this import made; production is protected: promoted, not imported.
    assert report.aliases == 1
    assert len(report.skipped) == 2, report.skipped
    assert any("churn_model.eu" in line and "staging" in line for line in report.skipped)
    assert any("production" in line and "protects" in line for line in report.skipped)

    fraud = client.models.show("fraud-detector")
    assert fraud.team == TEAM
    assert {a.name: a.version for a in fraud.aliases} == {"champion": 2}
    assert client.models.show("churn_model.eu").aliases == []

    source = {m.name: m for m in MlflowSource(uri).models()}
    for name, source_name, first in (("fraud-detector", FRAUD, 1), ("churn_model.eu", CHURN, 2)):
        versions = sorted(client.models.versions(name).items, key=lambda v: v.version)
        imported = [v for v in versions if v.tags.get("mlflow.name") == source_name]
        # Numbered in the source's order, after any version that was here.
        assert [v.version for v in imported] == list(
            range(first, first + len(source[name].versions))
        )
        for mine, theirs in zip(imported, source[name].versions, strict=True):
            assert mine.tags["mlflow.version"] == str(theirs.source_version)
            assert mine.tags["mlflow.run_id"] == filled.runs[source_name, theirs.source_version]
            assert mine.metrics == theirs.metrics
            assert mine.params == dict(theirs.params)
            assert mine.flavor == theirs.flavor.value
            assert mine.signature is not None
            back = tmp_path / "back" / name / str(mine.version)
            client.models.download(f"{name}@{mine.version}", back)
            assert _digests(back) == _digests(_stored(theirs.source_uri))
            assert client.models.verify(f"{name}@{mine.version}").ok
    assert client.models.get("fraud-detector@2").metrics["rmse"] == filled.rmse[FRAUD, 2]

    again = client.models.import_mlflow(uri, TEAM)
    assert (again.versions, again.aliases) == (0, 0)
    assert sorted(again.models) == ["churn_model.eu", "fraud-detector"]
    assert any("nothing new" in line for line in again.skipped), again.skipped
    assert len(client.models.versions("fraud-detector").items) == 3
    assert {a.name: a.version for a in client.models.show("fraud-detector").aliases} == {
        "champion": 2
    }
