"""Tiresias-style two-dimensional least attained service (2D-LAS), discretised into two queues.

Attained service is GPUs x time run (both dimensions of a job's size, as in Tiresias's 2DAS).
A job whose attained service is below ``threshold_gpu_s`` is in the high queue, otherwise in the
low queue; inside a queue jobs go in submission order (FIFO), as in Tiresias's discretised
2DAS. Nothing needs to know durations.

Preemptive: a high-queue job that does not fit may stop low-queue running jobs, the latest
submitted first (the lowest priority in FIFO order), only as many as it needs. Jobs are never
preempted for another job of their own queue, which would only trade places and lose work.

Starvation: a low-queue job that has waited ``promote_knob`` times as long as it has run goes
back to the high queue (Tiresias's promotion; 0 turns it off). The snapshot does not say when a
job last ran, so waiting is counted since submission, less the time it ran.

Defaults: a threshold of 18,000 GPU-seconds (5 GPU-hours), as used by the Helios study's
Tiresias baseline on Philly-like traces, and a promotion knob of 8.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiplane.core.resources import Resources
from aiplane.core.scheduling.decisions import Decision, Preempt
from aiplane.core.scheduling.greedy import (
    CycleCapacity,
    OfferCache,
    Option,
    Placer,
    replicas_fitting,
)
from aiplane.core.scheduling.snapshot import PendingRun, RunningRun, Snapshot
from aiplane.core.workloads import Workload

_EXPLANATION = {"policy": "las", "order": "2D-LAS: two queues by attained GPU-service"}


@dataclass(frozen=True)
class LasSettings:
    threshold_gpu_s: float = 18_000.0
    promote_knob: float = 8.0
    preemption: bool = True
    max_preemptions_per_cycle: int = 1_000


def _gpus(workload: Workload) -> float:
    options = workload.accelerators
    return (options[0].count if options else 0.0) * workload.replicas


def running_service(run: RunningRun, now: float) -> float:
    """Attained GPU-seconds of a running run: earlier attempts plus this one so far."""
    return run.attained_gpu_s + run.gpus * max(0.0, now - run.started_at)


class TwoDimensionalLas:
    name = "las"

    def __init__(self, settings: LasSettings | None = None) -> None:
        self.settings = settings or LasSettings()
        self._cache = OfferCache()

    def queue(self, run: PendingRun, now: float) -> int:
        s = self.settings
        if run.attained_gpu_s < s.threshold_gpu_s:
            return 0
        gpus = _gpus(run.workload)
        ran = run.attained_gpu_s / gpus if gpus > 0 else 0.0
        waited = now - run.submitted_at - ran
        if s.promote_knob > 0 and waited >= s.promote_knob * ran:
            return 0
        return 1

    def decide(self, snapshot: Snapshot) -> list[Decision]:
        out: list[Decision] = []
        if not snapshot.pending:
            return out
        now = snapshot.now
        s = self.settings
        placer = Placer(snapshot, self._cache, _EXPLANATION)
        victims: list[RunningRun] | None = None
        can_preempt = s.preemption and bool(snapshot.running)
        if placer.capacity.exhausted() and not can_preempt:
            return out
        preempted = 0
        keyed = [(self.queue(r, now), r.submitted_at, r.run_id, r) for r in snapshot.pending]
        keyed.sort(key=lambda k: k[:3])
        for queue, _, _, run in keyed:
            if placer.try_place(run, out):
                continue
            if queue == 0 and can_preempt and preempted < s.max_preemptions_per_cycle:
                if victims is None:
                    victims = self._low_queue(snapshot.running, now)
                chosen = _preempt_for(run, placer, victims)
                if chosen:
                    for victim in chosen:
                        placer.capacity.give_back(victim)
                        victims.remove(victim)
                        out.append(
                            Preempt(
                                victim.run_id, run.run_id, "2D-LAS: a high-queue job needs room"
                            )
                        )
                    preempted += len(chosen)
                    placer.try_place(run, out)
                    continue
                if not victims:
                    can_preempt = False
            if placer.capacity.exhausted() and not can_preempt:
                break
        return out

    def _low_queue(self, running: Sequence[RunningRun], now: float) -> list[RunningRun]:
        """Preemptible runs, the lowest priority first (latest submitted)."""
        threshold = self.settings.threshold_gpu_s
        low = [r for r in running if running_service(r, now) >= threshold]
        low.sort(key=lambda r: (r.submitted_at, r.run_id), reverse=True)
        return low


def _preempt_for(
    run: PendingRun, placer: Placer, victims: list[RunningRun]
) -> list[RunningRun] | None:
    """The fewest low-queue victims, lowest priority first, after whose removal ``run``'s
    whole gang fits in one of its feasible pools; None if no set of victims is enough."""
    replicas = run.workload.replicas
    capacity = placer.capacity
    for option in placer.options(run):
        in_pool = [v for v in victims if v.placement.pool == option.pool]
        if not in_pool:
            continue
        enough = _enough(option, replicas, capacity)
        chosen: list[RunningRun] = []
        for victim in in_pool:
            chosen.append(victim)
            if enough(chosen):
                break
        else:
            continue
        # Spare the highest-priority victims that turned out not to be needed.
        for victim in list(reversed(chosen)):
            trial = [v for v in chosen if v is not victim]
            if trial and enough(trial):
                chosen = trial
        return chosen
    return None


def _enough(
    option: Option, replicas: int, capacity: CycleCapacity
) -> Callable[[list[RunningRun]], bool]:
    """Whether ``replicas`` copies of the option's need fit once ``victims`` are gone.

    Identical replicas fit a set of nodes exactly when the replicas each node can hold on its
    own add up to enough, so this needs no trial packing.
    """
    need, pool = option.need, option.pool

    def check(victims: list[RunningRun]) -> bool:
        freed: dict[str, Resources] = {}
        for victim in victims:
            for a in victim.placement.assignments:
                extra = Resources(a.gpus, a.cpus, a.memory_gib)
                freed[a.node] = freed[a.node] + extra if a.node in freed else extra
        room = 0
        for node_id, extra in freed.items():
            room += replicas_fitting(need, capacity.free_of(pool, node_id) + extra)
        # Nodes no victim touches: their free capacity is already known not to be enough
        # on its own, but it adds up with the victims' nodes.
        room += capacity.replicas_elsewhere(pool, need, set(freed))
        return room >= replicas

    return check
