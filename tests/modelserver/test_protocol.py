"""The Open Inference Protocol in process: health, metadata, inference and its errors, for
both flavours, under the plain and the versioned paths."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from starlette.testclient import TestClient

from aiplane.modelserver.app import Serving, create_app
from aiplane.modelserver.batching import Batcher
from aiplane.modelserver.loading import load
from aiplane.modelserver.sklearn_flavor import SklearnModel
from tests.modelserver.models import FEATURES, rows, trained, write_onnx

ESTIMATOR = trained()


def client_for(serving: Serving) -> Iterator[TestClient]:
    with TestClient(create_app(serving)) as client:
        yield client


@pytest.fixture
def sklearn() -> Iterator[TestClient]:
    model = SklearnModel(ESTIMATOR)
    yield from client_for(Serving("fraud", "3", model, Batcher(model)))


@pytest.fixture
def onnx(tmp_path: Path) -> Iterator[TestClient]:
    model = load(write_onnx(tmp_path / "m", ESTIMATOR))
    yield from client_for(Serving("fraud", "3", model, Batcher(model)))


def body(x: np.ndarray[Any, Any], name: str = "input-0", **extra: Any) -> dict[str, Any]:
    tensor = {"name": name, "shape": list(x.shape), "datatype": "FP64", "data": x.ravel().tolist()}
    return {"inputs": [tensor], **extra}


def test_health_and_server_metadata(sklearn: TestClient) -> None:
    assert sklearn.get("/v2/health/live").status_code == 200
    ready = sklearn.get("/v2/health/ready")
    assert (ready.status_code, ready.content) == (200, b"")
    meta = sklearn.get("/v2").json()
    assert meta["name"] == "aiplane-modelserver"
    assert meta["extensions"] == []


@pytest.mark.parametrize("prefix", ["/v2/models/fraud", "/v2/models/fraud/versions/3"])
def test_sklearn_metadata_and_inference(sklearn: TestClient, prefix: str) -> None:
    meta = sklearn.get(prefix).json()
    assert meta == {
        "name": "fraud",
        "versions": ["3"],
        "platform": "sklearn",
        "inputs": [{"name": "input-0", "datatype": "FP64", "shape": [-1, FEATURES]}],
        "outputs": [
            {"name": "predict", "datatype": "INT64", "shape": [-1]},
            {"name": "predict_proba", "datatype": "FP64", "shape": [-1, 3]},
        ],
    }
    assert sklearn.get(prefix + "/ready").status_code == 200
    x = rows(5)
    answer = sklearn.post(prefix + "/infer", json=body(x, id="req-1")).json()
    assert answer["model_name"] == "fraud"
    assert answer["model_version"] == "3"
    assert answer["id"] == "req-1"
    predict, proba = answer["outputs"]
    assert predict == {
        "name": "predict",
        "datatype": "INT64",
        "shape": [5],
        "data": ESTIMATOR.predict(x).tolist(),
    }
    assert proba["shape"] == [5, 3]
    assert np.allclose(np.reshape(proba["data"], (5, 3)), ESTIMATOR.predict_proba(x))


def test_nested_data_any_input_name_and_chosen_outputs(sklearn: TestClient) -> None:
    x = rows(2)
    tensor = {"name": "features", "shape": [2, FEATURES], "datatype": "FP32", "data": x.tolist()}
    answer = sklearn.post(
        "/v2/models/fraud/infer", json={"inputs": [tensor], "outputs": [{"name": "predict_proba"}]}
    ).json()
    assert "id" not in answer
    assert [o["name"] for o in answer["outputs"]] == ["predict_proba"]
    want = ESTIMATOR.predict_proba(x.astype(np.float32).astype(np.float64))
    assert np.allclose(np.reshape(answer["outputs"][0]["data"], (2, 3)), want)


def test_onnx_metadata_and_inference_match_the_estimator(onnx: TestClient) -> None:
    meta = onnx.get("/v2/models/fraud/versions/3").json()
    assert meta["platform"] == "onnxruntime_onnx"
    assert meta["inputs"] == [{"name": "X", "datatype": "FP32", "shape": [-1, FEATURES]}]
    assert [o["name"] for o in meta["outputs"]] == ["label", "probabilities"]
    x = rows(6)
    answer = onnx.post("/v2/models/fraud/infer", json=body(x, "X")).json()
    label, proba = answer["outputs"]
    assert label["datatype"] == "INT64"
    assert label["data"] == ESTIMATOR.predict(x).tolist()
    assert proba["datatype"] == "FP32"
    assert np.allclose(np.reshape(proba["data"], (6, 3)), ESTIMATOR.predict_proba(x), atol=1e-5)


@pytest.mark.parametrize(
    ("path", "wanted"),
    [
        ("/v2/models/other", "model 'other' is not served here; 'fraud' is"),
        ("/v2/models/fraud/versions/4", "version '4' of 'fraud' is not served here; '3' is"),
        ("/v2/models/other/ready", "model 'other' is not served here"),
    ],
)
def test_a_model_or_version_not_served_is_404(sklearn: TestClient, path: str, wanted: str) -> None:
    answer = sklearn.get(path)
    assert answer.status_code == 404
    assert wanted in answer.json()["error"]
    infer = sklearn.post(path.removesuffix("/ready") + "/infer", json=body(rows(1)))
    assert infer.status_code == 404


def tensor(**fields: Any) -> dict[str, Any]:
    base = {"name": "X", "shape": [1, FEATURES], "datatype": "FP32", "data": [0.0] * FEATURES}
    return {"inputs": [{**base, **fields}]}


@pytest.mark.parametrize(
    ("request_body", "wanted"),
    [
        ([1, 2], "a JSON object with 'inputs'"),
        ({"inputs": []}, "'inputs' must be a non-empty list"),
        ({"inputs": [{"shape": [1]}]}, "inputs[0] must be an object with a string 'name'"),
        (tensor(name="Y"), "unknown input 'Y'; the model takes X (FP32 [-1, 4])"),
        (tensor(datatype="FP128"), "datatype 'FP128' is not one of"),
        (tensor(datatype="BYTES", data=["a"] * 4), "datatype BYTES given, the model takes FP32"),
        (tensor(shape=[1, 3]), "'data' has 4 elements, shape [1, 3] needs 3"),
        (tensor(shape=[2, 2]), "shape [2, 2] given, the model takes [-1, 4]"),
        (tensor(shape=[1, -4]), "'shape' must be a list of non-negative integers"),
        (tensor(data=["x"] * 4), "'data' is not FP32 values"),
        (tensor(data=[[1, 2], [3]]), "'data' is not FP32 values"),
        (tensor(datatype="INT64", data=[1, 2, 3, 4]), None),  # ints taken for floats
        ({**tensor(), "outputs": [{"name": "nope"}]}, "unknown output 'nope'; the model gives"),
        ({**tensor(), "id": 7}, "'id' must be a string"),
    ],
)
def test_a_bad_request_is_400_and_says_what_is_allowed(
    onnx: TestClient, request_body: Any, wanted: str | None
) -> None:
    answer = onnx.post("/v2/models/fraud/infer", json=request_body)
    if wanted is None:
        assert answer.status_code == 200
        return
    assert answer.status_code == 400
    assert wanted in answer.json()["error"]


def test_a_fraction_is_not_cut_to_an_integer_input() -> None:
    from aiplane.modelserver.tensors import ProtocolError, TensorSpec, decode

    spec = TensorSpec("n", "INT64", (-1,))
    given = {"name": "n", "shape": [2], "datatype": "FP64"}
    assert decode({**given, "data": [1.0, 2.0]}, spec, "n").dtype == np.int64
    with pytest.raises(ProtocolError, match="FP64 values do not fit the model's INT64 input"):
        decode({**given, "data": [1.5, 2.0]}, spec, "n")


def test_not_json_and_a_model_error_are_400(sklearn: TestClient) -> None:
    answer = sklearn.post("/v2/models/fraud/infer", content=b"{nope")
    assert answer.status_code == 400
    assert "not JSON" in answer.json()["error"]
    x = rows(1)
    x[0, 0] = np.nan
    tensor = {"name": "input-0", "shape": [1, 4], "datatype": "FP64", "data": [None, 0, 0, 0]}
    answer = sklearn.post("/v2/models/fraud/infer", json={"inputs": [tensor]})
    assert answer.status_code == 400
    assert "the model could not run on this request" in answer.json()["error"]


def test_a_draining_server_is_not_ready_and_takes_no_inference() -> None:
    model = SklearnModel(ESTIMATOR)
    serving = Serving("fraud", "3", model, Batcher(model), ready=False)
    for client in client_for(serving):
        assert client.get("/v2/health/live").status_code == 200
        assert client.get("/v2/health/ready").status_code == 400
        assert client.get("/v2/models/fraud/ready").status_code == 400
        answer = client.post("/v2/models/fraud/infer", json=body(rows(1)))
        assert answer.status_code == 400
        assert "not ready" in answer.json()["error"]
