"""Tensors as the Open Inference Protocol writes them in JSON, and as numpy holds them.

A request input is ``{"name", "shape", "datatype", "data"}``, its data row-major, flat or
nested; a response output is the same with the data flat. Inputs are checked against what the
model declares (its names, datatypes and shapes, ``-1`` for a dimension of any size) and
refused with a ``ProtocolError`` that names the input, what is wrong and what is allowed.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

# The protocol's datatypes; BYTES are strings here (JSON has no raw bytes).
DTYPES: dict[str, np.dtype[Any]] = {
    "BOOL": np.dtype(np.bool_),
    "UINT8": np.dtype(np.uint8),
    "UINT16": np.dtype(np.uint16),
    "UINT32": np.dtype(np.uint32),
    "UINT64": np.dtype(np.uint64),
    "INT8": np.dtype(np.int8),
    "INT16": np.dtype(np.int16),
    "INT32": np.dtype(np.int32),
    "INT64": np.dtype(np.int64),
    "FP16": np.dtype(np.float16),
    "FP32": np.dtype(np.float32),
    "FP64": np.dtype(np.float64),
    "BYTES": np.dtype(object),
}
_NAMES = {dtype: name for name, dtype in DTYPES.items() if name != "BYTES"}


class ProtocolError(Exception):
    """A request the protocol or the model does not allow: answered 400 ``{"error": ...}``."""

    status = 400

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


class NotServedError(ProtocolError):
    """A model or version this server does not serve: answered 404."""

    status = 404


def datatype_of(dtype: np.dtype[Any]) -> str:
    """The protocol's name for a numpy dtype; strings and objects are BYTES."""
    if dtype.kind in "USO":
        return "BYTES"
    try:
        return _NAMES[dtype]
    except KeyError:
        raise ProtocolError(
            f"the model gave a {dtype} tensor, which the protocol cannot carry"
        ) from None


@dataclass(frozen=True)
class TensorSpec:
    """A tensor a model takes or gives: ``-1`` in ``shape`` for a dimension of any size."""

    name: str
    datatype: str
    shape: tuple[int, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "datatype": self.datatype, "shape": list(self.shape)}


@dataclass(frozen=True)
class InferRequest:
    """A request's inputs as arrays of the model's datatypes, and the outputs it wants
    (None: all of them)."""

    id: str | None
    inputs: Mapping[str, np.ndarray[Any, Any]]
    outputs: tuple[str, ...] | None


def parse_request(
    body: Any,
    inputs: Sequence[TensorSpec],
    outputs: Sequence[TensorSpec],
    any_input_name: bool = False,
) -> InferRequest:
    """The request ``body`` checked against a model's ``inputs`` and ``outputs``.

    With ``any_input_name``, a model with one input takes a request's one input whatever its
    name (KServe's scikit-learn server does: clients send ``input-0``, ``input``, ...)."""
    if not isinstance(body, dict):
        raise ProtocolError("the request must be a JSON object with 'inputs'")
    request_id = body.get("id")
    if request_id is not None and not isinstance(request_id, str):
        raise ProtocolError(f"'id' must be a string (given: {request_id!r})")
    given = body.get("inputs")
    if not isinstance(given, list) or not given:
        raise ProtocolError("'inputs' must be a non-empty list of tensors")
    by_name = {spec.name: spec for spec in inputs}
    arrays: dict[str, np.ndarray[Any, Any]] = {}
    for i, tensor in enumerate(given):
        where = f"inputs[{i}]"
        if not isinstance(tensor, dict) or not isinstance(tensor.get("name"), str):
            raise ProtocolError(f"{where} must be an object with a string 'name'")
        name = tensor["name"]
        if any_input_name and len(inputs) == 1 and len(given) == 1:
            spec = inputs[0]
        elif name in by_name:
            spec = by_name[name]
        else:
            raise ProtocolError(
                f"{where}: unknown input {name!r}; the model takes {_listed(inputs)}"
            )
        if spec.name in arrays:
            raise ProtocolError(f"{where}: input {name!r} is given twice")
        arrays[spec.name] = decode(tensor, spec, f"{where} ({name!r})")
    missing = [spec.name for spec in inputs if spec.name not in arrays]
    if missing:
        raise ProtocolError(f"missing inputs {missing}; the model takes {_listed(inputs)}")
    return InferRequest(request_id, arrays, _wanted(body.get("outputs"), outputs))


def _wanted(given: Any, outputs: Sequence[TensorSpec]) -> tuple[str, ...] | None:
    if given is None:
        return None
    if not isinstance(given, list):
        raise ProtocolError("'outputs' must be a list of {'name': ...}")
    known = {spec.name for spec in outputs}
    names = []
    for i, out in enumerate(given):
        name = out.get("name") if isinstance(out, dict) else None
        if name not in known:
            raise ProtocolError(
                f"outputs[{i}]: unknown output {name!r}; the model gives {_listed(outputs)}"
            )
        names.append(str(name))
    return tuple(dict.fromkeys(names))


def decode(tensor: Mapping[str, Any], spec: TensorSpec, where: str) -> np.ndarray[Any, Any]:
    """One request tensor as an array of ``spec``'s datatype and of the shape it says."""
    shape = tensor.get("shape")
    if not isinstance(shape, list) or not all(
        isinstance(d, int) and not isinstance(d, bool) and d >= 0 for d in shape
    ):
        raise ProtocolError(f"{where}: 'shape' must be a list of non-negative integers")
    datatype = tensor.get("datatype")
    if datatype not in DTYPES:
        raise ProtocolError(f"{where}: datatype {datatype!r} is not one of {sorted(DTYPES)}")
    if (datatype == "BYTES") != (spec.datatype == "BYTES"):
        raise ProtocolError(f"{where}: datatype {datatype} given, the model takes {spec.datatype}")
    if "data" not in tensor:
        raise ProtocolError(f"{where}: 'data' is missing")
    try:
        array = np.asarray(tensor["data"], dtype=DTYPES[datatype])
    except (TypeError, ValueError, OverflowError) as exc:
        raise ProtocolError(f"{where}: 'data' is not {datatype} values ({exc})") from None
    if array.size != math.prod(shape):
        raise ProtocolError(
            f"{where}: 'data' has {array.size} elements, shape {shape} needs {math.prod(shape)}"
        )
    array = array.reshape(shape)
    if spec.shape and (
        len(spec.shape) != len(shape)
        or any(want not in (-1, got) for want, got in zip(spec.shape, shape, strict=True))
    ):
        raise ProtocolError(f"{where}: shape {shape} given, the model takes {list(spec.shape)}")
    return _cast(array, DTYPES[spec.datatype], datatype, spec, where)


def _cast(
    array: np.ndarray[Any, Any], target: np.dtype[Any], given: str, spec: TensorSpec, where: str
) -> np.ndarray[Any, Any]:
    """``array`` as ``target``: JSON numbers carry no width, so a number is taken for any
    numeric datatype it fits, but a fraction is never cut to an integer."""
    if array.dtype == target:
        return array
    if np.can_cast(array.dtype, target, "same_kind"):
        return array.astype(target)
    cast = array.astype(target)
    if not np.array_equal(cast, array):
        raise ProtocolError(f"{where}: {given} values do not fit the model's {spec.datatype} input")
    return cast


def encode(name: str, array: np.ndarray[Any, Any]) -> dict[str, Any]:
    """A response output: the data flat, row-major; BYTES as strings."""
    datatype = datatype_of(array.dtype)
    flat = array.reshape(-1)
    if datatype == "BYTES":
        data: list[Any] = [v.decode() if isinstance(v, bytes) else str(v) for v in flat]
    else:
        data = flat.tolist()
    return {"name": name, "datatype": datatype, "shape": list(array.shape), "data": data}


def _listed(specs: Sequence[TensorSpec]) -> str:
    return ", ".join(f"{s.name} ({s.datatype} {list(s.shape)})" for s in specs) or "none"
