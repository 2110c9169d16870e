"""Where a workload would go now, without queueing it: :class:`PlacementService`.

A preview is a submission's checks and one scheduling decision, and nothing else: the same
access check and refusals as ``JobService.submit`` (``jobs.admissible``), then the live
scheduler's snapshot (``scheduling.LiveState``: running work, free capacity, and the cost
engine's budgets and reserved commitments, ``CycleInputs``) with this workload as the only
pending run, decided by the real engine. Nothing is written: no job, run, event, audit entry
or idempotency key. The queue is left out on purpose (its runs are counted, not placed first):
a preview answers "where would this go on today's free capacity", which is stable and
explainable, where "where would it go after the N runs ahead of it" depends on how they land.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace

from aiplane.core.auth import Action, Caller, Resource
from aiplane.core.errors import ConflictError, InconsistentSnapshotError
from aiplane.core.scheduling.decisions import Place, Wait
from aiplane.core.scheduling.engine import Engine
from aiplane.core.scheduling.policy import SchedulingPolicy
from aiplane.core.scheduling.snapshot import PendingRun
from aiplane.core.workloads import Workload
from aiplane.services.access import Access
from aiplane.services.budgets import BudgetCache
from aiplane.services.fleet import FleetCache
from aiplane.services.jobs import admissible
from aiplane.services.scheduling import CycleInputs, LiveState
from aiplane.services.types import PlacementPreview
from aiplane.store.base import Store

# Rejected offers a preview lists (``rejected_total`` counts them all): enough to read every
# alternative of a large fleet's likely pools, bounded for a fleet of thousands of pools.
MAX_REJECTED = 50
# The stand-in ids of the previewed run: not the form of a stored id ("r-"/"j-" and a time).
PREVIEW_RUN_ID = "preview"


def preview_policy(policy: SchedulingPolicy) -> SchedulingPolicy:
    """``policy`` as a preview asks it: the engine with its options, but listing up to
    ``MAX_REJECTED`` rejections and pricing every offer of a run that must wait; any other
    policy as it is."""
    if isinstance(policy, Engine):
        options = replace(policy.options, rejections_shown=MAX_REJECTED, skip_hopeless=False)
        return Engine(options)
    return policy


class PlacementService:
    """Placement previews: what ``POST /api/v1/placements:preview`` and ``aiplane submit
    --dry-run`` call."""

    def __init__(
        self,
        store: Store,
        fleets: FleetCache,
        budgets: BudgetCache,
        policy: SchedulingPolicy,
        clock: Callable[[], float],
        inputs: Callable[[], CycleInputs],
        *,
        access: Access,
    ) -> None:
        self._store = store
        self._fleets = fleets
        self._budgets = budgets
        self._policy = preview_policy(policy)
        self._clock = clock
        self._inputs = inputs
        self._access = access

    def preview(self, caller: Caller, workload: Workload) -> PlacementPreview:
        """Where ``workload`` would be placed now, or why it would wait; refused exactly as
        its submission would be (403 for another team, the submission's SpecError or
        BudgetExceededError). A ConflictError if the store changed under the snapshot."""
        # Allowed where a submission is: a preview discloses the fleet's free capacity and
        # prices, which a member who may submit there reads anyway (``aiplane fleet list``).
        self._access.check(caller, Action.JOB_SUBMIT, Resource("job", team=workload.team))
        now = self._clock()
        fleet = admissible(self._store, self._fleets, self._budgets, workload, now)
        state = LiveState()
        state.load(self._store, fleet, now)
        snapshot = state.snapshot(now, self._inputs())
        queued = len(snapshot.pending)
        alone = PendingRun(PREVIEW_RUN_ID, PREVIEW_RUN_ID, workload, now)
        try:
            decisions = self._policy.decide(replace(snapshot, pending=(alone,)))
        except InconsistentSnapshotError as exc:
            raise ConflictError(
                f"the running work changed while it was read; preview again ({exc.message})"
            ) from exc
        for decision in decisions:
            if isinstance(decision, Place) and decision.run_id == PREVIEW_RUN_ID:
                p = decision.placement
                return PlacementPreview(now, p, None, dict(p.explanation), queued)
            if isinstance(decision, Wait) and decision.run_id == PREVIEW_RUN_ID:
                return PlacementPreview(
                    now, None, decision.reason, dict(decision.explanation), queued
                )
        # The engine decides every pending run; a policy that skipped it leaves it waiting.
        return PlacementPreview(now, None, "the policy made no decision about it", {}, queued)
