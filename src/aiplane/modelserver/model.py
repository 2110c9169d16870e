"""What the server asks of a loaded model, whatever its flavour."""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any, Protocol

import numpy as np

from aiplane.modelserver.tensors import TensorSpec

Arrays = Mapping[str, np.ndarray[Any, Any]]


class ServedModel(Protocol):
    """A model ready to predict. ``batchable``: the rows along the first axis of every input
    and output are independent, so requests may be stacked into one call and split after."""

    @property
    def platform(self) -> str: ...

    @property
    def inputs(self) -> tuple[TensorSpec, ...]: ...

    @property
    def outputs(self) -> tuple[TensorSpec, ...]: ...

    @property
    def batchable(self) -> bool: ...

    @property
    def any_input_name(self) -> bool:
        """Whether a request's one input is taken whatever its name (the model's input name
        is the server's invention, not the model's)."""
        ...

    def predict(self, inputs: Arrays, outputs: Collection[str]) -> dict[str, np.ndarray[Any, Any]]:
        """The ``outputs`` named for ``inputs`` (already checked against ``self.inputs``).
        Called from one worker thread at a time."""
        ...
