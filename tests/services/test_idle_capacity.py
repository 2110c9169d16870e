"""Idle capacity counted from when each pool existed, through the cost service (decision
0030): reports and FOCUS exports read the fleet history, not the fleet in force alone."""

from __future__ import annotations

import copy
import csv
import io
from typing import Any

import pytest

from aiplane.exporters.memory import MemoryExporter
from aiplane.services.budgets import BudgetCache
from aiplane.services.cost_service import CostService
from aiplane.services.telemetry import TelemetryRecorder
from aiplane.services.types import ExportFormat
from aiplane.store.memory import MemoryStore
from tests.identities import ME, access_for
from tests.services.cost_fixtures import JUNE, fleet_document
from tests.services.fleets import BACKENDS, apply_fleet, fleet_cache

HOUR = 3600.0
NOW = JUNE + 19.5 * HOUR  # the report: 19.5 hours into the month


class Clock:
    def __init__(self) -> None:
        self.now = NOW

    def __call__(self) -> float:
        return self.now


def service(store: MemoryStore) -> CostService:
    clock = Clock()
    access, _ = access_for(store, clock)
    recorder = TelemetryRecorder(None, store, BACKENDS)
    return CostService(
        store, fleet_cache(store), BudgetCache(), recorder, MemoryExporter(), clock, access=access
    )


def owned_pools(nodes: dict[str, int]) -> dict[str, Any]:
    """The fixtures' fleet with the fra site's owned pools as given: name -> nodes (8 GPUs
    at $1 a GPU-hour each)."""
    document = fleet_document()
    template = document["sites"][0]["pools"][0]
    document["sites"][0]["pools"] = [
        {**copy.deepcopy(template), "name": name, "nodes": n} for name, n in nodes.items()
    ]
    return document


def idle_rows(costs: CostService) -> dict[str, float]:
    """The FOCUS export's idle rows: pool -> EffectiveCost."""
    text = b"".join(costs.export(ME, ExportFormat.FOCUS_CSV).chunks).decode()
    rows = csv.DictReader(io.StringIO(text))
    return {r["x_pool"]: float(r["EffectiveCost"]) for r in rows if r["x_cost_kind"] == "idle"}


def test_a_fleet_applied_ten_minutes_ago_is_idle_for_ten_minutes() -> None:
    store = MemoryStore()
    apply_fleet(store, owned_pools({"dgx": 2}), NOW - 600)
    costs = service(store)

    report = costs.report(ME)  # this month so far

    assert [(i.pool, i.capacity_gpu_hours) for i in report.idle] == [("fra/dgx", 16 / 6)]
    assert report.idle[0].idle_usd == pytest.approx(16 / 6)  # not 16 x 19.5 hours
    assert idle_rows(costs) == {"fra/dgx": pytest.approx(16 / 6)}


def test_a_pool_resized_and_one_removed_mid_period_count_each_version() -> None:
    store = MemoryStore()
    apply_fleet(store, owned_pools({"dgx": 1, "old": 2}), JUNE + 2 * HOUR)
    apply_fleet(store, owned_pools({"dgx": 3}), JUNE + 12 * HOUR)  # dgx grows, old goes
    costs = service(store)

    idle = {i.pool: i.idle_usd for i in costs.report(ME).idle}

    # dgx: 8 GPUs from 02:00 to 12:00, then 24 GPUs to 19:30; old: 16 GPUs 02:00 to 12:00.
    assert idle == {"fra/dgx": 8 * 10 + 24 * 7.5, "fra/old": 16 * 10}
    assert idle_rows(costs) == idle
    # A period before the first apply has no idle capacity at all.
    assert costs.report(ME, start=JUNE, end=JUNE + 2 * HOUR).idle == []
