"""`aiplane plan`: simulate the current fleet and each candidate change, then recommend."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiplane.core.fleet import Fleet
from aiplane.sim.driver import SimOptions
from aiplane.sim.jobs import ShapeOptions, TraceJob
from aiplane.sim.plan import Candidate, FleetEditor, Outcome, frontier, parse_candidate, recommend
from aiplane.sim.policies import PolicyChoice
from aiplane.sim.runner import Progress, compare


@dataclass
class PlanResult:
    outcomes: list[Outcome]
    best: Outcome | None
    reasons: list[str]
    value_usd_per_job_hour: float
    policy: str
    front: list[Outcome] = field(default_factory=list)

    def rows(self) -> list[list[str]]:
        out = []
        for o in self.outcomes:
            f = o.figures
            out.append([
                o.candidate.name + (" *" if o is self.best else ""),
                f"{f['capacity_cost_usd']:,.0f}",
                f"{f['cost_usd']:,.0f}",
                f"{f['avg_jct_s'] / 3600:.2f}h",
                f"{f['p99_jct_s'] / 3600:.1f}h",
                f"{f['avg_queue_s'] / 3600:.2f}h",
                f"{f['gpu_utilization']:.1%}",
                "yes" if o in self.front else "",
            ])  # fmt: skip
        return out

    def as_dict(self) -> dict[str, Any]:
        return {
            "policy": self.policy,
            "value_usd_per_job_hour": round(self.value_usd_per_job_hour, 4),
            "recommendation": self.best.candidate.name if self.best else None,
            "reasons": self.reasons,
            "frontier": [o.candidate.name for o in self.front],
            "candidates": [
                {"name": o.candidate.name, "changes": list(o.notes), **o.figures}
                for o in self.outcomes
            ],
        }


def default_value_of_time(fleet: Fleet, jobs: Sequence[TraceJob]) -> float:
    """A job-hour is worth what the average job's GPUs cost for an hour on this fleet."""
    gpus = rate = 0.0
    for pool in fleet.pools():
        if pool.node.gpus:
            count = pool.node.gpus * pool.nodes_max
            gpus += count
            rate += pool.pricing.usd_per_node_hour / pool.node.gpus * count
    mean_rate = rate / gpus if gpus else 0.0
    mean_gpus = sum(j.gpus for j in jobs) / len(jobs) if jobs else 1.0
    return mean_rate * mean_gpus


def run_plan(
    fleet_path: str | Path,
    jobs: Sequence[TraceJob],
    candidates: Sequence[str],
    policy: PolicyChoice,
    shape: ShapeOptions,
    options: SimOptions,
    value_usd_per_job_hour: float | None = None,
    progress: Callable[[PolicyChoice], Progress | None] | None = None,
) -> PlanResult:
    from aiplane.pricing.catalog import CatalogPriceBook
    from aiplane.specs import fleet_from_document, load_fleet_document

    document = load_fleet_document(fleet_path)
    editor = FleetEditor(document, CatalogPriceBook.default)
    parsed = [Candidate("current fleet")] + [parse_candidate(c) for c in candidates]
    fleets: list[tuple[Candidate, Fleet, list[str]]] = []
    for candidate in parsed:  # every candidate is checked before any is simulated
        doc, notes = editor.apply(candidate)
        fleets.append((candidate, fleet_from_document(doc, str(fleet_path)), notes))
    outcomes = []
    for candidate, fleet, notes in fleets:
        labelled = PolicyChoice(policy.name, candidate.name[:24], policy.make, policy.oracle)
        comparison = compare(fleet, jobs, [labelled], shape, options, progress)
        summary = comparison.results[policy.name].summary
        outcomes.append(Outcome(candidate, tuple(notes), summary.as_dict()))
    value = value_usd_per_job_hour
    if value is None:
        value = default_value_of_time(fleets[0][1], jobs)
    best, reasons = recommend(outcomes, value)
    return PlanResult(outcomes, best, reasons, value, policy.label, frontier(outcomes))
