"""The inference log contract: every member (memory, local SQLite, NATS JetStream) must pass
all of it."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from aiplane.core.serving.endpoints import Role
from aiplane.streams.base import InferenceLog

from .records import T0, record

pytestmark = pytest.mark.anyio


async def test_records_come_back_in_the_order_appended_with_rising_positions(
    log: InferenceLog,
) -> None:
    await log.append([record(1), record(2)])
    await log.append([record(3)])

    found = await log.read()

    assert [p.record for p in found] == [record(1), record(2), record(3)]
    positions = [p.position for p in found]
    assert positions == sorted(positions) and len(set(positions)) == 3 and positions[0] >= 1


async def test_an_empty_log_reads_nothing_and_an_empty_append_adds_nothing(
    log: InferenceLog,
) -> None:
    await log.append([])

    assert await log.read() == []


async def test_a_reader_resumes_after_its_last_position_with_a_limit(log: InferenceLog) -> None:
    await log.append([record(n) for n in range(1, 8)])

    first = await log.read(limit=3)
    second = await log.read(after=first[-1].position, limit=3)
    third = await log.read(after=second[-1].position, limit=3)

    assert [p.record.request_id for p in first + second + third] == [
        f"req-{n}" for n in range(1, 8)
    ]
    assert len(third) == 1
    assert await log.read(after=third[-1].position) == []
    assert await log.read(limit=0) == []


async def test_reading_past_the_end_waits_for_nothing(log: InferenceLog) -> None:
    await log.append([record(1)])

    assert await log.read(after=1_000_000) == []


async def test_the_endpoint_filter_reads_only_that_endpoints_records(log: InferenceLog) -> None:
    await log.append(
        [record(1, "fraud"), record(2, "churn"), record(3, "fraud"), record(4, "fraud.v2")]
    )
    everything = await log.read()

    fraud = await log.read(endpoint="fraud")
    after_first = await log.read(after=fraud[0].position, endpoint="fraud")

    assert [p.record.request_id for p in fraud] == ["req-1", "req-3"]
    assert [p.record.request_id for p in after_first] == ["req-3"]
    assert [p.record.request_id for p in await log.read(endpoint="fraud.v2")] == ["req-4"]
    assert await log.read(endpoint="none-such") == []
    # A filtered read gives the same positions as the whole log.
    assert fraud == [everything[0], everything[2]]
    # The limit counts the endpoint's records, not what was skipped.
    assert [p.record.request_id for p in await log.read(limit=1, endpoint="churn")] == ["req-2"]


async def test_every_field_round_trips(log: InferenceLog) -> None:
    full = record(
        7,
        "llm-chat",
        version="command",
        role=Role.SHADOW,
        site="gcp-us-central1",
        at=T0 + 0.123456,
        latency_ms=12.0625,
        status=503,
        principal="svc-batch",
        features={"messages": [{"role": "user", "content": "Grüße ✓"}], "n": 2, "x": None},
        prediction={"usage": {"total_tokens": 17}, "ok": False, "scores": [0.1, 2.5e-07]},
    )
    bare = record(8, principal=None, features={}, prediction={})

    await log.append([full, bare])

    assert [p.record for p in await log.read()] == [full, bare]


async def test_a_reopened_log_has_every_record_and_carries_on_after_them(
    make_log: Callable[[], InferenceLog],
) -> None:
    first = make_log()
    await first.append([record(1), record(2)])
    before = await first.read()
    await first.close()

    again = make_log()
    await again.append([record(3)])
    after = await again.read()

    assert after[:2] == before
    assert after[2].record == record(3) and after[2].position > before[-1].position
