from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from .drivers import MEMBERS, Driver, driver_for


@pytest.fixture(params=MEMBERS)
def driver(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Driver]:
    member = driver_for(request.param, tmp_path)
    yield member
    member.cleanup()
