"""aiplane's scheduling engine: quotas, fair share, gang, preemption, backfill, hybrid cost.

One cycle, in order:
1. Index the free capacity of every pool (``capacity``) and charge running work to the team
   quotas (``quota``) and dominant shares (``ordering``).
2. Walk the pending runs in scheduling order (priority class, then DRF across teams, then
   starvation age and least attained service or FIFO inside a team).
3. For each, take its offers best score first (``placement``: constraints and the cost model);
   the first offer that passes the quota and packs the whole gang wins.
4. If none does, try preemption (lower priority in the same team or quota pool, or reclaiming
   quota lent to borrowers in the cohort), choosing victims that lose the least work. A run
   so reclaimed does not borrow that quota again for a minimum runtime (``reclaim``).
5. Else the run waits; the first gang blocked on capacity gets a reservation, and later work
   may use its nodes only if it ends first (EASY backfill).
6. Idle nodes of elastic pools above their minimum are released.

Every placement carries its explanation: the chosen offer with its cost breakdown and the best
rejected alternatives with the reason for each.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Mapping, Sequence
from types import MappingProxyType
from typing import Any

from aiplane.core.budgets import BudgetAction
from aiplane.core.cost.budgets import actions_for
from aiplane.core.errors import InconsistentSnapshotError
from aiplane.core.placement import (
    Offer,
    OfferContext,
    Rejection,
    Screened,
    evaluate_offers,
    screen_offers,
)
from aiplane.core.runs import Placement
from aiplane.core.scheduling.backfill import Reservation, estimated_ends, reserve
from aiplane.core.scheduling.capacity import PoolCapacity, idle_releases
from aiplane.core.scheduling.decisions import Decision, Place, Preempt, Provision, Wait
from aiplane.core.scheduling.explain import (
    Blocked,
    best_rejections,
    hold_reason,
    preempt_kind,
    why,
)
from aiplane.core.scheduling.inputs import estimated_end
from aiplane.core.scheduling.instances import (
    fill_for,
    fits_without,
    pack_offer,
    placement_rate,
    start,
)
from aiplane.core.scheduling.memos import FitKey, fit_key, pricing_key, screening_key
from aiplane.core.scheduling.options import EngineOptions
from aiplane.core.scheduling.ordering import DominantShares, effective_priority, order
from aiplane.core.scheduling.preemption import (
    choose_victims,
    eligible_victims,
    is_reclaim,
    lost_gpu_hours,
)
from aiplane.core.scheduling.quota import QuotaLedger, QuotaVerdict
from aiplane.core.scheduling.reclaim import Reclaimed
from aiplane.core.scheduling.snapshot import NodeState, PendingRun, RunningRun, Snapshot

FULL_REASON = "waiting for capacity (every feasible pool is full)"
_EPS = 1e-9
_BRIEF: Mapping[str, Any] = MappingProxyType({"policy": "aiplane"})


class Engine:
    name = "aiplane"

    def __init__(self, options: EngineOptions | None = None) -> None:
        self.options = options or EngineOptions()

    def decide(self, snapshot: Snapshot) -> list[Decision]:
        # Nothing a cycle builds is cyclic garbage: callers at scale pause the collector
        # around it (``aiplane.gctuning``), which the core, being pure, does not do itself.
        return _Cycle(snapshot, self.options).run()


class _Cycle:
    def __init__(self, snapshot: Snapshot, options: EngineOptions) -> None:
        self.s = snapshot
        self.options = options
        self.decisions: list[Decision] = []
        by_pool: dict[str, list[NodeState]] = defaultdict(list)
        for node in snapshot.nodes:
            by_pool[node.pool].append(node)
        fleet_pools = {pool.key: pool for pool in snapshot.fleet.pools()}
        self.pools = {
            key: PoolCapacity(key, nodes, fleet_pools.get(key)) for key, nodes in by_pool.items()
        }
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
        self.screen_cache: dict[tuple[Any, ...], list[Screened]] = {}
        self.offer_cache: dict[tuple[Any, ...], tuple[list[Offer], list[Rejection]]] = {}
        self.hopeless: dict[tuple[Any, ...], str] = {}
        self.contexts: dict[tuple[str, str | None, float], OfferContext] = {}
        self.full: set[FitKey] = set()
        self.reservations: dict[str, Reservation] = {}
        self.victims: set[str] = set()
        self.placed: set[str] = set()
        self.preemptors = 0
        self.searches = 0
        self.explained_waits = 0
        # Lowest priority running in each pool: no victim search when nothing is lower.
        self.lowest: dict[str, int] = {}
        # Only work that was running before this cycle may be preempted in it.
        self.preemptible: dict[str, list[RunningRun]] = defaultdict(list)
        for run in snapshot.running:
            key = run.placement.pool
            self.preemptible[key].append(run)
            self.lowest[key] = min(
                self.lowest.get(key, run.workload.priority), run.workload.priority
            )

    # -- the cycle ---------------------------------------------------------------------------

    def run(self) -> list[Decision]:
        for pending in order(self.s, self.shares):
            self._consider(pending)
        # Idle nodes of elastic pools above their minimum go back.
        self.decisions.extend(idle_releases(self.s.fleet, self.pools))
        return self.decisions

    def _context(self, p: PendingRun) -> OfferContext:
        key = (p.workload.team, p.workload.project, p.checkpointed_hours)
        ctx = self.contexts.get(key)
        if ctx is None:
            ctx = self.contexts[key] = self._new_context(p)
        return ctx

    def _new_context(self, p: PendingRun) -> OfferContext:
        team, project = p.workload.team, p.workload.project
        actions = actions_for(self.s.budget_actions, team, project)
        # Work is bound by its team's budget and, when it names one, its project's.
        limits = [self.s.budget_remaining_usd.get(team)]
        if project is not None:
            limits.append(self.s.budget_remaining_usd.get(f"project:{project}"))
        known = [v for v in limits if v is not None]
        return OfferContext(
            reserved_remaining_gpu_hours=self.s.reserved_remaining_gpu_hours,
            budget_remaining_usd=min(known) if known else None,
            spot_or_owned_only=BudgetAction.SPOT_OR_OWNED_ONLY in actions,
            time_value_usd_per_hour=self.s.settings.time_value_usd_per_hour,
            checkpointed_hours=p.checkpointed_hours,
        )

    def _offers(self, p: PendingRun) -> tuple[list[Offer], list[Rejection]] | str:
        """The run's priced offers, or why it must wait when that is clear without pricing
        them (every usable pool full or out of quota, nothing to preempt there)."""
        w = p.workload
        ctx = self._context(p)
        screen_key = screening_key(w, ctx)
        # Within a cycle capacity only shrinks and quota use only grows (until a preemption,
        # which clears this memo), so a request that was hopeless stays hopeless.
        held = None if p.reclaimed is None else self._held(p)  # (the common case, inline)
        hopeless_key = (screen_key, w.replicas, w.team, held)
        known = self.hopeless.get(hopeless_key)
        if known is not None:
            return known
        screened = self.screen_cache.get(screen_key)
        if screened is None:
            screened = screen_offers(w, self.s.fleet, ctx)
            self.screen_cache[screen_key] = screened
        reason = self._hopeless(p, screened) if self.options.skip_hopeless else None
        if reason is not None:
            self.hopeless[hopeless_key] = reason
            return reason
        key = pricing_key(w, ctx, screen_key)
        cached = self.offer_cache.get(key)
        if cached is None:
            cached = evaluate_offers(w, self.s.fleet, ctx, screened)
            self.offer_cache[key] = cached
        return cached

    def _hopeless(self, p: PendingRun, screened: list[Screened]) -> str | None:
        """Why no usable pool can take ``p`` this cycle (GPU counts or quota alone tell), or
        None when pricing its offers is worth it. Pools where preemption could make room or
        a reservation changes the answer are never hopeless."""
        w = p.workload
        usable = [e for e in screened if e.shape_ok and e.problem is None]
        if not usable:
            return None
        quota_reason = None
        for e in usable:
            key = e.pool.key
            if key in self.reservations or self.preemptible.get(key):
                return None
            count = e.option.count if e.option else 0.0
            verdict = self._quota(p, e.option.name if e.option else None, count * w.replicas)
            if not verdict.ok:
                quota_reason = verdict.reason
                continue
            capacity = self.pools.get(key)
            memo = fit_key(key, e.billing, e.option, w)
            if (
                capacity is not None
                and capacity.could_fit(count, w.replicas)
                and memo not in self.full
            ):
                return None
        return FULL_REASON if quota_reason is None else "waiting for quota: " + quota_reason

    def _held(self, p: PendingRun) -> Reclaimed | None:
        """``p``'s reclaim mark while it still keeps ``p`` off borrowed quota."""
        mark = p.reclaimed
        if mark is None or not mark.holds(self.s.now, self.s.settings.reclaim_min_runtime_s):
            return None
        return mark

    def _quota(self, p: PendingRun, acc: str | None, gpus: float) -> QuotaVerdict:
        """The quota's verdict on ``p`` starting ``gpus`` of ``acc``. A run recently reclaimed
        from borrowed quota may not make its team borrow that type again (``reclaim``)."""
        team = p.workload.team
        verdict = self.ledger.check(team, acc, gpus)
        if p.reclaimed is None or not verdict.ok or verdict.borrowing <= _EPS:
            return verdict
        mark = self._held(p)
        if mark is None or mark.accelerator != acc:
            return verdict
        window = self.s.settings.reclaim_min_runtime_s
        return QuotaVerdict(
            False, hold_reason(mark, self.ledger.cohort_of(team), window), verdict.borrowing
        )

    def _held_brief(self, p: PendingRun) -> Mapping[str, Any]:
        """A waiting run's short explanation, with its reclaim hold while there is one."""
        mark = self._held(p)
        if mark is None:
            return _BRIEF
        return {**_BRIEF, "reclaimed": mark.describe(self.s.settings.reclaim_min_runtime_s)}

    def _estimated_end(self, p: PendingRun, offer: Offer) -> float | None:
        speed = offer.option.speed if offer.option else 1.0
        return estimated_end(p.workload, p.checkpointed_hours, speed, self.s.now)

    def _consider(self, p: PendingRun) -> None:
        found = self._offers(p)
        if isinstance(found, str):
            brief = _BRIEF if p.reclaimed is None else self._held_brief(p)
            self.decisions.append(Wait(p.run_id, found, brief))
            return
        offers, rejections = found
        w = p.workload
        blocked = Blocked()
        for offer in offers:
            count = offer.option.count if offer.option else 0.0
            memo = fit_key(offer.pool.key, offer.billing, offer.option, w)
            if memo in self.full and offer.pool.key not in self.reservations:
                # Known full this cycle: skip the quota check and the packing.
                blocked.capacity.append(offer)
                continue
            verdict = self._quota(p, offer.accelerator, count * w.replicas)
            if not verdict.ok:
                blocked.quota.append((offer, verdict))
                continue
            placed = self._pack(p, offer, memo)
            if placed is None:
                blocked.capacity.append(offer)
                continue
            self._place(p, offer, placed, blocked.rejections(w) + rejections)
            return
        if self._preempt(p, blocked, offers, rejections):
            return
        self._wait(p, offers, rejections, blocked)

    def _pack(self, p: PendingRun, offer: Offer, memo: FitKey) -> list[Any] | None:
        w = p.workload
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
        if not blocked and memo in self.full:
            return None
        placed = pack_offer(capacity, offer, w, blocked)
        if placed is None and not blocked:
            # Capacity only shrinks during a cycle: the same request will not fit later either.
            self.full.add(memo)
        return placed

    # -- outcomes ----------------------------------------------------------------------------

    def _place(
        self,
        p: PendingRun,
        offer: Offer,
        assignments: list[Any],
        rejected: list[Rejection],
        preempted: Sequence[str] = (),
    ) -> None:
        w = p.workload
        acc = offer.accelerator
        gpus = sum(a.gpus for a in assignments)
        self.ledger.charge(w.team, acc, gpus)
        self.shares.add(w.team, acc, gpus)
        capacity = self.pools[offer.pool.key]
        new_nodes, instances = start(capacity, offer, assignments)
        if new_nodes:
            self.decisions.append(Provision(offer.pool.key, new_nodes, p.run_id))
        explanation: dict[str, Any] = {
            "policy": Engine.name,
            "chosen": offer.describe(),
            "why": why(offer, rejected, preempted),
            "rejected": best_rejections(rejected, self.options.rejections_shown),
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
            usd_per_hour=placement_rate(offer.pool, assignments, instances),
            emulated=offer.pool.emulated,
            explanation=explanation,
            instances=instances,
        )
        self.decisions.append(Place(p.run_id, placement))
        self.placed.add(p.run_id)
        started = RunningRun(
            p.run_id,
            p.job_id,
            w,
            placement,
            p.submitted_at,
            self.s.now,
            None,
            p.attained_gpu_s,
            p.checkpointed_hours,
            p.attempt,
        )
        self.running[offer.pool.key].append(started)

    def _wait(
        self,
        p: PendingRun,
        offers: list[Offer],
        rejections: list[Rejection],
        blocked: Blocked,
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
        self.explained_waits += 1
        if self.explained_waits <= self.options.max_explained_waits:
            rejected = blocked.rejections(p.workload) + rejections
            explanation = {
                "policy": Engine.name,
                "rejected": [r.describe() for r in rejected[: self.options.rejections_shown]],
                "rejected_total": len(rejected),
            }
            explanation.update(self._held_brief(p))
        self.decisions.append(Wait(p.run_id, reason, explanation))

    def _maybe_reserve(self, p: PendingRun, offer: Offer) -> None:
        settings = self.s.settings
        pool = offer.pool.key
        if not settings.backfill or pool in self.reservations:
            return
        if len(self.reservations) >= settings.max_reservations:
            return
        now, w = self.s.now, p.workload
        running = estimated_ends(self.running[pool], now)
        need = w.replica_need(offer.option)
        found = reserve(p.run_id, self.pools[pool], need, w.replicas, running, now, fill_for(offer))
        if found is not None:
            self.reservations[pool] = found

    # -- preemption --------------------------------------------------------------------------

    def _preempt(
        self,
        p: PendingRun,
        blocked: Blocked,
        offers: list[Offer],
        rejected: list[Rejection],
    ) -> bool:
        if (
            not self.s.settings.preemption
            or self.preemptors >= self.options.max_preemptors_per_cycle
        ):
            return False
        if not any(self.preemptible.get(o.pool.key) for o in blocked.capacity) and not any(
            self.preemptible.get(o.pool.key) for o, _ in blocked.quota
        ):
            return False
        reclaim = {offer.pool.key for offer, verdict in blocked.quota if verdict.may_reclaim}
        candidates = {id(o) for o in blocked.capacity} | {id(o) for o, _ in blocked.quota}
        priority = effective_priority(p, self.s)
        for offer in (o for o in offers if id(o) in candidates):  # best score first
            pool_key = offer.pool.key
            if not self.preemptible.get(pool_key):
                continue
            if pool_key not in reclaim and self.lowest.get(pool_key, priority) >= priority:
                continue  # nothing of lower priority runs there, and no quota to reclaim
            if self.searches >= self.options.max_preemption_searches_per_cycle:
                return False
            self.searches += 1
            victims = self._victims_for(p, offer, pool_key in reclaim)
            if victims is None:
                continue
            self.preemptors += 1
            w = p.workload
            capacity = self.pools[offer.pool.key]
            for victim in victims:
                reclaimed = is_reclaim(victim, w.team, self.ledger)
                self.victims.add(victim.run_id)
                capacity.release(victim.placement.assignments, victim.placement.instances)
                self.ledger.release(victim.workload.team, victim.placement.accelerator, victim.gpus)
                self.running[offer.pool.key] = [
                    r for r in self.running[offer.pool.key] if r.run_id != victim.run_id
                ]
                kind = preempt_kind(p, victim, self.s, reclaimed)
                self.decisions.append(
                    Preempt(
                        victim.run_id,
                        p.run_id,
                        f"preempted for {w.name} ({kind})",
                        lost_gpu_hours(victim, self.s.now),
                        w.team if reclaimed else None,
                    )
                )
            assignments = pack_offer(capacity, offer, w)
            if assignments is None:
                raise InconsistentSnapshotError(
                    f"{p.run_id}: the victims chosen so that the gang fits leave no room for it"
                )
            self.full.clear()
            self.hopeless.clear()
            rejected = blocked.rejections(w) + rejected
            self._place(p, offer, assignments, rejected, [v.run_id for v in victims])
            return True
        return False

    def _victims_for(self, p: PendingRun, offer: Offer, reclaim: bool) -> list[RunningRun] | None:
        w = p.workload
        priority = effective_priority(p, self.s)
        acc = offer.accelerator
        running = (r for r in self.preemptible[offer.pool.key] if r.run_id not in self.victims)
        candidates = eligible_victims(running, w.team, priority, acc, self.ledger, reclaim)
        if not candidates:
            return None
        need = w.replica_need(offer.option)
        total = need.gpus * w.replicas
        capacity = self.pools[offer.pool.key]

        def enough(victims: Sequence[RunningRun]) -> bool:
            if not fits_without(capacity, offer, w, victims):
                return False
            for v in victims:
                self.ledger.release(v.workload.team, v.placement.accelerator, v.gpus)
            ok = self._quota(p, acc, total).ok
            for v in victims:
                self.ledger.charge(v.workload.team, v.placement.accelerator, v.gpus)
            return ok

        chosen = choose_victims(candidates, self.s.now, enough)
        return list(chosen.runs) if chosen else None
