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

from collections.abc import Sequence
from dataclasses import dataclass

from aiplane.core.scheduling.baselines.placer import (
    OfferCache,
    Option,
    Placer,
)
from aiplane.core.scheduling.decisions import Decision, Preempt
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
        can_preempt = s.preemption and bool(snapshot.running)
        if placer.capacity.exhausted() and not can_preempt:
            return out
        keyed = [(self.queue(r, now), r.submitted_at, r.run_id, r) for r in snapshot.pending]
        keyed.sort(key=lambda k: k[:3])
        search = _VictimSearch(self, snapshot, placer) if can_preempt else None
        for queue, _, _, run in keyed:
            if placer.try_place(run, out):
                continue
            if queue == 0 and search is not None and search.usable():
                chosen = search.victims_for(run)
                if chosen:
                    reason = "2D-LAS: a high-queue job needs room"
                    out.extend(Preempt(v.run_id, run.run_id, reason) for v in chosen)
                    placer.try_place(run, out)
                    continue
            if placer.capacity.exhausted() and (
                queue == 1 or search is None or not search.usable()
            ):
                break  # nothing fits, and nothing behind may preempt
        return out

    def low_queue(self, running: Sequence[RunningRun], now: float) -> list[RunningRun]:
        """Preemptible runs, the lowest priority first (latest submitted)."""
        threshold = self.settings.threshold_gpu_s
        low = [r for r in running if running_service(r, now) >= threshold]
        low.sort(key=lambda r: (r.submitted_at, r.run_id), reverse=True)
        return low


class _VictimSearch:
    """Finds low-queue victims for high-queue runs within one cycle.

    Counting is incremental: identical replicas fit a set of nodes exactly when the replicas
    each node can hold on its own add up to enough, so adding a victim only recounts its nodes.
    A request that found no victims in a pool rules out every larger request there this cycle.
    """

    def __init__(self, las: TwoDimensionalLas, snapshot: Snapshot, placer: Placer) -> None:
        self._las = las
        self._snapshot = snapshot
        self._placer = placer
        self._by_pool: dict[str, list[RunningRun]] | None = None
        self._failed: dict[str, list[tuple[float, int]]] = {}
        self._held: dict[str, float] = {}  # GPUs of the low-queue runs per pool
        self.preempted = 0

    def usable(self) -> bool:
        s = self._las.settings
        if self.preempted >= s.max_preemptions_per_cycle:
            return False
        return self._by_pool is None or any(self._by_pool.values())

    def _pools(self) -> dict[str, list[RunningRun]]:
        if self._by_pool is None:
            self._by_pool = {}
            for run in self._las.low_queue(self._snapshot.running, self._snapshot.now):
                self._by_pool.setdefault(run.placement.pool, []).append(run)
                key = run.placement.pool
                self._held[key] = self._held.get(key, 0.0) + run.gpus
        return self._by_pool

    def victims_for(self, run: PendingRun) -> list[RunningRun] | None:
        replicas = run.workload.replicas
        for option in self._placer.options(run):
            candidates = self._pools().get(option.pool)
            if not candidates:
                continue
            failed = self._failed.setdefault(option.pool, [])
            need = option.need
            if any(need.gpus >= g - 1e-9 and replicas >= r for g, r in failed):
                continue
            chosen = self._choose(option, replicas, candidates)
            if chosen is None:
                failed.append((need.gpus, replicas))
                continue
            for victim in chosen:
                self._placer.capacity.give_back(victim)
                self._held[option.pool] -= victim.gpus
            gone = {id(v) for v in chosen}  # by identity: dataclass equality is slow here
            candidates[:] = [c for c in candidates if id(c) not in gone]
            self.preempted += len(chosen)
            return chosen
        return None

    def _choose(
        self, option: Option, replicas: int, candidates: list[RunningRun]
    ) -> list[RunningRun] | None:
        capacity, need, pool = self._placer.capacity, option.need, option.pool
        wants = [(i, w) for i, w in enumerate((need.gpus, need.cpus, need.memory_gib)) if w > 0]
        if need.gpus * replicas > capacity.room_gpus(pool) + self._held[pool] + 1e-9:
            return None  # even every low-queue run in the pool would not be enough
        # Plain floats, not Resources: this loop may visit every low-queue run in the pool.
        base: dict[str, tuple[float, float, float]] = {}
        freed: dict[str, list[float]] = {}

        def fits(node: str, extra: list[float] | None) -> int:
            free = base.get(node)
            if free is None:
                r = capacity.free_of(pool, node)
                free = base[node] = (r.gpus, r.cpus, r.memory_gib)
            if not wants:
                return 1_000_000
            if extra is None:
                return min(int((free[i] + 1e-9) // w) for i, w in wants)
            return min(int((free[i] + extra[i] + 1e-9) // w) for i, w in wants)

        def change(victim: RunningRun, sign: float) -> int:
            """Apply (+1) or undo (-1) a victim's capacity; returns the change in count."""
            delta = 0
            for a in victim.placement.assignments:
                before = freed.get(a.node)
                had = fits(a.node, before)
                after = before if before is not None else [0.0, 0.0, 0.0]
                after[0] += sign * a.gpus
                after[1] += sign * a.cpus
                after[2] += sign * a.memory_gib
                freed[a.node] = after
                delta += fits(a.node, after) - had
            return delta

        count = capacity.replicas_elsewhere(pool, need, set())
        chosen: list[RunningRun] = []
        for victim in candidates:
            chosen.append(victim)
            count += change(victim, 1.0)
            if count >= replicas:
                break
        else:
            return None
        # Spare the highest-priority victims that turned out not to be needed.
        kept = len(chosen)
        spared: set[int] = set()
        for victim in reversed(chosen):
            loss = change(victim, -1.0)
            if count + loss >= replicas and kept > 1:
                count += loss
                kept -= 1
                spared.add(id(victim))
            else:
                change(victim, 1.0)
        return [v for v in chosen if id(v) not in spared]
