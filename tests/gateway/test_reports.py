from __future__ import annotations

import pytest

from aiplane.gateway.reports import Counts, Loads, hour_of, p95


def test_loads_are_time_weighted_and_every_listed_replica_reports():
    loads = Loads(now=0.0)
    loads.started("r1", "fraud", 0.0)
    loads.started("r1", "fraud", 5.0)
    loads.finished("r1", "fraud", True, 20.0, 10.0)  # 1 in flight 0-5, 2 in 5-10, 1 after
    first = {load.run_id: load for load in loads.take(10.0, {"r1": "fraud", "r2": "fraud"})}
    assert first["r1"].in_flight == pytest.approx(1.5)
    assert (first["r1"].requests, first["r1"].errors, first["r1"].p95_ms) == (1, 0, 20.0)
    assert first["r1"].window_s == 10.0 and first["r1"].at == 10.0
    assert (first["r2"].in_flight, first["r2"].requests, first["r2"].p95_ms) == (0.0, 0, None)
    # The request still in flight carries into the next window.
    loads.finished("r1", "fraud", False, 30.0, 12.0)
    (second,) = loads.take(20.0, {"r1": "fraud"})
    assert second.in_flight == pytest.approx(2.0 / 10.0)
    assert (second.requests, second.errors) == (1, 1)


def test_p95():
    assert p95([]) is None
    assert p95([5.0]) == 5.0
    assert p95([float(i) for i in range(1, 101)]) == 95.0


def test_counts_are_deltas_and_a_failed_report_puts_them_back():
    counts = Counts()
    key = ("fraud", "ml", "alice", "tok-1", hour_of(7300.0))
    assert key[4] == 7200.0
    counts.add(key)
    counts.add(key, errors=1, tokens_in=5, tokens_out=3)
    (taken,) = counts.take()
    assert (taken.requests, taken.errors, taken.tokens_in, taken.tokens_out) == (2, 1, 5, 3)
    assert counts.take() == []
    counts.restore([taken])
    counts.add(key)
    (again,) = counts.take()
    assert again.requests == 3
