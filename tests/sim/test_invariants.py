"""Over random small traces, every policy leaves zero violations and zero partial gangs."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aiplane.core.scheduling.baselines.fifo import Fifo
from aiplane.core.scheduling.baselines.las import LasSettings, TwoDimensionalLas
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.core.scheduling.baselines.sjf import ShortestJobFirst
from aiplane.core.scheduling.engine import Engine
from aiplane.core.scheduling.policy import SchedulingPolicy
from aiplane.core.workloads import SpotPolicy
from aiplane.sim.driver import SimOptions
from aiplane.sim.jobs import ShapeOptions, TraceJob
from tests.sim.helpers import prepared, simulate, small_fleet, with_workloads

POLICIES: dict[str, Callable[[], SchedulingPolicy]] = {
    "fifo": Fifo,
    "sjf": ShortestJobFirst,
    # A low threshold so that short random traces exercise preemption.
    "las": lambda: TwoDimensionalLas(LasSettings(threshold_gpu_s=600)),
    "aiplane": Engine,
    "priority-best-fit": PriorityBestFit,
}

job = st.tuples(
    st.floats(0, 5000),
    st.floats(1, 20_000),
    st.sampled_from([0.5, 1, 1, 2, 3, 4, 8, 12, 16]),
    st.sampled_from([SpotPolicy.ALLOWED, SpotPolicy.NEVER, SpotPolicy.REQUIRED]),
)


@pytest.mark.parametrize("name", list(POLICIES))
@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(specs=st.lists(job, min_size=1, max_size=25), spot=st.sampled_from([0.0, 0.8]))
def test_no_violation_no_partial_gang_every_job_done(
    name: str, specs: list[tuple[float, float, float, SpotPolicy]], spot: float
) -> None:
    f = small_fleet(spot_rate=spot)
    trace = [TraceJob(f"j{i}", s, d, g) for i, (s, d, g, _) in enumerate(specs)]
    p = prepared(f, trace, ShapeOptions(checkpoint_minutes=10, oracle_estimates=True))
    policies = {j.id: sp for j, (_, _, _, sp) in zip(trace, specs, strict=True)}
    workloads = []
    for w in p.workloads:
        wanted = policies[w.name]
        if wanted is SpotPolicy.REQUIRED and (
            not spot
            or w.replicas > 2
            or w.accelerators[0].count > 8
            or "H100-80GB" not in [o.name for o in w.accelerators]
        ):
            wanted = SpotPolicy.ALLOWED  # only where the spot pool can take it
        workloads.append(replace(w, spot=wanted))
    result = simulate(f, with_workloads(p, workloads), POLICIES[name](), SimOptions(seed=1))
    s, c = result.summary, result.counters
    assert (s.violations, s.partial_gangs, c.over_allocations) == (0, 0, 0), c.violation_examples
    assert c.stale_decisions == 0
    assert s.finished == len(p.jobs)
    assert result.series.busy_gpus[-1] == pytest.approx(0.0)
