"""``python -m aiplane.modelserver`` as an endpoint replica runs it: a real process on a port
of its own choosing, a scikit-learn and an ONNX model answering over HTTP, stopped by its
pid; a tampered file refused before the port is bound."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import numpy as np
import pytest

from aiplane.modelserver.verify import scan
from tests.modelserver.models import FEATURES, rows, trained, write_onnx, write_sklearn

pytestmark = pytest.mark.slow
ESTIMATOR = trained()
READY = re.compile(r"ready at (http://127\.0\.0\.1:\d+)")
REPO = Path(__file__).resolve().parents[2]


def write_manifest(folder: Path, name: str, version: int) -> Path:
    manifest, _ = scan(folder)
    path = folder.with_name("model-manifest.json")
    path.write_text(json.dumps({"model": name, "version": version, **manifest.to_dict()}))
    return path


def start(folder: Path, manifest: Path, log: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "AIPLANE_MODEL_DIR": str(folder),
        "AIPLANE_MODEL_MANIFEST": str(manifest),
        "AIPLANE_PORT": "0",
        "PYTHONPATH": str(REPO / "src"),
    }
    with log.open("wb") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "aiplane.modelserver", "--max-wait-ms", "1"],
            env=env,
            stdout=out,
            stderr=subprocess.STDOUT,
        )


@contextmanager
def serving(folder: Path, manifest: Path, log: Path) -> Iterator[str]:
    """The server's URL once it says it is ready; stopped (by its pid) after."""
    process = start(folder, manifest, log)
    try:
        deadline = time.monotonic() + 60
        while not (found := READY.search(log.read_text())):
            if process.poll() is not None or time.monotonic() > deadline:
                pytest.fail(f"the model server did not start: {log.read_text()[-2000:]}")
            time.sleep(0.05)
        yield found.group(1)
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
    assert process.returncode == 0, log.read_text()


def test_sklearn_and_onnx_models_answer_over_http(tmp_path: Path) -> None:
    x = rows(4)
    data = {"shape": [4, FEATURES], "datatype": "FP64", "data": x.ravel().tolist()}
    for flavor, write, input_name in [
        ("sklearn", write_sklearn, "input-0"),
        ("onnx", write_onnx, "X"),
    ]:
        folder = write(tmp_path / flavor / "model", ESTIMATOR)
        manifest = write_manifest(folder, "fraud", 7)
        with serving(folder, manifest, tmp_path / f"{flavor}.log") as url:
            assert "fraud@7" in (tmp_path / f"{flavor}.log").read_text()
            with httpx.Client(base_url=url, timeout=30) as client:
                assert client.get("/v2/health/ready").status_code == 200
                assert client.get("/v2/models/fraud").json()["versions"] == ["7"]
                body = {"id": flavor, "inputs": [{"name": input_name, **data}]}
                answer = client.post("/v2/models/fraud/versions/7/infer", json=body).json()
        assert answer["id"] == flavor
        label, proba = answer["outputs"]
        assert label["data"] == ESTIMATOR.predict(x).tolist()
        assert np.allclose(np.reshape(proba["data"], (4, 3)), ESTIMATOR.predict_proba(x), atol=1e-5)


def test_a_tampered_file_is_refused_and_never_served(tmp_path: Path) -> None:
    folder = write_sklearn(tmp_path / "model", ESTIMATOR)
    manifest = write_manifest(folder, "fraud", 7)
    pickled = folder / "model.joblib"
    pickled.write_bytes(pickled.read_bytes() + b"#")
    log = tmp_path / "server.log"
    process = start(folder, manifest, log)
    try:
        assert process.wait(timeout=60) == 2
    finally:
        if process.poll() is None:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
    said = log.read_text()
    assert "is not the version registered" in said
    assert "model.joblib: changed (registered sha256" in said
    assert "ready at" not in said
