"""Usage intervals: one execution attempt of a run, on one placement, from start to end.

A run that is preempted and requeued gets a new placement and a new attempt, so it leaves one
interval per attempt; the cost engine prices intervals, never runs, which is why a requeued run
is metered exactly for the capacity it held.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

# Labels read from a workload to name the model it trains or serves, in this order.
MODEL_LABEL = "model"
MODEL_ENV = ("AIPLANE_MODEL", "MODEL_NAME")


@dataclass(frozen=True, slots=True)
class UsageInterval:
    """Capacity held by one attempt of a run.

    ``usd_per_hour`` is the placement's price for all replicas together, fixed when the run was
    placed (the price in force then, not today's). ``gpus`` counts all replicas. Egress is the
    data moved to the site for this attempt: ``egress_gb`` at ``egress_usd`` in all, priced by
    the sites the data left. ``outcome`` is the state the attempt ended in, or ``running`` for
    an interval still open (``end`` is then the time it was computed).
    """

    run_id: str
    job_id: str
    attempt: int
    team: str
    workload: str
    site: str
    pool: str  # the pool's key, "site/name"
    pricing: str  # a PricingModel value
    accelerator: str | None
    gpus: float
    start: float
    end: float
    usd_per_hour: float
    project: str | None = None
    model: str | None = None
    endpoint: str | None = None  # the endpoint the run is a replica of
    egress_gb: float = 0.0
    egress_usd: float = 0.0
    outcome: str = "succeeded"

    @property
    def hours(self) -> float:
        return max(0.0, self.end - self.start) / 3600.0

    @property
    def gpu_hours(self) -> float:
        return self.hours * self.gpus

    @property
    def list_usd(self) -> float:
        return self.hours * self.usd_per_hour


def usage_to_dict(u: UsageInterval) -> dict[str, object]:
    return {
        "run_id": u.run_id,
        "job_id": u.job_id,
        "attempt": u.attempt,
        "team": u.team,
        "workload": u.workload,
        "project": u.project,
        "model": u.model,
        "endpoint": u.endpoint,
        "site": u.site,
        "pool": u.pool,
        "pricing": u.pricing,
        "accelerator": u.accelerator,
        "gpus": u.gpus,
        "start": u.start,
        "end": u.end,
        "usd_per_hour": u.usd_per_hour,
        "egress_gb": u.egress_gb,
        "egress_usd": u.egress_usd,
        "outcome": u.outcome,
    }


def usage_from_dict(d: Mapping[str, Any]) -> UsageInterval:
    return UsageInterval(
        run_id=d["run_id"],
        job_id=d["job_id"],
        attempt=int(d["attempt"]),
        team=d["team"],
        workload=d["workload"],
        site=d["site"],
        pool=d["pool"],
        pricing=d["pricing"],
        accelerator=d.get("accelerator"),
        gpus=float(d["gpus"]),
        start=float(d["start"]),
        end=float(d["end"]),
        usd_per_hour=float(d["usd_per_hour"]),
        project=d.get("project"),
        model=d.get("model"),
        endpoint=d.get("endpoint"),
        egress_gb=float(d.get("egress_gb", 0.0)),
        egress_usd=float(d.get("egress_usd", 0.0)),
        outcome=d.get("outcome", "succeeded"),
    )
