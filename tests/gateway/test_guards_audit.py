"""Guard hits on their way to the audit log: batched off the request path, kept when the
control plane cannot take them, and written by the service as audit entries without text."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest
from prometheus_client import CollectorRegistry

from aiplane.core.guards import GuardAction, GuardName
from aiplane.core.serving.guard_hits import GuardHit, GuardStage
from aiplane.gateway.guard_audit import GuardAudit
from aiplane.gateway.metrics import GatewayMetrics
from tests.gateway.fakes import caller
from tests.services.endpoint_plane import Plane


def _hit(i: int, action: GuardAction = GuardAction.FLAG) -> GuardHit:
    return GuardHit(
        caller("alice"),
        "chat",
        "ml",
        GuardName.INJECTION,
        action,
        GuardStage.REQUEST,
        ("injection",),
        1,
        f"req-{i}",
        float(i),
    )


class Flaky:
    def __init__(self, failures: int) -> None:
        self.failures = failures
        self.sent: list[list[GuardHit]] = []

    def __call__(self, hits: Sequence[GuardHit]) -> None:
        if self.failures > 0:
            self.failures -= 1
            raise ConnectionError("control plane down")
        self.sent.append(list(hits))


def test_hits_are_sent_in_batches_and_kept_while_the_control_plane_is_away() -> None:
    registry = CollectorRegistry()
    dropped = GatewayMetrics(registry).guard_audit_dropped
    send = Flaky(failures=1)
    audit = GuardAudit(send, capacity=4, dropped=dropped)

    async def run() -> None:
        for i in range(6):
            audit.put(_hit(i))  # never waits; over capacity: dropped and counted
        await audit.flush()  # fails: all kept
        assert send.sent == []
        await audit.flush()

    asyncio.run(run())
    assert [[h.request_id for h in batch] for batch in send.sent] == [
        ["req-0", "req-1", "req-2", "req-3"]
    ]
    assert registry.get_sample_value("aiplane_gateway_guard_audit_dropped_total") == 2


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    made = Plane(tmp_path, "memory")
    yield made
    made.cp.store.close()


def test_the_service_writes_an_audit_entry_per_hit(plane: Plane) -> None:
    plane.apply()
    plane.services.gateway.record_guard_hits(
        [_hit(1, GuardAction.BLOCK), _hit(2, GuardAction.REDACT)]
    )
    entries = [e.record for e in plane.store.audit.entries() if e.record.action == "endpoint.guard"]
    assert [(e.outcome, e.actor, e.resource) for e in entries] == [
        ("blocked", "alice", "endpoint/chat"),
        ("redacted", "alice", "endpoint/chat"),
    ]
    assert entries[0].detail == {
        "guard": "injection",
        "action": "block",
        "stage": "request",
        "kinds": ["injection"],
        "count": 1,
        "request_id": "req-1",
        "at": 1.0,
        "token": "tok-alice",  # the audit log's own: which credential
    }
