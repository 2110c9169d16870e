"""The discrete-event driver: the real scheduling core on a virtual clock.

Events are arrivals (from the trace, already in submission order), attempt finishes and spot
interruptions (in a heap). All events at one timestamp are applied, then one scheduling cycle
runs on an immutable :class:`Snapshot`, as the live control plane's loop would. With
``min_cycle_interval_s`` cycles are at least that far apart in virtual time (events still
apply at their own time), which bounds the cost of long, busy replays; ``tick_s`` adds a
cycle at that interval while work waits, like the live loop's tick.

The pending and running runs, the node table, the snapshot and the applier are the live
control plane's (``core.scheduling.state``): every decision is checked and ordered as there,
and what fails is counted, never applied: a Place whose assignments do not match the
workload's replicas (a partial gang), a placement into a pool the workload's constraints forbid
(re-checked with ``core.placement``), an over-allocated node or a short replica, and a
decision about a run that is no longer pending or running (stale). A correct policy leaves
them all at zero. What only a replay does (an attempt's end, its price, the job's record) is
its :class:`Effects`.
"""

from __future__ import annotations

import heapq
import math
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field

from aiplane.core.cost.attempts import attempt_rate
from aiplane.core.fleet import Fleet
from aiplane.core.runs import Placement
from aiplane.core.scheduling.apply import Refusal, Refused
from aiplane.core.scheduling.policy import SchedulingPolicy
from aiplane.core.scheduling.snapshot import RunningRun, SchedulerSettings
from aiplane.core.scheduling.state import (
    Applied,
    Effects,
    SchedulerState,
    Stopped,
    apply_decisions,
)
from aiplane.core.workloads import AcceleratorOption
from aiplane.sim.attempts import RUNNING, JobState, interruption_delay
from aiplane.sim.clock import VirtualClock
from aiplane.sim.costs import capacity_cost
from aiplane.sim.jobs import Prepared, Shape
from aiplane.sim.metrics import Counters, JobRecord, Series, Summary, summarise

_FINISH, _INTERRUPT = 0, 1
# Cycles at one virtual instant after preemptions: enough to use what preemption freed,
# never a loop with a policy that keeps preempting.
_MAX_FOLLOW_UPS = 2


@dataclass(frozen=True)
class SimOptions:
    seed: int = 0
    min_cycle_interval_s: float = 0.0
    tick_s: float = 0.0
    sample_interval_s: float = 3600.0
    spot_interruptions: bool = True
    settings: SchedulerSettings = field(default_factory=SchedulerSettings)


@dataclass
class SimResult:
    summary: Summary
    records: list[JobRecord]
    series: Series
    fragmentation: list[tuple[float, float]]
    counters: Counters


class Simulator:
    def __init__(
        self,
        fleet: Fleet,
        prepared: Prepared,
        policy: SchedulingPolicy,
        options: SimOptions | None = None,
        policy_name: str | None = None,
    ) -> None:
        self.fleet = fleet
        self.policy = policy
        self.name = policy_name or policy.name
        self.options = options or SimOptions()
        self.clock = VirtualClock()
        self.state = SchedulerState(fleet)
        self.nodes = self.state.nodes
        self.pending = self.state.pending
        self.running = self.state.running
        self.jobs = [
            JobState(i, j, w, s)
            for i, (j, w, s) in enumerate(
                zip(prepared.jobs, prepared.workloads, prepared.shapes, strict=True)
            )
        ]
        self.by_run = {s.job.id: s for s in self.jobs}
        self.effects = _Replay(self)
        self.counters = Counters()
        self.series = Series()
        self.cost_by_pricing: dict[str, float] = {}
        self.busy_gpu_s: dict[str, float] = {}
        self._first_submit = self.jobs[0].job.submit_s if self.jobs else 0.0
        self.fragmentation: list[tuple[float, float]] = []
        self._events: list[tuple[float, int, int, int, int]] = []
        self._seq = 0
        self._checkpoints: list[tuple[float, int, int]] = []
        self._waiting_shapes: Counter[Shape] = Counter()
        self._next_sample = 0.0
        self._arrived = 0  # jobs[:_arrived] have been submitted
        self._follow_ups = 0
        self._done = 0

    # -- the loop -------------------------------------------------------------------------

    def run(self, progress: Callable[[int, int], None] | None = None) -> SimResult:
        wall = time.perf_counter()
        jobs, events, opts = self.jobs, self._events, self.options
        total = len(jobs)
        next_cycle: float | None = None
        last_cycle = -math.inf
        steps = 0
        while True:
            t = min(
                jobs[self._arrived].job.submit_s if self._arrived < total else math.inf,
                events[0][0] if events else math.inf,
                next_cycle if next_cycle is not None else math.inf,
            )
            if t == math.inf:
                break
            self.nodes.advance(t)
            self.clock.advance_to(t)
            arrivals = self._submit_due(t)
            if self._end_due(t) or arrivals:
                due = max(t, last_cycle + opts.min_cycle_interval_s)
                next_cycle = due if next_cycle is None else min(next_cycle, due)
            if next_cycle is not None and next_cycle <= t:
                next_cycle = None
                if self.pending:
                    follow_up = self._cycle(t)
                    last_cycle = t
                    if follow_up:
                        next_cycle = t
                    elif opts.tick_s > 0 and self.pending:
                        next_cycle = t + opts.tick_s
                    hold_end = self._hold_end(t)
                    if hold_end is not None:
                        next_cycle = hold_end if next_cycle is None else min(next_cycle, hold_end)
            self.series.record(
                t, self.nodes.busy_gpus, self.nodes.up_gpus, len(self.pending), len(self.running)
            )
            steps += 1
            if progress is not None and steps % 2000 == 0:
                progress(self._done, total)
        if progress is not None:
            progress(self._done, total)
        return self._result(time.perf_counter() - wall)

    def _submit_due(self, t: float) -> bool:
        """Queue the jobs submitted by ``t``; True if there were any."""
        jobs, first = self.jobs, self._arrived
        while self._arrived < len(jobs) and jobs[self._arrived].job.submit_s <= t:
            self._enqueue(jobs[self._arrived])
            self._arrived += 1
        return self._arrived > first

    def _end_due(self, t: float) -> bool:
        """End the attempts that finish or are interrupted by ``t``; True if any did."""
        events, ended = self._events, False
        while events and events[0][0] <= t:
            _, _, kind, index, attempt = heapq.heappop(events)
            state = self.jobs[index]
            if state.state != RUNNING or state.attempt != attempt:
                continue  # stale: the attempt already ended
            self._end_attempt(state, t, finished=kind == _FINISH)
            ended = True
        return ended

    def _enqueue(self, state: JobState) -> None:
        self.state.put_pending(state.pending_run())
        self._waiting_shapes[state.shape] += 1

    # -- one scheduling cycle -----------------------------------------------------------------

    def _cycle(self, now: float) -> bool:
        """Run the policy once and apply its decisions; True if a follow-up cycle is due."""
        self._refresh_checkpoints(now)
        snapshot = self.state.snapshot(now, self.options.settings)
        started = time.perf_counter()
        decisions = self.policy.decide(snapshot)
        c = self.counters
        c.policy_s += time.perf_counter() - started
        c.cycles += 1
        c.decisions += len(decisions)
        applied = apply_decisions(self.state, decisions, self.effects, now)
        self._count(applied)
        if now >= self._next_sample:
            self._sample(now)
        if applied.preempted and self._follow_ups < _MAX_FOLLOW_UPS:
            self._follow_ups += 1
            return True
        self._follow_ups = 0
        return False

    def _hold_end(self, now: float) -> float | None:
        """When the first reclaim hold still on a queued run ends (``core.scheduling.reclaim``):
        a cycle is due then, as the live loop's tick would find it, even if nothing else
        happens (otherwise a held run with no later event would wait for ever)."""
        window = self.options.settings.reclaim_min_runtime_s
        ends = [
            m.until(window)
            for run_id, m in self.state.reclaimed.items()
            if run_id in self.pending and m.until(window) > now
        ]
        return min(ends) if ends else None

    def _count(self, applied: Applied) -> None:
        c = self.counters
        c.placements += applied.placed
        c.preemptions += applied.preempted
        c.provisions += applied.provisioned_nodes
        c.releases += applied.released_nodes
        refusals = applied.refusals
        if refusals:
            c.partial_gangs += refusals[Refusal.PARTIAL_GANG]
            c.violations += refusals[Refusal.VIOLATION]
            c.over_allocations += refusals[Refusal.OVER_ALLOCATION]
            c.stale_decisions += refusals[Refusal.STALE]

    def _started(self, run: RunningRun, option: AcceleratorOption) -> None:
        """A placement was applied: the attempt's end (and any spot interruption) is due."""
        state = self.by_run[run.run_id]
        now = run.started_at
        self._waiting_shapes[state.shape] -= 1
        placement = run.placement
        pool = self.nodes.pools[placement.pool]
        rate = attempt_rate(pool, placement.assignments, placement.instances).effective_usd_per_hour
        end = state.start(run, option.speed, rate)
        self._push(end, _FINISH, state)
        if state.checkpoint_s:
            heapq.heappush(
                self._checkpoints, (now + state.checkpoint_s, state.index, state.attempt)
            )
        spot = pool.pricing.interruption_rate_per_hour
        if spot > 0 and self.options.spot_interruptions:
            nodes = len({a.node for a in placement.assignments})
            delay = interruption_delay(
                self.options.seed, state.job.id, state.attempt, spot * nodes / 3600
            )
            if now + delay < end:
                self._push(now + delay, _INTERRUPT, state)

    # -- attempts ending ------------------------------------------------------------------------

    def _push(self, t: float, kind: int, state: JobState) -> None:
        self._seq += 1
        heapq.heappush(self._events, (t, self._seq, kind, state.index, state.attempt))

    def _end_attempt(self, state: JobState, now: float, finished: bool) -> None:
        run_id = state.job.id
        if finished:
            placement = state.held()
            self._account(state, placement, state.finish(now), now)
            self._done += 1
            _, released = self.state.finish(run_id)
            self.counters.releases += released
            return
        self.counters.interruptions += 1
        # The running view's checkpoint is refreshed once per cycle; an interruption between
        # cycles keeps the work to the last checkpoint actually taken.
        self.state.checkpoint(run_id, state.last_checkpoint(now))
        stopped = self.state.stop(run_id, now)
        self.counters.releases += stopped.released_nodes
        self._stopped(stopped, interrupted=True)
        self.state.requeue(stopped)

    def _stopped(self, stopped: Stopped, interrupted: bool) -> None:
        """Charge the stopped attempt; the job waits again."""
        state, now = self.by_run[stopped.run.run_id], stopped.at
        self._account(state, state.held(), state.stop(now, stopped.ended, interrupted), now)
        self._waiting_shapes[state.shape] += 1

    def _account(self, state: JobState, placement: Placement, cost: float, now: float) -> None:
        """Charge an ended attempt (its start and GPUs are still on ``state``)."""
        model = str(self.nodes.pools[placement.pool].pricing.model)
        self.cost_by_pricing[model] = self.cost_by_pricing.get(model, 0.0) + cost
        busy = self.busy_gpu_s
        busy[placement.pool] = busy.get(placement.pool, 0.0) + state.gpus * (now - state.started_at)

    def _refresh_checkpoints(self, now: float) -> None:
        """Move running runs' ``last_checkpoint_at`` forward to ``now`` (only those that
        passed a checkpoint since the last cycle are touched)."""
        heap = self._checkpoints
        while heap and heap[0][0] <= now:
            _, index, attempt = heapq.heappop(heap)
            state = self.jobs[index]
            if state.state != RUNNING or state.attempt != attempt:
                continue
            done = state.checkpoints_done(now)
            self.state.checkpoint(state.job.id, state.last_checkpoint(now))
            heapq.heappush(
                heap, (state.started_at + (done + 1) * state.checkpoint_s, index, attempt)
            )

    # -- measuring -------------------------------------------------------------------------------

    def _sample(self, now: float) -> None:
        smallest: dict[str, float] = {}
        for shape, count in self._waiting_shapes.items():
            if count <= 0:
                continue
            for option in shape.options:
                for key, pool in self.nodes.pools.items():
                    if pool.node.accelerator == option.name and option.count <= pool.node.gpus:
                        smallest[key] = min(smallest.get(key, math.inf), option.count)
        fragmented = self.nodes.fragmented_gpus(smallest)
        up = self.nodes.up_gpus
        self.fragmentation.append((now, fragmented / up if up else 0.0))
        self._next_sample = now + self.options.sample_interval_s

    def _result(self, wall_s: float) -> SimResult:
        end = self.clock.now()
        self.nodes.advance(end)
        capacity = capacity_cost(
            self.nodes.pools, self.nodes.up_node_s, self.busy_gpu_s, end - self._first_submit
        )
        frag = [f for _, f in self.fragmentation]
        records = [s.record for s in self.jobs]
        c = self.counters
        summary = summarise(
            self.name,
            records,
            self.series,
            c,
            cost_by_pricing=self.cost_by_pricing,
            capacity_cost_usd=capacity,
            fragmentation=sum(frag) / len(frag) if frag else 0.0,
            wall_s=wall_s,
            extra={
                "unfinished": sum(1 for r in records if r.finish_s is None),
                "over_allocations": c.over_allocations,
                "stale_decisions": c.stale_decisions,
                "placements": c.placements,
            },
        )
        return SimResult(summary, records, self.series, self.fragmentation, c)


class _Replay(Effects):
    """What applying a decision does in a replay beyond the scheduler state."""

    def __init__(self, sim: Simulator) -> None:
        self.sim = sim

    def placed(self, run: RunningRun, option: AcceleratorOption) -> None:
        self.sim._started(run, option)

    def requeue(self, stopped: Stopped) -> None:
        self.sim._stopped(stopped, interrupted=False)

    def refuse(self, refused: Refused) -> None:
        if refused.refusal is not Refusal.STALE:
            self.sim.counters.note(str(refused))
