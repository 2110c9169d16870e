"""Models the model server's tests serve: a tiny logistic regression trained here, the same
as an ONNX graph (skl2onnx), and an estimator that counts the calls it is given."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import joblib  # type: ignore[import-untyped]
import numpy as np
from sklearn.linear_model import LogisticRegression

FEATURES = 4


def rows(n: int, seed: int = 0) -> np.ndarray[Any, Any]:
    return np.random.default_rng(seed).normal(size=(n, FEATURES))


def trained() -> LogisticRegression:
    x = rows(120, seed=1)
    y = (x[:, 0] + x[:, 1] > 0).astype(np.int64) + (x[:, 2] > 1).astype(np.int64)
    return LogisticRegression(max_iter=500).fit(x, y)


def write_sklearn(folder: Path, estimator: Any | None = None) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    joblib.dump(estimator if estimator is not None else trained(), folder / "model.joblib")
    return folder


def write_onnx(folder: Path, estimator: LogisticRegression | None = None) -> Path:
    from skl2onnx import to_onnx  # type: ignore[import-untyped]

    folder.mkdir(parents=True, exist_ok=True)
    graph = to_onnx(
        estimator if estimator is not None else trained(),
        rows(1).astype(np.float32),
        # Probabilities as a tensor, not a sequence of maps: the protocol carries tensors.
        options={"zipmap": False},
        target_opset=17,
    )
    (folder / "model.onnx").write_bytes(graph.SerializeToString())
    return folder


class Counting:
    """An estimator's predict and predict_proba, counted; with ``gate`` set, each call waits
    for it (so that requests pile up behind the first)."""

    def __init__(self, estimator: LogisticRegression) -> None:
        self.estimator = estimator
        self.n_features_in_ = estimator.n_features_in_
        self.classes_ = estimator.classes_
        self.entered: list[int] = []  # rows per predict call begun
        self.calls: list[int] = []  # rows per predict call made
        self.gate: threading.Event | None = None

    def predict(self, x: np.ndarray[Any, Any]) -> Any:
        self.entered.append(len(x))
        if self.gate is not None:
            self.gate.wait(30)
        self.calls.append(len(x))
        if np.isnan(x).any():
            raise ValueError("Input contains NaN")
        return self.estimator.predict(x)

    def predict_proba(self, x: np.ndarray[Any, Any]) -> Any:
        return self.estimator.predict_proba(x)
