"""The simulator replays quota reclaim with the live engine's hold (issue 10, fault (d)).

A small trace: team b borrows team a's whole nominal quota for an hour, and a submits a
4-second job every 6 seconds for 40 seconds. Each of a's jobs gets its quota back at once;
b's job is reclaimed by the first and then kept off the borrowed quota for the minimum
runtime, instead of going back on it between a's jobs to be reclaimed by the next.
"""

from __future__ import annotations

import pytest

from aiplane.core.errors import SpecError
from aiplane.core.fleet import PricingModel, Team
from aiplane.core.scheduling.engine import Engine
from aiplane.core.scheduling.snapshot import SchedulerSettings
from aiplane.sim.driver import SimOptions, SimResult
from aiplane.sim.jobs import TraceJob
from aiplane.sim.policies import parse_settings
from tests.builders import fleet, pool, site
from tests.sim.helpers import prepared, simulate

H100 = "H100-80GB"
FLEET = fleet(
    site("dc", pools=(pool(site="dc", name="p", nodes=1, model=PricingModel.OWNED),)),
    teams=(Team("a", cohort="ml", quota={H100: 8}), Team("b", cohort="ml", quota={H100: 0})),
)
TRACE = [TraceJob("long", 0.0, 3600.0, 8, team="b")] + [
    TraceJob(f"a{k}", 1.0 + 6 * k, 4.0, 8, team="a") for k in range(7)
]


def replay(settings: SchedulerSettings | None = None) -> SimResult:
    options = SimOptions(spot_interruptions=False, settings=settings or SchedulerSettings())
    return simulate(FLEET, prepared(FLEET, TRACE), Engine(), options)


def test_the_borrower_is_reclaimed_once_and_the_lender_never_waits() -> None:
    result = replay()
    records = {r.id: r for r in result.records}
    assert records["long"].preemptions == 1  # before the fix: 7, one per job of a
    assert result.summary.preemptions == 1
    assert all(records[f"a{k}"].queue_s == 0 for k in range(7))
    # b's job starts again when the hold ends, 300 s after the reclaim at 1 s, though nothing
    # else happens then: the replay wakes for it as the live loop's tick would.
    assert records["long"].finish_s == 1.0 + 300 + 3600


def test_a_zero_window_replays_the_thrash() -> None:
    result = replay(SchedulerSettings(reclaim_min_runtime_s=0.0))
    assert {r.id: r for r in result.records}["long"].preemptions == 7


@pytest.mark.parametrize("text", ["-1", "inf", "nan"])
def test_the_window_setting_is_checked_and_named(text: str) -> None:
    with pytest.raises(SpecError) as caught:
        parse_settings([f"reclaim_min_runtime_s={text}"])
    [problem] = caught.value.problems
    assert "reclaim_min_runtime_s" in problem.render()
    assert "a finite number of seconds >= 0" in problem.render()
    assert parse_settings(["reclaim_min_runtime_s=60"]).reclaim_min_runtime_s == 60.0
