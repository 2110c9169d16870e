"""Cost services over a store: open intervals, reserved headroom, anomalies, FOCUS columns."""

from __future__ import annotations

from typing import Any

import pytest

from aiplane.core.cost.focus import COLUMNS, NUMERIC
from aiplane.core.errors import SpecError
from aiplane.exporters.base import ColumnType
from aiplane.services import costs
from tests.services.fleets import apply_fleet, stored_fleet

from .cost_fixtures import DAY, HOUR, JUNE, store_with, usage
from .test_metering import start, submit


def test_running_work_is_reported_up_to_now() -> None:
    store = store_with()
    fleet = stored_fleet(store)
    assert fleet is not None
    job_id = submit(store)
    start(store, job_id, JUNE + DAY)
    # The running attempt (placement: 16 GPUs at $40/h) counts until now, without a record.
    now = JUNE + DAY + 2 * HOUR
    report = costs.report(
        store, fleet, "team", JUNE, JUNE + 30 * DAY, now, share_idle_to_teams=False
    )
    assert [(r.key, r.usd) for r in report.rows] == [("research", 80.0)]
    # The owned pool sat idle all the while: no team used it, so its idle cost is unallocated.
    shared = costs.report(store, fleet, "team", JUNE, JUNE + 30 * DAY, now)
    assert {r.key: r.idle_share_usd for r in shared.rows} == {
        "(unallocated)": 8 * 26.0,
        "research": 0.0,
    }
    assert store.usage.overlapping(JUNE, JUNE + 30 * DAY) == []


def test_reserved_headroom_for_the_scheduler() -> None:
    store = store_with()
    document: dict[str, Any] = {
        "sites": [
            {
                "name": "aws",
                "kind": "cloud",
                "region": "us-east-1",
                "jurisdiction": "US",
                "pools": [
                    {
                        "name": "p5",
                        "backend": "emulated",
                        "nodes": 2,
                        "node": {"accelerator": "H100", "gpus": 8, "cpus": 96, "memory_gib": 1024},
                        "pricing": {
                            "model": "reserved",
                            "usd_per_gpu_hour": 4.0,
                            "reserved_gpu_hours_per_month": 100,
                        },
                    }
                ],
            }
        ],
    }

    apply_fleet(store, document, JUNE)
    fleet = stored_fleet(store)
    assert fleet is not None
    store.usage.add(usage("r1", JUNE + DAY, 5, pool="aws/p5", pricing="reserved"))  # 40 GPU-h
    assert costs.reserved_remaining(store, fleet, JUNE + 2 * DAY) == {"aws/p5": 60.0}


def test_anomalies_through_the_service_name_the_runs() -> None:
    store = store_with()
    fleet = stored_fleet(store)
    assert fleet is not None
    for day in range(28):
        for hour in range(0, 24, 4):
            store.usage.add(
                usage(
                    f"r{day}-{hour}", JUNE + day * DAY + hour * HOUR, 4, gpus=1.0, usd_per_hour=2.0
                )
            )
    store.usage.add(
        usage("r-hog", JUNE + 27 * DAY + 2 * HOUR, 6, usd_per_hour=98.0, workload="eval")
    )
    found = costs.anomalies(
        store, fleet, "team", JUNE + 21 * DAY, JUNE + 28 * DAY, JUNE + 28 * DAY,
        sm_activity={"r-hog": 0.0}, history_weeks=3,
    )  # fmt: skip
    (anomaly,) = found
    assert anomaly.key == "research" and anomaly.contributors[0].run_id == "r-hog"
    assert "run r-hog (eval) held 8 H100-80GB at 0% SM activity for 6.0 h" in anomaly.explain()
    with pytest.raises(SpecError):
        costs.anomalies(store, fleet, "site", JUNE, JUNE + DAY, JUNE + DAY)


def test_the_focus_table_has_every_column_typed_for_an_exporter() -> None:
    store = store_with()
    fleet = stored_fleet(store)
    assert fleet is not None
    store.usage.add(usage("r1", JUNE + DAY, 2))

    table = costs.focus_table(store, fleet, JUNE, JUNE + 2 * DAY, JUNE + 2 * DAY)

    assert list(table.columns) == list(COLUMNS)
    assert table.rows >= 1 and table.columns["x_run"][0] == "r1"
    assert table.types["x_attempt"] is ColumnType.INT
    assert {table.types[name] for name in NUMERIC - {"x_attempt"}} == {ColumnType.FLOAT}
    assert table.types["x_team"] is ColumnType.STRING
