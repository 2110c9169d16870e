"""Cost anomalies are found over the caller's teams only."""

from __future__ import annotations

from pathlib import Path

from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane
from tests.api.conftest import Clock
from tests.identities import admin_caller, caller
from tests.services.cost_fixtures import DAY, HOUR, JUNE, fleet_document, usage


def test_each_team_sees_its_own_spike_only(tmp_path: Path) -> None:
    cp = ControlPlane(
        settings=Settings(home=tmp_path, database_url="memory://", catalog_dir=None),
        store=MemoryStore(),
        backends=PoolBackends(tmp_path / "w"),
        policy=PriorityBestFit(),
        clock=Clock(JUNE + 10 * DAY),
    )
    cp.services.fleet.apply(admin_caller(), fleet_document([]), "fleet.yaml")
    n = 0
    for team in ("research", "infra"):
        # A flat week at $1/h, then one hour at $500: an anomaly in each team.
        for hour in range(24 * 7):
            n += 1
            cp.store.usage.add(
                usage(f"r{n}", JUNE + 3 * DAY + hour * HOUR, 1, team=team, usd_per_hour=1.0)
            )
        n += 1
        cp.store.usage.add(
            usage(f"r{n}", JUNE + 3 * DAY + 100 * HOUR, 1, team=team, usd_per_hour=500.0)
        )
    costs = cp.services.costs
    assert {a.key for a in costs.anomalies(admin_caller(), "team")} == {"research", "infra"}
    alice = caller("alice", teams={"research": "viewer"})
    found = costs.anomalies(alice, "team")
    assert [a.key for a in found] == ["research"]
    # By workload: both teams' spikes are in workload "train"; hers alone is counted.
    (by_workload,) = costs.anomalies(alice, "workload")
    assert by_workload.spend_usd == found[0].spend_usd
    assert costs.anomalies(admin_caller(), "workload")[0].spend_usd > by_workload.spend_usd
