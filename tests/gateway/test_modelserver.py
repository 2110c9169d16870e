"""aiplane's own model server as the replica: a scikit-learn model, served by
``python -m aiplane.modelserver`` under the endpoint's name (as the endpoint service starts
it), answers ``/v2/models/{endpoint}/infer`` through the gateway."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.gateway.conftest import ALICE
from tests.gateway.fakes import replica, route, spec, table
from tests.modelserver.models import FEATURES, rows, trained, write_sklearn
from tests.modelserver.test_process import write_manifest

pytestmark = pytest.mark.slow
READY = re.compile(r"ready at http://127\.0\.0\.1:(\d+)")
REPO = Path(__file__).resolve().parents[2]


def test_a_registry_model_answers_through_the_gateway(control, gateway, tmp_path: Path):
    estimator = trained()
    folder = write_sklearn(tmp_path / "model", estimator)
    manifest = write_manifest(folder, "fraud", 7)
    log = tmp_path / "server.log"
    env = {**os.environ, "PYTHONPATH": str(REPO / "src")}
    command = [
        sys.executable,
        "-m",
        "aiplane.modelserver",
        "--model-dir",
        str(folder),
        "--manifest",
        str(manifest),
        "--name",
        "fraud-eu",
        "--port",
        "0",
        "--max-wait-ms",
        "1",
    ]
    with log.open("wb") as out:
        process = subprocess.Popen(command, env=env, stdout=out, stderr=subprocess.STDOUT)
    try:
        deadline = time.monotonic() + 60
        while not (found := READY.search(log.read_text())):
            assert process.poll() is None and time.monotonic() < deadline, log.read_text()[-2000:]
            time.sleep(0.05)
        address = f"127.0.0.1:{found.group(1)}"
        endpoint = spec("fraud-eu", model="fraud@production")
        control.set_table(table(route(endpoint, [replica("run-1", address, version="fraud@7")])))
        gw = gateway()
        x = rows(3)
        body = {
            "inputs": [
                {
                    "name": "input-0",
                    "shape": [3, FEATURES],
                    "datatype": "FP64",
                    "data": x.ravel().tolist(),
                }
            ]
        }
        with httpx.Client(base_url=gw.url, headers={"x-api-key": ALICE}, timeout=30) as http:
            answer = http.post("/v2/models/fraud-eu/infer", json=body)
            versioned = http.post("/v2/models/fraud-eu/versions/7/infer", json=body)
            metadata = http.get("/v2/models/fraud-eu")
        assert answer.status_code == 200, answer.text
        assert answer.json()["outputs"][0]["data"] == estimator.predict(x).tolist()
        assert answer.headers["x-aiplane-replica"] == "run-1"
        assert versioned.status_code == 200
        assert metadata.json()["versions"] == ["7"]
        gw.stop()
        (first, _second) = gw.log.records
        assert first.version == "fraud@7"
        assert first.features == {"input-0": x.ravel().tolist()}
        assert (
            first.prediction[answer.json()["outputs"][0]["name"]] == estimator.predict(x).tolist()
        )
    finally:
        os.kill(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.kill(process.pid, signal.SIGKILL)
            process.wait(timeout=20)
