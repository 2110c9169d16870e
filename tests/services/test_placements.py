"""Placement previews (``PlacementService.preview``): the real engine's decision on the live
state with the workload as the only pending run, refused as its submission would be, and
nothing stored."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.errors import BudgetExceededError, PermissionDeniedError, SpecError
from aiplane.core.scheduling.engine import Engine
from aiplane.core.workloads import Workload
from aiplane.services.jobs import NO_FLEET_PROBLEM
from aiplane.services.placements import MAX_REJECTED
from aiplane.services.scheduling import run_cycle
from aiplane.specs import workload_from_document
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane
from tests.identities import admin_caller, caller
from tests.services.cost_fixtures import fleet_document, usage

NOW = 1_800_000_000.0
ADMIN = admin_caller()


@pytest.fixture
def cp(tmp_path: Path) -> ControlPlane:
    settings = Settings(home=tmp_path, database_url="memory://", catalog_dir=None)
    return ControlPlane(
        settings=settings,
        store=MemoryStore(),
        backends=PoolBackends(tmp_path / "work"),
        policy=Engine(),
        clock=lambda: NOW,
    )


def applied(cp: ControlPlane, budgets: list[dict[str, Any]] | None = None) -> ControlPlane:
    """fleet_document: fra/dgx (one owned 8 x H100 node, $1/GPU-h) and gcp/spot (four spot
    8 x H100 nodes, $2/GPU-h)."""
    cp.services.fleet.apply(ADMIN, fleet_document(budgets), "fleet.yaml")
    return cp


def workload(**changes: Any) -> Workload:
    document = {
        "name": "train",
        "team": "research",
        "kind": "train",
        "run": "true",
        "resources": {"accelerators": "H100:8"},
        "estimated_hours": 2,
        **changes,
    }
    return workload_from_document(document, "w.yaml")


def stored(cp: ControlPlane) -> tuple[int, int, int, int]:
    """Jobs, events, audit entries and idempotency keys in the store."""
    store = cp.store
    keys = store.idempotency.get(ADMIN.principal.id, "any")
    return (
        len(store.jobs.page(limit=1000)),
        len(store.events.recent(limit=1000)),
        len(store.audit.entries(limit=1000)),
        0 if keys is None else 1,
    )


def occupy_fra(cp: ControlPlane) -> None:
    """A job placed on fra/dgx's one node (admitted: it holds the node)."""
    cp.services.jobs.submit(ADMIN, workload(name="holder", spot="never"))
    fleet = cp.fleets.current()
    assert fleet is not None
    assert run_cycle(cp.store, fleet, cp.policy, NOW).placed == 1


def test_placed_on_the_cheapest_free_offer_with_its_cost_and_the_rejected_ones(
    cp: ControlPlane,
) -> None:
    applied(cp)
    before = stored(cp)
    preview = cp.services.placements.preview(ADMIN, workload(spot="never"))
    assert preview.placed and preview.reason is None
    assert preview.placement is not None and preview.placement.pool == "fra/dgx"
    chosen = preview.explanation["chosen"]
    assert chosen["pool"] == "fra/dgx"
    assert chosen["cost"]["usd_per_hour"] == pytest.approx(8.0)
    assert chosen["cost"]["estimated_hours"] == pytest.approx(2.0)
    assert chosen["cost"]["total_usd"] > 0
    assert preview.explanation["why"].startswith("best feasible offer")
    rejected = preview.explanation["rejected"]
    assert [(r["pool"], r["reason"]) for r in rejected] == [("gcp/spot", "constraint")]
    assert preview.explanation["rejected_total"] == 1
    assert preview.queue_ignored == 0
    assert preview.at == NOW
    # Nothing stored: no job, no event, no audit entry, no key.
    assert stored(cp) == before


def test_waits_on_a_full_pool_with_every_rejection_and_the_queue_counted_not_ahead(
    cp: ControlPlane,
) -> None:
    applied(cp)
    occupy_fra(cp)
    cp.services.jobs.submit(ADMIN, workload(name="queued", spot="never"))  # waits: fra is full
    before = stored(cp)
    preview = cp.services.placements.preview(ADMIN, workload(spot="never"))
    assert not preview.placed and preview.placement is None
    assert preview.reason is not None and preview.reason.startswith("waiting for capacity")
    # The full pool and the ruled-out one, each with its reason.
    reasons = {(r["pool"], r["reason"]) for r in preview.explanation["rejected"]}
    assert reasons == {("fra/dgx", "capacity"), ("gcp/spot", "constraint")}
    assert preview.explanation["rejected_total"] == 2
    assert preview.queue_ignored == 1
    assert stored(cp) == before


def test_placed_elsewhere_when_the_cheapest_pool_is_full_and_the_queue_ignored(
    cp: ControlPlane,
) -> None:
    applied(cp)
    occupy_fra(cp)
    cp.services.jobs.submit(ADMIN, workload(name="queued", spot="never"))
    preview = cp.services.placements.preview(ADMIN, workload())
    assert preview.placement is not None and preview.placement.pool == "gcp/spot"
    rejected = preview.explanation["rejected"]
    assert [(r["pool"], r["reason"]) for r in rejected] == [("fra/dgx", "capacity")]
    assert preview.queue_ignored == 1


def test_refused_exactly_as_its_submission_would_be(cp: ControlPlane) -> None:
    applied(cp)
    before = stored(cp)
    too_big = workload(resources={"accelerators": "H100:16"})
    with pytest.raises(SpecError) as previewed:
        cp.services.placements.preview(ADMIN, too_big)
    with pytest.raises(SpecError) as submitted:
        cp.services.jobs.submit(ADMIN, too_big)
    assert previewed.value.message == submitted.value.message
    assert previewed.value.problems == submitted.value.problems
    assert "can never run" in previewed.value.message
    unknown = workload(team="nobody")
    with pytest.raises(SpecError, match="does not fit the fleet"):
        cp.services.placements.preview(ADMIN, unknown)
    assert stored(cp) == before


def test_no_fleet_is_the_submissions_refusal(cp: ControlPlane) -> None:
    with pytest.raises(SpecError) as refused:
        cp.services.placements.preview(ADMIN, workload())
    assert refused.value.problems == [NO_FLEET_PROBLEM]


def test_a_blocking_budget_refuses_it_as_a_submission(cp: ControlPlane) -> None:
    block = {"name": "cap", "team": "research", "amount_usd": 100, "rules": [{"kind": "block"}]}
    applied(cp, [block])
    cp.store.usage.add(usage("r-spent", NOW - 20 * 3600, 10))  # $160 of the $100
    with pytest.raises(BudgetExceededError) as previewed:
        cp.services.placements.preview(ADMIN, workload())
    with pytest.raises(BudgetExceededError) as submitted:
        cp.services.jobs.submit(ADMIN, workload())
    assert previewed.value.message == submitted.value.message


def test_another_teams_member_is_refused_as_for_a_submission(cp: ControlPlane) -> None:
    applied(cp)
    other = caller("other", teams={"infra": "member"})
    with pytest.raises(PermissionDeniedError) as previewed:
        cp.services.placements.preview(other, workload())
    with pytest.raises(PermissionDeniedError) as submitted:
        cp.services.jobs.submit(other, workload())
    assert previewed.value.message == submitted.value.message


def test_the_rejections_are_bounded_and_counted(cp: ControlPlane) -> None:
    """A fleet of more pools than a preview lists: MAX_REJECTED shown, all counted."""
    pools = [
        {
            "name": f"p{i:03d}",
            "backend": "emulated",
            "nodes": 1,
            "node": {"accelerator": "H100", "gpus": 8, "cpus": 96, "memory_gib": 1024},
            "pricing": {"model": "spot", "usd_per_gpu_hour": 2.0 + i / 100},
        }
        for i in range(MAX_REJECTED + 10)
    ]
    document = fleet_document()
    document["sites"][1]["pools"] += pools
    cp.services.fleet.apply(ADMIN, document, "fleet.yaml")
    preview = cp.services.placements.preview(ADMIN, workload(spot="never"))
    assert preview.placement is not None and preview.placement.pool == "fra/dgx"
    assert len(preview.explanation["rejected"]) == MAX_REJECTED
    assert preview.explanation["rejected_total"] == MAX_REJECTED + 11


def test_a_wait_for_quota_is_explained_with_every_rejection(cp: ControlPlane) -> None:
    """A team whose quota holds all its work back: the scheduler's cycle lets such a run wait
    without pricing its offers (no rejections in its explanation); a preview prices them."""
    document = fleet_document()
    document["teams"][0]["quota"] = {"H100-80GB": 0}
    cp.services.fleet.apply(ADMIN, document, "fleet.yaml")
    preview = cp.services.placements.preview(ADMIN, workload(spot="never"))
    assert not preview.placed
    assert preview.reason is not None and preview.reason.startswith("waiting for quota")
    reasons = {(r["pool"], r["reason"]) for r in preview.explanation["rejected"]}
    assert reasons == {("fra/dgx", "quota"), ("gcp/spot", "constraint")}
    assert preview.explanation["rejected_total"] == 2
