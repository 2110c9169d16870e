"""A scikit-learn estimator: one 2-D input, ``predict`` and, when it has one,
``predict_proba``."""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

import numpy as np

from aiplane.modelserver.model import Arrays
from aiplane.modelserver.tensors import TensorSpec, datatype_of

# KServe's name for an sklearn model's one input; a request's single input is taken whatever
# it is called (tensors.parse_request).
INPUT = "input-0"
PREDICT = "predict"
PROBA = "predict_proba"


class SklearnModel:
    platform = "sklearn"
    batchable = True  # an estimator predicts each row on its own
    any_input_name = True  # clients send "input-0", "input", "X", ...

    def __init__(self, estimator: Any) -> None:
        self._estimator = estimator
        features = getattr(estimator, "n_features_in_", None)
        self.inputs = (
            TensorSpec(INPUT, "FP64", (-1, features if isinstance(features, int) else -1)),
        )
        classes = getattr(estimator, "classes_", None)
        label = "FP64" if classes is None else datatype_of(np.asarray(classes).dtype)
        outputs = [TensorSpec(PREDICT, label, (-1,))]
        # ``hasattr`` is the estimator's own answer: an SVC without probability=True says no.
        if hasattr(estimator, PROBA) and classes is not None:
            outputs.append(TensorSpec(PROBA, "FP64", (-1, len(classes))))
        self.outputs = tuple(outputs)

    def predict(self, inputs: Arrays, outputs: Collection[str]) -> dict[str, np.ndarray[Any, Any]]:
        rows = inputs[INPUT]
        found = {}
        if PREDICT in outputs:
            found[PREDICT] = np.asarray(self._estimator.predict(rows))
        if PROBA in outputs:
            found[PROBA] = np.asarray(self._estimator.predict_proba(rows))
        return found
