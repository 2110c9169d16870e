from __future__ import annotations

import copy
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from aiplane.core.errors import Problem, SpecError

EXAMPLES = Path(__file__).parents[2] / "examples"
SHARED_CATALOG = Path(__file__).parents[2] / ".." / "shared" / "data" / "catalog"


def problems_of(call: Callable[[], object]) -> list[Problem]:
    with pytest.raises(SpecError) as info:
        call()
    assert info.value.problems
    return info.value.problems


def example(name: str) -> dict[str, Any]:
    with open(EXAMPLES / name) as f:
        document: dict[str, Any] = yaml.safe_load(f)
    return copy.deepcopy(document)
