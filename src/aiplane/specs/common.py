"""What fleet and workload specs share: the strict base model and the name rules."""

from __future__ import annotations

import os
from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field

NAME_PATTERN = r"^[a-z0-9][a-z0-9_.-]{0,62}$"
NAME_RULE = (
    "lower-case letters, digits, '-', '_' and '.', starting with a letter or digit, at most 63"
)


class SpecModel(BaseModel):
    """Strict: a misspelt field is an error, and ``"8"`` is not a number.

    Not a number that is not finite either: JSON bodies may carry ``Infinity`` and ``NaN``
    (Python's JSON reader accepts them), and an infinite price or duration breaks the
    arithmetic and the JSON answers downstream."""

    model_config = ConfigDict(extra="forbid", strict=True, frozen=True, allow_inf_nan=False)


Name = Annotated[str, Field(pattern=NAME_PATTERN, description=NAME_RULE)]
Text = Annotated[str, Field(min_length=1, description="a non-empty string")]
NonNegative = Annotated[float, Field(ge=0, description="a number >= 0")]
Positive = Annotated[float, Field(gt=0, description="a number > 0")]


def joined_workdir(given: str | None, base: str | None) -> str | None:
    """A document's ``workdir`` joined to ``base`` (the folder of the file it came from) when
    it is relative; ``base`` when the document names none."""
    if given is None:
        return base
    if base is not None and not os.path.isabs(given):
        return os.path.normpath(os.path.join(base, given))
    return given
