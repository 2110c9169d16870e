"""Starting the server: options from the command line or the environment a replica is given,
each refusal naming the option and exiting 2 before a port is bound; the serve extra's
packages imported only when a model needs them."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
from starlette.testclient import TestClient

from aiplane.core.errors import MissingDependencyError
from aiplane.modelserver.app import Serving, create_app
from aiplane.modelserver.batching import Batcher
from aiplane.modelserver.loading import load
from aiplane.modelserver.main import main, parse
from tests.modelserver.models import write_onnx, write_sklearn


def test_options_come_from_the_replica_environment(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIPLANE_MODEL_DIR", str(tmp_path))
    monkeypatch.setenv("AIPLANE_PORT", "8123")
    monkeypatch.delenv("AIPLANE_MODEL_MANIFEST", raising=False)
    options = parse(["--name", "fraud"])
    assert (options.model_dir, options.port, options.manifest) == (tmp_path, 8123, None)
    assert (options.host, options.max_batch, options.max_wait_ms) == ("127.0.0.1", 32, 2.0)


@pytest.mark.parametrize(
    ("argv", "named"),
    [
        (["--port", "0"], "--model-dir: not given"),
        (["--model-dir", "x"], "--port: not given"),
        (
            ["--model-dir", "x", "--port", "0", "--max-batch", "0"],
            "--max-batch: must be at least 1",
        ),
        (["--model-dir", "/nowhere", "--port", "0", "--name", "m"], "--model-dir: not a folder"),
    ],
)
def test_a_bad_option_exits_2_naming_it(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str], argv: list[str], named: str
) -> None:
    for name in ("AIPLANE_MODEL_DIR", "AIPLANE_PORT", "AIPLANE_MODEL_MANIFEST"):
        monkeypatch.delenv(name, raising=False)
    assert main(argv) == 2
    assert named in capsys.readouterr().err


def test_a_taken_port_exits_2(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    import socket

    folder = write_sklearn(tmp_path / "m")
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        argv = ["--model-dir", str(folder), "--name", "m", "--port", str(port)]
        assert main(argv) == 2
    assert f"cannot listen on 127.0.0.1:{port}" in capsys.readouterr().err


@pytest.mark.parametrize(
    ("write", "module"), [(write_onnx, "onnxruntime"), (write_sklearn, "sklearn")]
)
def test_a_missing_serve_extra_says_what_to_install(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, write: Callable[[Path], Path], module: str
) -> None:
    folder = write(tmp_path / "m")
    monkeypatch.setitem(sys.modules, module, None)  # as if not installed
    with pytest.raises(MissingDependencyError, match=r"pip install 'aiplane\[serve\]'"):
        load(folder)


def test_outputs_json_cannot_carry_are_a_500_that_says_so() -> None:
    class Nan:
        platform, batchable, any_input_name = "test", True, True
        inputs = outputs = ()

        def predict(self, _inputs: object, _outputs: object) -> dict[str, np.ndarray]:
            return {"y": np.array([np.nan])}

    from aiplane.modelserver.tensors import TensorSpec

    model = Nan()
    model.inputs = (TensorSpec("x", "FP64", (-1,)),)  # type: ignore[assignment]
    model.outputs = (TensorSpec("y", "FP64", (-1,)),)  # type: ignore[assignment]
    with TestClient(create_app(Serving("m", "1", model, Batcher(model)))) as client:
        tensor = {"name": "x", "shape": [1], "datatype": "FP64", "data": [1]}
        answer = client.post("/v2/models/m/infer", json={"inputs": [tensor]})
    assert answer.status_code == 500
    assert "NaN or infinity" in answer.json()["error"]
