"""What the gateway needs of the control plane, as one port.

The gateway is an edge: it holds no store and no backend. Inside ``aiplane up`` it is given
the endpoint service itself (in-process, no copy); run alone (``aiplane gateway``) it is given
one that speaks to the control plane's API over HTTP and caches. Both are the same protocol,
so the gateway is tested once against a fake of it.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Protocol

from aiplane.core.auth import Caller
from aiplane.core.serving.guard_hits import GuardHit
from aiplane.core.serving.routes import ReplicaLoad, RequestCount, RoutingTable


class GatewayControl(Protocol):
    def table(self) -> RoutingTable:
        """The newest routing table: every endpoint with its replicas (ready or not) and the
        sites they are at. Cheap to call often: implementations rebuild or refetch it at most
        about once a second."""
        ...

    def authenticate(self, token: str) -> Caller | None:
        """The caller a bearer token or API key stands for; None when it is unknown, revoked,
        expired, or its principal disabled. Implementations may cache for a few seconds."""
        ...

    def record_denial(self, caller: Caller | None, endpoint: str, reason: str, at: float) -> None:
        """An audit entry for a refused invocation (403): who, which endpoint, why."""
        ...

    def record_guard_hits(self, hits: Sequence[GuardHit]) -> None:
        """An audit entry per guard hit (a request or an answer blocked, redacted or flagged):
        who, which endpoint, the guard, its action, the kinds found and how many; never the
        text. The gateway sends them in batches, off the request path."""
        ...

    def report(self, loads: Sequence[ReplicaLoad], counts: Sequence[RequestCount]) -> None:
        """What the gateway served since its last report: per replica load (autoscaling reads
        it) and per key counts (cost per request and quotas read them). Counts are deltas."""
        ...
