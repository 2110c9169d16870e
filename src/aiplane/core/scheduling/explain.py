"""How the engine words its decisions: rejected offers, the reason for a choice, preemptions.

Kept apart from the cycle so that what the engine decides and how it explains it can each be
read on their own.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from aiplane.core.placement import Offer, Rejection, RejectReason
from aiplane.core.scheduling.ordering import effective_priority
from aiplane.core.scheduling.quota import QuotaVerdict
from aiplane.core.scheduling.reclaim import Reclaimed
from aiplane.core.scheduling.snapshot import PendingRun, RunningRun, Snapshot
from aiplane.core.workloads import Workload

MAX_REJECTIONS_SHOWN = 6


@dataclass
class Blocked:
    """Why the offers of one pending run failed, kept to decide what to try next. Turned into
    ``Rejection`` objects only when an explanation needs them."""

    capacity: list[Offer] = field(default_factory=list)
    quota: list[tuple[Offer, QuotaVerdict]] = field(default_factory=list)

    def rejections(self, w: Workload) -> list[Rejection]:
        out = [rejected(o, RejectReason.QUOTA, v.reason) for o, v in self.quota]
        out += [rejected(o, RejectReason.CAPACITY, no_room(o, w)) for o in self.capacity]
        return out


def rejected(offer: Offer, reason: RejectReason, detail: str) -> Rejection:
    return Rejection(offer.pool.key, reason, detail, offer.accelerator, offer.cost.total_usd)


def no_room(offer: Offer, w: Workload) -> str:
    return f"no room for {w.replicas} x {need_text(offer)}"


def need_text(offer: Offer) -> str:
    if offer.option is None:
        return "CPU replica"
    return f"{offer.option.count:g} {offer.option.name}"


def preempt_kind(p: PendingRun, victim: RunningRun, s: Snapshot, reclaim: bool) -> str:
    if not reclaim:
        return f"priority {effective_priority(p, s)} over {victim.workload.priority}"
    return f"team {p.workload.team} reclaims quota lent to {victim.workload.team}"


def hold_reason(mark: Reclaimed, cohort: str | None, min_runtime_s: float) -> str:
    """Why a reclaimed run may not borrow now, and until when: an absolute time, so that the
    reason stays the same from cycle to cycle (the live plane writes a changed reason only)."""
    until = mark.until(min_runtime_s)
    try:
        when = datetime.fromtimestamp(until, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    except (OverflowError, ValueError, OSError):  # beyond the calendar: say it as a number
        when = f"t={until:g}"
    of = f" of cohort {cohort}" if cohort else ""
    return (
        f"borrowed {mark.accelerator} quota{of} is being reclaimed by team {mark.by} "
        f"(from pool {mark.pool}); may borrow again after {when}"
    )


def best_rejections(
    rejected: list[Rejection], limit: int = MAX_REJECTIONS_SHOWN
) -> list[dict[str, Any]]:
    """The most telling ``limit`` alternatives: cheaper ones first (why not them?), then the
    rest."""

    def rank(r: Rejection) -> tuple[int, float, str]:
        if r.total_usd is not None:
            return (0, r.total_usd, r.pool)
        return (1, 0.0, r.pool)

    return [r.describe() for r in sorted(rejected, key=rank)[:limit]]


def why(chosen: Offer, rejected: list[Rejection], preempted: Sequence[str]) -> str:
    cost = chosen.cost
    text = (
        f"best feasible offer: ${cost.total_usd:.2f} expected "
        f"(${cost.usd_per_hour:.2f}/h for {cost.estimated_hours:.2f} h"
    )
    if cost.rework_hours:
        text += f" + {cost.rework_hours:.2f} h expected spot rework"
    if cost.egress_usd:
        text += f", ${cost.egress_usd:.2f} egress"
    if chosen.data.transfers:
        text += f", copying {chosen.data.summary()}"
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
