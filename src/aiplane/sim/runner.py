"""Run one trace through several policies on one fleet: what ``aiplane simulate`` does."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace

from aiplane.core.fleet import Fleet
from aiplane.sim.driver import SimOptions, SimResult, Simulator
from aiplane.sim.jobs import Prepared, ShapeOptions, Shaper, TraceJob, prepare
from aiplane.sim.policies import PolicyChoice

Progress = Callable[[int, int], None]


@dataclass
class Comparison:
    results: dict[str, SimResult]
    labels: dict[str, str]
    dropped: dict[str, str]


def prepare_for(fleet: Fleet, jobs: Sequence[TraceJob], shape: ShapeOptions) -> Prepared:
    return prepare(jobs, Shaper(fleet, shape))


def compare(
    fleet: Fleet,
    jobs: Sequence[TraceJob],
    policies: Sequence[PolicyChoice],
    shape: ShapeOptions | None = None,
    options: SimOptions | None = None,
    progress: Callable[[PolicyChoice], Progress | None] | None = None,
) -> Comparison:
    shape = shape or ShapeOptions()
    plain = prepare_for(fleet, jobs, replace(shape, oracle_estimates=False))
    oracle: Prepared | None = None
    results: dict[str, SimResult] = {}
    labels: dict[str, str] = {}
    for choice in policies:
        if choice.oracle:
            if oracle is None:
                oracle = prepare_for(fleet, jobs, replace(shape, oracle_estimates=True))
            prepared = oracle
        else:
            prepared = plain
        sim = Simulator(fleet, prepared, choice.make(), options, policy_name=choice.name)
        results[choice.name] = sim.run(progress(choice) if progress else None)
        labels[choice.name] = choice.label
    return Comparison(results, labels, dict(plain.dropped))
