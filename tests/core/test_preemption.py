"""Preemption on its own: which running runs a pending run may stop, and which it does stop."""

from __future__ import annotations

import pytest

from aiplane.core.fleet import Team
from aiplane.core.runs import Placement, ReplicaAssignment
from aiplane.core.scheduling.preemption import choose_victims, eligible_victims, lost_gpu_hours
from aiplane.core.scheduling.quota import QuotaLedger
from aiplane.core.scheduling.snapshot import RunningRun
from tests.builders import fleet, workload

H100 = "H100-80GB"
NOW = 10_000.0


def run(
    run_id: str,
    team: str = "a",
    priority: int = 500,
    gpus: float = 8,
    started_at: float = NOW - 3600,
    checkpoint_at: float | None = None,
) -> RunningRun:
    w = workload(run_id, gpus=gpus, priority=priority, team=team)
    placement = Placement(
        pool="s1/p1",
        site="s1",
        backend="emulated",
        accelerator=H100,
        assignments=(ReplicaAssignment(0, f"n-{run_id}", gpus, (), 1.0, 1.0),),
        usd_per_hour=1.0,
        emulated=True,
    )
    return RunningRun(
        run_id, "j" + run_id, w, placement, started_at - 10, started_at, checkpoint_at
    )


def ledger(*teams: Team, usage: dict[str, float] | None = None) -> QuotaLedger:
    out = QuotaLedger(fleet(teams=teams))
    for team, gpus in (usage or {}).items():
        out.charge(team, H100, gpus)
    return out


UNMANAGED = ledger()
# a and b lend to cohort ml; b runs 16 GPUs on a nominal 8, so it borrows 8. c is in another
# cohort and borrows as well; d is in ml but within its quota.
COHORT = ledger(
    Team("a", cohort="ml", quota={H100: 8}),
    Team("b", cohort="ml", quota={H100: 8}),
    Team("c", cohort="other", quota={H100: 8}),
    Team("d", cohort="ml", quota={H100: 8}),
    usage={"b": 16, "c": 16, "d": 8},
)


@pytest.mark.parametrize(
    ("victim", "quota", "reclaim", "eligible", "why"),
    [
        (run("v", "a", 100), UNMANAGED, False, True, "lower priority, same team"),
        (run("v", "a", 500), UNMANAGED, False, False, "equal priority is never preempted"),
        (run("v", "a", 900), UNMANAGED, False, False, "higher priority"),
        (run("v", "x", 100), UNMANAGED, False, True, "unmanaged teams share one pool"),
        (run("v", "a", 100), COHORT, False, True, "lower priority within a managed team"),
        (run("v", "b", 100), COHORT, False, False, "another managed team's quota is its own"),
        (run("v", "x", 100), COHORT, False, False, "unmanaged work is not in a's quota pool"),
        (run("v", "b", 900), COHORT, True, True, "reclaim: a cohort borrower, any priority"),
        (run("v", "b", 900), COHORT, False, False, "no reclaim without a quota verdict"),
        (run("v", "d", 100), COHORT, True, False, "reclaim spares a member within its quota"),
        (run("v", "c", 100), COHORT, True, False, "reclaim stays inside the cohort"),
    ],
)
def test_eligibility(
    victim: RunningRun, quota: QuotaLedger, reclaim: bool, eligible: bool, why: str
) -> None:
    found = eligible_victims([victim], "a", 500, H100, quota, reclaim)
    assert found == ([victim] if eligible else []), why


def test_reclaim_from_an_unmanaged_team_is_not_possible() -> None:
    # An unmanaged pending team has no cohort: reclaim cannot apply to it.
    victim = run("v", "b", 900)
    assert eligible_victims([victim], "x", 500, H100, COHORT, reclaim=True) == []


def test_eligibility_keeps_the_order_given() -> None:
    runs = [run("r3", priority=100), run("r1", priority=900), run("r2", priority=200)]
    found = eligible_victims(runs, "a", 500, H100, UNMANAGED, reclaim=False)
    assert [r.run_id for r in found] == ["r3", "r2"]


def test_lost_work_counts_from_the_last_checkpoint() -> None:
    assert lost_gpu_hours(run("v", started_at=NOW - 3600), NOW) == pytest.approx(8.0)
    assert lost_gpu_hours(run("v", checkpoint_at=NOW - 900), NOW) == pytest.approx(2.0)


def test_victims_lose_the_least_work_and_the_unneeded_are_spared() -> None:
    fresh = run("fresh", checkpoint_at=NOW - 60)  # little lost
    stale = run("stale")  # an hour lost
    small = run("small", gpus=2, checkpoint_at=NOW - 30)

    # Needs 8 GPUs: the freshly checkpointed 8-GPU run suffices; the 2-GPU one, taken first
    # because it loses least, turns out not to be needed and is spared.
    chosen = choose_victims([stale, fresh, small], NOW, lambda v: sum(r.gpus for r in v) >= 8)
    assert chosen is not None
    assert [r.run_id for r in chosen.runs] == ["fresh"]
    assert chosen.lost_gpu_hours == pytest.approx(8 * 60 / 3600)


def test_no_victim_set_when_even_all_are_not_enough() -> None:
    assert choose_victims([run("v")], NOW, lambda _: False) is None
