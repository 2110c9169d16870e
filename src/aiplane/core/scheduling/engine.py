"""aiplane's scheduling engine: quotas, fair share, gang, preemption, backfill, hybrid cost.

One cycle, in order:
1. Index the free capacity of every pool (``capacity``) and charge running work to the team
   quotas (``quota``) and dominant shares (``ordering``).
2. Walk the pending runs in scheduling order (priority class, then DRF across teams, then
   starvation age and least attained service or FIFO inside a team).
3. For each, take its offers best score first (``placement``: constraints and the cost model);
   the first offer that passes the quota and packs the whole gang wins.
4. If none does, try preemption (lower priority in the same team or quota pool, or reclaiming
   quota lent to borrowers in the cohort), choosing victims that lose the least work.
5. Else the run waits; the first gang blocked on capacity gets a reservation, and later work
   may use its nodes only if it ends first (EASY backfill).
6. Idle nodes of elastic pools above their minimum are released.

Every placement carries its explanation: the chosen offer with its cost breakdown and the best
rejected alternatives with the reason for each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

from aiplane.core.placement import (
    Offer,
    OfferContext,
    Rejection,
    RejectReason,
    evaluate_offers,
    remaining_hours,
)
from aiplane.core.runs import Placement
from aiplane.core.scheduling.backfill import Reservation, reserve
from aiplane.core.scheduling.capacity import PoolCapacity
from aiplane.core.scheduling.decisions import Decision, Place, Preempt, Provision, Release, Wait
from aiplane.core.scheduling.ordering import DominantShares, effective_priority, order
from aiplane.core.scheduling.preemption import choose_victims, lost_gpu_hours
from aiplane.core.scheduling.quota import QuotaLedger, QuotaVerdict
from aiplane.core.scheduling.snapshot import (
    BudgetAction,
    NodeState,
    PendingRun,
    RunningRun,
    Snapshot,
)
from aiplane.core.workloads import Workload

MAX_REJECTIONS_SHOWN = 6


@dataclass(frozen=True)
class EngineOptions:
    max_preemptors_per_cycle: int = 16
    explain_waits: bool = True


@dataclass
class _Blocked:
    """Why the offers of one pending run failed, kept to decide what to try next."""

    capacity: list[Offer] = field(default_factory=list)
    quota: list[tuple[Offer, QuotaVerdict]] = field(default_factory=list)


class Engine:
    name = "aiplane"

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()

    def decide(self, snapshot: Snapshot) -> list[Decision]:
        return _Cycle(snapshot, self.options).run()


def _shape_key(w: Workload, ctx: OfferContext) -> tuple[Any, ...]:
    c = w.constraints
    return (
        w.accelerators, w.cpus, w.memory_gib, w.replicas, w.kind, w.spot, w.inputs,
        w.estimated_hours, w.checkpoint_minutes, c.jurisdictions, c.site_kinds, c.sites,
        c.max_usd_per_hour, tuple(sorted(c.latency_slo_ms.items())),
        ctx.budget_remaining_usd, ctx.spot_or_owned_only, ctx.checkpointed_hours,
    )  # fmt: skip


class _Cycle:
    def __init__(self, snapshot: Snapshot, options: EngineOptions) -> None:
        self.s = snapshot
        self.options = options
        self.decisions: list[Decision] = []
        by_pool: dict[str, list[NodeState]] = defaultdict(list)
        for node in snapshot.nodes:
            by_pool[node.pool].append(node)
        self.pools = {key: PoolCapacity(key, nodes) for key, nodes in by_pool.items()}
        capacity: dict[str, float] = defaultdict(float)
        for pool in snapshot.fleet.pools():
            if pool.node.accelerator:
                capacity[pool.node.accelerator] += pool.node.gpus * pool.nodes_max
        self.shares = DominantShares(capacity)
        self.ledger = QuotaLedger(snapshot.fleet)
        self.running: dict[str, list[RunningRun]] = defaultdict(list)
        for run in snapshot.running:
            acc, gpus = run.placement.accelerator, run.gpus
            self.ledger.charge(run.workload.team, acc, gpus)
            self.shares.add(run.workload.team, acc, gpus)
            self.running[run.placement.pool].append(run)
        self.offer_cache: dict[tuple[Any, ...], tuple[list[Offer], list[Rejection]]] = {}
        self.full: set[tuple[str, float, float, float, int]] = set()
        self.reservations: dict[str, Reservation] = {}
        self.victims: set[str] = set()
        self.placed: set[str] = set()
        self.preemptors = 0

    # -- the cycle ---------------------------------------------------------------------------

    def run(self) -> list[Decision]:
        for pending in order(self.s, self.shares):
            self._consider(pending)
        self._release_idle()
        return self.decisions

    def _context(self, p: PendingRun) -> OfferContext:
        team = p.workload.team
        actions = self.s.budget_actions.get(team, frozenset())
        return OfferContext(
            reserved_remaining_gpu_hours=self.s.reserved_remaining_gpu_hours,
            budget_remaining_usd=self.s.budget_remaining_usd.get(team),
            spot_or_owned_only=BudgetAction.SPOT_OR_OWNED_ONLY in actions,
            time_value_usd_per_hour=self.s.settings.time_value_usd_per_hour,
            checkpointed_hours=p.checkpointed_hours,
        )

    def _offers(self, p: PendingRun) -> tuple[list[Offer], list[Rejection]]:
        ctx = self._context(p)
        key = _shape_key(p.workload, ctx)
        cached = self.offer_cache.get(key)
        if cached is None:
            cached = evaluate_offers(p.workload, self.s.fleet, ctx)
            self.offer_cache[key] = cached
        return cached

    def _estimated_end(self, p: PendingRun, offer: Offer) -> float | None:
        if p.workload.estimated_hours is None:
            return None
        speed = offer.option.speed if offer.option else 1.0
        return self.s.now + remaining_hours(p.workload, p.checkpointed_hours) / speed * 3600

    def _consider(self, p: PendingRun) -> None:
        offers, rejections = self._offers(p)
        w = p.workload
        tried: list[Rejection] = []
        blocked = _Blocked()
        for offer in offers:
            acc = offer.accelerator
            total_gpus = (offer.option.count if offer.option else 0.0) * w.replicas
            verdict = self.ledger.check(w.team, acc, total_gpus)
            if not verdict.ok:
                tried.append(self._rejected(offer, RejectReason.QUOTA, verdict.reason))
                blocked.quota.append((offer, verdict))
                continue
            placed = self._pack(p, offer)
            if placed is None:
                need = f"{w.replicas} x {_need_text(offer)}"
                tried.append(self._rejected(offer, RejectReason.CAPACITY, f"no room for {need}"))
                blocked.capacity.append(offer)
                continue
            self._place(p, offer, placed, offers, tried + rejections)
            return
        if self._preempt(p, blocked, offers, tried + rejections):
            return
        self._wait(p, offers, tried, rejections, blocked)

    def _pack(self, p: PendingRun, offer: Offer) -> list[Any] | None:
        w = p.workload
        need = w.replica_need(offer.option)
        pool = offer.pool.key
        capacity = self.pools.get(pool)
        if capacity is None:
            return None
        reservation = self.reservations.get(pool)
        blocked: frozenset[int] = frozenset()
        if (
            reservation is not None
            and reservation.run_id != p.run_id
            and not reservation.allows(self._estimated_end(p, offer))
        ):
            blocked = reservation.nodes
        memo = (pool, need.gpus, need.cpus, need.memory_gib, w.replicas)
        if not blocked and memo in self.full:
            return None
        placed = capacity.pack(need, w.replicas, blocked)
        if placed is None and not blocked:
            # Capacity only shrinks during a cycle: the same request will not fit later either.
            self.full.add(memo)
        return placed

    def _rejected(self, offer: Offer, reason: RejectReason, detail: str) -> Rejection:
        return Rejection(offer.pool.key, reason, detail, offer.accelerator, offer.cost.total_usd)

    # -- outcomes ----------------------------------------------------------------------------

    def _place(
        self,
        p: PendingRun,
        offer: Offer,
        assignments: list[Any],
        offers: list[Offer],
        rejected: list[Rejection],
        preempted: Sequence[str] = (),
    ) -> None:
        w = p.workload
        acc = offer.accelerator
        gpus = sum(a.gpus for a in assignments)
        self.ledger.charge(w.team, acc, gpus)
        self.shares.add(w.team, acc, gpus)
        capacity = self.pools[offer.pool.key]
        new_nodes = capacity.down_nodes_used(assignments)
        if new_nodes:
            self.decisions.append(Provision(offer.pool.key, new_nodes, p.run_id))
        explanation: dict[str, Any] = {
            "policy": Engine.name,
            "chosen": offer.describe(),
            "why": _why(offer, offers, rejected, preempted),
            "rejected": _best_rejections(rejected, offer),
            "rejected_total": len(rejected),
            "priority": effective_priority(p, self.s),
        }
        if preempted:
            explanation["preempted"] = list(preempted)
        if new_nodes:
            explanation["provisioned"] = list(new_nodes)
        placement = Placement(
            pool=offer.pool.key,
            site=offer.site.name,
            backend=offer.pool.backend,
            accelerator=acc,
            assignments=tuple(assignments),
            usd_per_hour=offer.cost.usd_per_hour,
            emulated=offer.pool.emulated,
            explanation=explanation,
        )
        self.decisions.append(Place(p.run_id, placement))
        self.placed.add(p.run_id)
        started = RunningRun(
            p.run_id, p.job_id, w, placement, p.submitted_at, self.s.now, None, p.attained_gpu_s
        )
        self.running[offer.pool.key].append(started)

    def _wait(
        self,
        p: PendingRun,
        offers: list[Offer],
        tried: list[Rejection],
        rejections: list[Rejection],
        blocked: _Blocked,
    ) -> None:
        if not offers:
            reason = "no pool satisfies the workload's constraints"
        elif blocked.capacity:
            reason = f"waiting for capacity ({len(offers)} feasible offer(s), all full)"
            self._maybe_reserve(p, blocked.capacity[0])
            reservation = self.reservations.get(blocked.capacity[0].pool.key)
            if reservation is not None and reservation.run_id == p.run_id:
                reason += f"; nodes reserved on {reservation.pool}"
        else:
            reason = "waiting for quota: " + blocked.quota[0][1].reason
        explanation: dict[str, Any] = {}
        if self.options.explain_waits:
            rejected = tried + rejections
            explanation = {
                "policy": Engine.name,
                "rejected": [r.describe() for r in rejected[:MAX_REJECTIONS_SHOWN]],
                "rejected_total": len(rejected),
            }
        self.decisions.append(Wait(p.run_id, reason, explanation))

    def _maybe_reserve(self, p: PendingRun, offer: Offer) -> None:
        settings = self.s.settings
        pool = offer.pool.key
        if not settings.backfill or pool in self.reservations:
            return
        if len(self.reservations) >= settings.max_reservations:
            return
        running = []
        for run in self.running[pool]:
            end = float("inf")
            if run.workload.estimated_hours is not None:
                option = next(
                    (o for o in run.workload.accelerators if o.name == run.placement.accelerator),
                    None,
                )
                speed = option.speed if option else 1.0
                end = run.started_at + run.workload.estimated_hours / speed * 3600
            running.append((max(end, self.s.now), run))
        need = p.workload.replica_need(offer.option)
        found = reserve(p.run_id, self.pools[pool], need, p.workload.replicas, running, self.s.now)
        if found is not None:
            self.reservations[pool] = found

    # -- preemption --------------------------------------------------------------------------

    def _preempt(
        self,
        p: PendingRun,
        blocked: _Blocked,
        offers: list[Offer],
        rejected: list[Rejection],
    ) -> bool:
        if (
            not self.s.settings.preemption
            or self.preemptors >= self.options.max_preemptors_per_cycle
        ):
            return False
        reclaim = {offer.pool.key for offer, verdict in blocked.quota if verdict.may_reclaim}
        candidates_offers = blocked.capacity + [o for o, _ in blocked.quota]
        for offer in sorted(candidates_offers, key=lambda o: (o.cost.score, o.pool.key)):
            victims = self._victims_for(p, offer, offer.pool.key in reclaim)
            if victims is None:
                continue
            self.preemptors += 1
            w = p.workload
            capacity = self.pools[offer.pool.key]
            for victim in victims:
                self.victims.add(victim.run_id)
                capacity.release(victim.placement.assignments)
                self.ledger.release(victim.workload.team, victim.placement.accelerator, victim.gpus)
                self.running[offer.pool.key] = [
                    r for r in self.running[offer.pool.key] if r.run_id != victim.run_id
                ]
                self.decisions.append(
                    Preempt(
                        victim.run_id,
                        p.run_id,
                        f"preempted for {w.name} ({_preempt_kind(p, victim, self.s)})",
                        lost_gpu_hours(victim, self.s.now),
                    )
                )
            assignments = capacity.pack(w.replica_need(offer.option), w.replicas)
            assert assignments is not None, "victims were chosen so that the gang fits"
            self.full.clear()
            self._place(p, offer, assignments, offers, rejected, [v.run_id for v in victims])
            return True
        return False

    def _victims_for(self, p: PendingRun, offer: Offer, reclaim: bool) -> list[RunningRun] | None:
        w = p.workload
        priority = effective_priority(p, self.s)
        acc = offer.accelerator
        cohort = self.ledger.cohort_of(w.team)
        managed = self.ledger.managed(w.team)
        candidates = []
        for run in self.running[offer.pool.key]:
            if run.run_id in self.victims or run.run_id in self.placed:
                continue  # never undo this cycle's own placements
            other = run.workload.team
            lower = run.workload.priority < priority
            same_pool_of_quota = other == w.team or (not managed and not self.ledger.managed(other))
            if (same_pool_of_quota and lower) or (
                reclaim
                and cohort is not None
                and other != w.team
                and self.ledger.cohort_of(other) == cohort
                and self.ledger.borrowing(other, acc or "") > 0
            ):
                candidates.append(run)
        if not candidates:
            return None
        need = w.replica_need(offer.option)
        total = need.gpus * w.replicas
        capacity = self.pools[offer.pool.key]

        def enough(victims: Sequence[RunningRun]) -> bool:
            involved = {a.node for v in victims for a in v.placement.assignments}
            nodes = [
                NodeState(s.id, capacity.key, s.free, tuple(s.gpu_indices), s.up)
                for s in capacity.slots
                if s.free.gpus > 0 or s.id in involved
            ]
            trial = PoolCapacity(capacity.key, nodes)
            for v in victims:
                trial.release(v.placement.assignments)
            if trial.pack(need, w.replicas) is None:
                return False
            for v in victims:
                self.ledger.release(v.workload.team, v.placement.accelerator, v.gpus)
            ok = self.ledger.check(w.team, acc, total).ok
            for v in victims:
                self.ledger.charge(v.workload.team, v.placement.accelerator, v.gpus)
            return ok

        chosen = choose_victims(candidates, self.s.now, enough)
        return list(chosen.runs) if chosen else None

    # -- elastic pools -----------------------------------------------------------------------

    def _release_idle(self) -> None:
        for pool in self.s.fleet.pools():
            if not pool.elastic or pool.key not in self.pools:
                continue
            capacity = self.pools[pool.key]
            full = pool.node.capacity
            up = [s for s in capacity.slots if s.up]
            idle = [s.id for s in up if full.fits_in(s.free)]
            excess = len(up) - pool.nodes_min
            if excess > 0 and idle:
                nodes = tuple(sorted(idle)[-excess:])
                self.decisions.append(Release(pool.key, nodes, "idle above the pool minimum"))


def _need_text(offer: Offer) -> str:
    if offer.option is None:
        return "CPU replica"
    return f"{offer.option.count:g} {offer.option.name}"


def _preempt_kind(p: PendingRun, victim: RunningRun, s: Snapshot) -> str:
    if victim.workload.team == p.workload.team or victim.workload.priority < p.workload.priority:
        return f"priority {effective_priority(p, s)} over {victim.workload.priority}"
    return f"team {p.workload.team} reclaims quota lent to {victim.workload.team}"


def _best_rejections(rejected: list[Rejection], chosen: Offer) -> list[dict[str, Any]]:
    """The most telling alternatives: cheaper ones first (why not them?), then the rest."""

    def rank(r: Rejection) -> tuple[int, float, str]:
        if r.total_usd is not None:
            return (0, r.total_usd, r.pool)
        return (1, 0.0, r.pool)

    return [r.describe() for r in sorted(rejected, key=rank)[:MAX_REJECTIONS_SHOWN]]


def _why(
    chosen: Offer, offers: list[Offer], rejected: list[Rejection], preempted: Sequence[str]
) -> str:
    cost = chosen.cost
    text = (
        f"best feasible offer: ${cost.total_usd:.2f} expected "
        f"(${cost.usd_per_hour:.2f}/h for {cost.estimated_hours:.2f} h"
    )
    if cost.rework_hours:
        text += f" + {cost.rework_hours:.2f} h expected spot rework"
    if cost.egress_usd:
        text += f", ${cost.egress_usd:.2f} egress"
    text += ")"
    cheaper = [r for r in rejected if r.total_usd is not None and r.total_usd < cost.total_usd]
    if cheaper:
        reasons = sorted({str(r.reason) for r in cheaper})
        text += f"; {len(cheaper)} cheaper offer(s) rejected ({', '.join(reasons)})"
    constraint = [r for r in rejected if r.reason is RejectReason.CONSTRAINT]
    if constraint:
        text += f"; {len(constraint)} offer(s) ruled out by constraints"
    if preempted:
        text += f"; preempted {len(preempted)} run(s)"
    return text
