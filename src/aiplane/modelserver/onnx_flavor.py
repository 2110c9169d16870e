"""An ONNX graph run by onnxruntime on the CPU provider; its inputs and outputs as the
session declares them. Outputs that are not tensors (the sequence of maps a converted
classifier gives when zipmap is on) are not served: the protocol carries tensors only."""

from __future__ import annotations

import importlib
from collections.abc import Collection
from pathlib import Path
from typing import Any

import numpy as np

from aiplane.core.errors import MissingDependencyError
from aiplane.modelserver.model import Arrays
from aiplane.modelserver.tensors import ProtocolError, TensorSpec

# onnxruntime's element types (``NodeArg.type``) as the protocol's datatypes.
ONNX_TYPES = {
    "tensor(bool)": "BOOL",
    "tensor(uint8)": "UINT8",
    "tensor(uint16)": "UINT16",
    "tensor(uint32)": "UINT32",
    "tensor(uint64)": "UINT64",
    "tensor(int8)": "INT8",
    "tensor(int16)": "INT16",
    "tensor(int32)": "INT32",
    "tensor(int64)": "INT64",
    "tensor(float16)": "FP16",
    "tensor(float)": "FP32",
    "tensor(double)": "FP64",
    "tensor(string)": "BYTES",
}


def onnxruntime() -> Any:
    try:
        return importlib.import_module("onnxruntime")
    except ImportError as exc:
        raise MissingDependencyError(
            "serving an ONNX model needs onnxruntime: pip install 'aiplane[serve]'"
        ) from exc


def _spec(arg: Any) -> TensorSpec | None:
    datatype = ONNX_TYPES.get(arg.type)
    if datatype is None:
        return None
    # A named or unknown dimension (``"N"``, None) takes any size.
    shape = tuple(d if isinstance(d, int) and d >= 0 else -1 for d in (arg.shape or ()))
    return TensorSpec(arg.name, datatype, shape)


class OnnxModel:
    platform = "onnxruntime_onnx"  # Triton's name for it
    any_input_name = False  # the graph names its inputs

    def __init__(self, path: Path) -> None:
        ort = onnxruntime()
        self._session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        inputs = []
        for arg in self._session.get_inputs():
            spec = _spec(arg)
            if spec is None:
                raise ProtocolError(
                    f"{path.name}: input {arg.name!r} is a {arg.type}, not a tensor"
                )
            inputs.append(spec)
        self.inputs = tuple(inputs)
        self.outputs = tuple(s for s in map(_spec, self._session.get_outputs()) if s is not None)
        # Stacking requests needs a first dimension of any size on every tensor.
        self.batchable = all(s.shape and s.shape[0] == -1 for s in (*self.inputs, *self.outputs))

    def predict(self, inputs: Arrays, outputs: Collection[str]) -> dict[str, np.ndarray[Any, Any]]:
        names = [s.name for s in self.outputs if s.name in outputs]
        found = self._session.run(names, dict(inputs))
        return {name: np.asarray(value) for name, value in zip(names, found, strict=True)}
