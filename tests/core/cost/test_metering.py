"""Metering, idle cost and roll-ups on small hand-checked cases."""

from __future__ import annotations

import numpy as np
import pytest

from aiplane.core.cost.allocation import (
    UNALLOCATED,
    idle_by_team,
    idle_costs,
    in_force_throughout,
    pool_spans,
    share_idle,
)
from aiplane.core.cost.columns import UsageColumns
from aiplane.core.cost.metering import LineKind, commitments, meter
from aiplane.core.cost.rollup import rollup
from aiplane.core.fleet import PricingModel, SiteKind
from tests import builders as b

from .factories import HOUR, JULY, JUNE, fleet, interval


def test_lines_are_cut_at_the_period_and_at_month_ends() -> None:
    u = UsageColumns.from_intervals([interval(start=JULY - 2 * HOUR, hours=4)])

    june = meter(u, JUNE, JULY)
    both = meter(u, JUNE, JULY + 30 * 24 * HOUR)

    assert june.hours.tolist() == [2.0] and june.end.tolist() == [JULY]
    assert both.start.tolist() == [JULY - 2 * HOUR, JULY]
    assert both.list_usd.tolist() == [32.0, 32.0]
    assert both.gpu_hours.tolist() == [16.0, 16.0]


def test_on_demand_spot_and_owned_cost_their_rate_on_every_column() -> None:
    u = UsageColumns.from_intervals(
        [interval("r1", hours=2), interval("r2", pool="onprem/dgx", pricing="owned")]
    )
    lines = meter(u, JUNE, JULY, commitments(fleet()))
    assert lines.list_usd.tolist() == [32.0, 16.0]
    for column in (lines.billed_usd, lines.effective_usd, lines.contracted_usd):
        assert column.tolist() == [32.0, 16.0]


def test_a_commitment_covers_use_first_come_then_overflow_is_billed() -> None:
    # 100 GPU-hours prepaid at $1: the first run (8 GPUs x 10 h = 80) is covered entirely; the
    # second (8 x 5 = 40) gets the remaining 20 and pays 20 GPU-hours at the $2 list rate.
    first = interval("r1", hours=10, pool="cloud/res", pricing="reserved")
    second = interval("r2", start=JUNE + HOUR, hours=5, pool="cloud/res", pricing="reserved")
    u = UsageColumns.from_intervals([second, first])
    lines = meter(u, JUNE, JULY, commitments(fleet()))
    by_run = {u.run_id.values[u.run_id.codes[s]]: i for i, s in enumerate(lines.src.tolist())}
    r1, r2 = by_run["r1"], by_run["r2"]
    assert lines.committed_gpu_hours[[r1, r2]].tolist() == [80.0, 20.0]
    assert lines.billed_usd[[r1, r2]].tolist() == [0.0, 40.0]
    assert lines.effective_usd[[r1, r2]].tolist() == [80.0, 60.0]
    assert lines.list_usd[[r1, r2]].tolist() == [160.0, 80.0]


def test_earlier_use_in_the_month_consumes_the_commitment_before_the_report() -> None:
    early = interval("r1", hours=12.5, pool="cloud/res", pricing="reserved")  # 100 GPU-hours
    later = interval("r2", start=JUNE + 48 * HOUR, pool="cloud/res", pricing="reserved")
    u = UsageColumns.from_intervals([early, later])
    lines = meter(u, JUNE + 24 * HOUR, JULY, commitments(fleet()))
    assert len(lines) == 1 and lines.billed_usd.tolist() == [16.0]


def test_egress_is_one_line_per_attempt_at_its_start() -> None:
    u = UsageColumns.from_intervals([interval(egress_gb=100, egress_usd=12.0, hours=3)])
    lines = meter(u, JUNE, JULY)
    egress = lines.kind == int(LineKind.EGRESS)
    assert lines.quantity[egress].tolist() == [100.0]
    assert lines.effective_usd[egress].tolist() == [12.0]
    assert lines.total_usd == pytest.approx(3 * 16 + 12)


def test_idle_owned_and_reserved_capacity_and_its_shares() -> None:
    f = fleet()
    day = 24 * HOUR
    usage = [
        interval("r1", pool="onprem/dgx", pricing="owned", hours=6, team="a"),
        interval("r2", pool="onprem/dgx", pricing="owned", hours=2, team="b"),
        interval("r3", pool="cloud/res", pricing="reserved", hours=5, team="b"),
    ]
    u = UsageColumns.from_intervals(usage)
    lines = meter(u, JUNE, JUNE + day, commitments(f))
    idle = {i.pool: i for i in idle_costs(lines, u, in_force_throughout(f), JUNE, JUNE + day)}

    owned = idle["onprem/dgx"]
    assert owned.capacity_usd == 2 * 8.0 * 24  # two nodes all day
    assert owned.used_usd == 6 * 16.0 * 8 / 8 + 2 * 16.0  # at the placement's rate
    assert owned.capacity_gpu_hours == 16 * 24 and owned.used_gpu_hours == 64
    reserved = idle["cloud/res"]
    assert reserved.capacity_gpu_hours == pytest.approx(100 / 30)  # one day of a June commitment
    assert reserved.idle_usd == 0.0  # 40 GPU-hours used in a day: more than its share
    assert "cloud/spot" not in idle

    shares = share_idle(list(idle.values()), lines, u)
    assert shares["onprem/dgx"]["a"] == pytest.approx(owned.idle_usd * 48 / 64)
    assert shares["onprem/dgx"]["b"] == pytest.approx(owned.idle_usd * 16 / 64)
    assert sum(idle_by_team(shares).values()) == pytest.approx(owned.idle_usd)

    nothing = UsageColumns.from_intervals([])
    no_lines = meter(nothing, JUNE, JUNE + day)
    unused = idle_costs(no_lines, nothing, in_force_throughout(f), JUNE, JUNE + day)
    assert share_idle(unused, no_lines, nothing)["onprem/dgx"] == {UNALLOCATED: 2 * 8.0 * 24}


def test_rollups_by_each_dimension() -> None:
    usage = [
        interval("r1", team="a", workload="w1", model="m1", hours=2),
        interval("r1", team="a", workload="w1", model="m1", attempt=2, start=JUNE + 5 * HOUR),
        interval("r2", team="b", workload="w2", model=None, pool="onprem/dgx", pricing="owned"),
    ]
    u = UsageColumns.from_intervals(usage)
    lines = meter(u, JUNE, JULY)
    teams = rollup(lines, u, "team", idle_shares={"b": 5.0, "(unallocated)": 1.0})
    assert [(r.key, r.usd, r.runs, r.gpu_hours, r.idle_share_usd) for r in teams] == [
        ("a", 48.0, 1, 24.0, 0.0),
        ("b", 16.0, 1, 8.0, 5.0),
        ("(unallocated)", 0.0, 0, 0.0, 1.0),
    ]
    assert [r.key for r in rollup(lines, u, "pricing")] == ["spot", "owned"]
    assert [r.key for r in rollup(lines, u, "site")] == ["cloud", "onprem"]
    assert [(r.key, r.usd) for r in rollup(lines, u, "model")] == [("m1", 48.0), (None, 16.0)]
    with pytest.raises(ValueError, match="unknown dimension"):
        rollup(lines, u, "colour")
    assert np.isclose(sum(r.usd for r in rollup(lines, u, "workload")), lines.total_usd)


def test_idle_capacity_is_counted_only_while_each_pool_existed_at_its_size_then() -> None:
    # Applied at 06:00 (owned 2 nodes, reserved); at 12:00 the owned pool grows to 4 nodes and
    # the reserved pool is removed. Nothing existed before 06:00: no idle cost then.
    first = fleet()
    grown = b.pool("onprem", "dgx", nodes=4, usd_per_node_hour=8.0, model=PricingModel.OWNED)
    second = b.fleet(b.site("onprem", kind=SiteKind.ONPREM, pools=(grown,)))
    spans = pool_spans([(JUNE + 6 * HOUR, first), (JUNE + 12 * HOUR, second)])
    nothing = UsageColumns.from_intervals([])
    no_lines = meter(nothing, JUNE, JUNE + 24 * HOUR)

    idle = {i.pool: i for i in idle_costs(no_lines, nothing, spans, JUNE, JUNE + 24 * HOUR)}

    assert idle["onprem/dgx"].capacity_usd == 2 * 8.0 * 6 + 4 * 8.0 * 12
    assert idle["onprem/dgx"].capacity_gpu_hours == 16 * 6 + 32 * 12
    assert idle["cloud/res"].capacity_gpu_hours == pytest.approx(100 * 6 / (30 * 24))
    # Clipped to the period asked: the morning alone holds six hours of the first version.
    morning = idle_costs(no_lines, nothing, spans, JUNE, JUNE + 12 * HOUR)
    assert {i.pool: i.capacity_usd for i in morning}["onprem/dgx"] == 2 * 8.0 * 6
    assert idle_costs(no_lines, nothing, spans, JUNE, JUNE + 6 * HOUR) == []
