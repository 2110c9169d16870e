"""The injection detector's linear model: weights per hashed n-gram bucket and per hand-made
feature, and a bias. Trained by ``scripts/guards/train_injection.py``; shipped in the package
as ``injection_model.npz`` (float16 n-gram weights, float32 dense weights; decision 0071).

Loading reads a file of the package itself through ``importlib.resources`` (the one way that
works from a wheel, a zip or a source tree), once and lazily, on the first call that needs it:
no network, no environment, nothing outside the installed package.
"""

from __future__ import annotations

import io
from dataclasses import dataclass
from functools import cache
from importlib import resources

import numpy as np
import numpy.typing as npt

from aiplane.core.guards.features import DENSE, DIM

WEIGHTS_FILE = "injection_model.npz"
FORMAT = 1


@dataclass(frozen=True)
class InjectionModel:
    ngram: npt.NDArray[np.float32]  # DIM weights, one per hashed bucket
    dense: npt.NDArray[np.float32]  # one per name in features.DENSE
    bias: float

    def __post_init__(self) -> None:
        if self.ngram.shape != (DIM,) or self.dense.shape != (len(DENSE),):
            raise ValueError("the model's shape does not match the features it scores")

    def to_bytes(self) -> bytes:
        out = io.BytesIO()
        np.savez_compressed(
            out,
            format=np.array(FORMAT),
            ngram=self.ngram.astype(np.float16),
            dense=self.dense.astype(np.float32),
            bias=np.array(self.bias, dtype=np.float64),
            dense_names=np.array(DENSE),
        )
        return out.getvalue()

    @classmethod
    def from_bytes(cls, data: bytes) -> InjectionModel:
        with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
            if int(arrays["format"]) != FORMAT or tuple(arrays["dense_names"]) != DENSE:
                raise ValueError("the weights file was written for other features")
            return cls(
                arrays["ngram"].astype(np.float32),
                arrays["dense"].astype(np.float32),
                float(arrays["bias"]),
            )


@cache
def shipped() -> InjectionModel:
    """The model that ships with the package (read once)."""
    data = resources.files("aiplane.core.guards").joinpath(WEIGHTS_FILE).read_bytes()
    return InjectionModel.from_bytes(data)
