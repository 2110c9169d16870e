from __future__ import annotations

import asyncio

from prometheus_client import CollectorRegistry

from aiplane.core.serving.endpoints import Role
from aiplane.core.serving.inference import InferenceRecord
from aiplane.gateway.logwriter import LogWriter
from aiplane.gateway.metrics import GatewayMetrics
from tests.gateway.fakes import MemoryLog


def _record(i: int) -> InferenceRecord:
    return InferenceRecord(f"r{i}", "fraud", "fraud@1", Role.PRIMARY, "edge", float(i), 1.0, 200)


class FailingLog(MemoryLog):
    async def append(self, records):  # noqa: ARG002 (it fails whatever it is given)
        raise OSError("disk full")


def test_a_full_queue_drops_and_counts_and_the_rest_is_written_in_a_batch():
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    log = MemoryLog()
    writer = LogWriter(log, capacity=3, dropped=metrics.log_dropped)

    async def run() -> None:
        for i in range(5):
            writer.put(_record(i))  # never waits
        await writer.flush()

    asyncio.run(run())
    assert [r.request_id for r in log.records] == ["r0", "r1", "r2"]
    assert log.batches == 1
    assert registry.get_sample_value("aiplane_gateway_log_dropped_total") == 2


def test_the_writer_task_appends_what_arrives_and_a_failed_append_is_counted():
    registry = CollectorRegistry()
    metrics = GatewayMetrics(registry)
    log = MemoryLog()
    writer = LogWriter(log, capacity=10, dropped=metrics.log_dropped)
    failing = LogWriter(FailingLog(), capacity=10, dropped=metrics.log_dropped)

    async def run() -> None:
        task = asyncio.create_task(writer.run())
        writer.put(_record(1))
        for _ in range(100):
            if log.records:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        failing.put(_record(2))
        failing.put(_record(3))
        await failing.flush()

    asyncio.run(run())
    assert [r.request_id for r in log.records] == ["r1"]
    assert registry.get_sample_value("aiplane_gateway_log_dropped_total") == 2


def test_records_wait_for_the_period_and_go_in_one_batch():
    registry = CollectorRegistry()
    log = MemoryLog()
    writer = LogWriter(log, 100, GatewayMetrics(registry).log_dropped, every_s=0.05)

    async def run() -> int:
        task = asyncio.create_task(writer.run())
        for i in range(5):
            writer.put(_record(i))
        written_at_once = len(log.records)
        for _ in range(100):  # bounded: 1 s
            if log.records:
                break
            await asyncio.sleep(0.01)
        task.cancel()
        return written_at_once

    assert asyncio.run(run()) == 0  # nothing written on the request's own turn
    assert [r.request_id for r in log.records] == ["r0", "r1", "r2", "r3", "r4"]
    assert log.batches == 1
