"""Choosing policies and engine settings by name, as the CLI does."""

from __future__ import annotations

import pytest

from aiplane.core.errors import SpecError
from aiplane.core.scheduling.engine import Engine
from aiplane.sim.policies import parse, parse_settings


def test_names_and_labels() -> None:
    choices = parse("fifo, sjf,las,aiplane,fifo")
    assert [c.name for c in choices] == ["fifo", "sjf", "las", "aiplane"]
    assert [c.oracle for c in choices] == [False, True, False, False]
    assert isinstance(choices[3].make(), Engine) and choices[3].label == "aiplane"
    assert parse("tiresias")[0].name == "las"
    with pytest.raises(SpecError, match="unknown policy"):
        parse("fifo,magic")
    with pytest.raises(SpecError):
        parse(" , ")


def test_engine_settings() -> None:
    s = parse_settings(["starvation_age_s=86400", "backfill=false", "ordering=fifo",
                        "time_value_usd_per_hour=2.5", "max_reservations=2"])  # fmt: skip
    assert (s.starvation_age_s, s.backfill, s.ordering) == (86400.0, False, "fifo")
    assert (s.time_value_usd_per_hour, s.max_reservations) == (2.5, 2)
    for bad in ("nope=1", "backfill=maybe", "max_reservations=two", "seed"):
        with pytest.raises(SpecError):
            parse_settings([bad])
