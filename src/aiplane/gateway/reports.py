"""What the gateway tells the control plane each period: per replica, the load it saw
(autoscaling reads it); per key and UTC hour, the requests and tokens it served (cost per
request and quotas read them). Both are kept here between reports and handed over as deltas."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence

from aiplane.core.routing import ReplicaState
from aiplane.core.serving.routes import ReplicaLoad, RequestCount


class Loads:
    """Per replica, the load since the last report, as the difference of two of the router's
    snapshots (its counters only grow): requests, errors, and the mean in flight from its
    integral of requests in flight over time. The p95 is the router's decayed one."""

    def __init__(self, now: float) -> None:
        self._since = now
        self._last: dict[str, ReplicaState] = {}

    def take(
        self, now: float, states: Sequence[ReplicaState], replicas: Mapping[str, str]
    ) -> list[ReplicaLoad]:
        """The loads since the last call for every replica in ``replicas`` (run id ->
        endpoint): one the router has not seen reports zero, which is what lets an idle
        endpoint scale down. A replica no longer in the table is not reported."""
        window_s = max(now - self._since, 1e-9)
        seen = {state.run_id: state for state in states}
        loads = []
        for run_id, endpoint in replicas.items():
            state = seen.get(run_id)
            if state is None:
                loads.append(ReplicaLoad(endpoint, run_id, now, window_s, 0.0, 0, 0))
                continue
            last = self._last.get(run_id)
            if last is not None and state.requests < last.requests:
                last = None  # the router forgot it and started again
            requests = state.requests - (last.requests if last else 0)
            in_flight_s = state.in_flight_s - (last.in_flight_s if last else 0.0)
            loads.append(
                ReplicaLoad(
                    endpoint=endpoint,
                    run_id=run_id,
                    at=now,
                    window_s=window_s,
                    in_flight=max(0.0, in_flight_s) / window_s,
                    requests=requests,
                    errors=state.errors - (last.errors if last else 0),
                    p95_ms=state.p95_ms if requests > 0 else None,
                )
            )
        self._since = now
        self._last = {run_id: seen[run_id] for run_id in replicas if run_id in seen}
        return loads


CountKey = tuple[str, str, str, str | None, float]


class Counts:
    """Requests, errors and tokens per (endpoint, team, principal, token, UTC hour)."""

    def __init__(self) -> None:
        self._counts: dict[CountKey, list[int]] = {}

    def add(
        self,
        key: CountKey,
        requests: int = 1,
        errors: int = 0,
        tokens_in: int = 0,
        tokens_out: int = 0,
    ) -> None:
        row = self._counts.setdefault(key, [0, 0, 0, 0])
        row[0] += requests
        row[1] += errors
        row[2] += tokens_in
        row[3] += tokens_out

    def take(self) -> list[RequestCount]:
        counts, self._counts = self._counts, {}
        return [
            RequestCount(endpoint, team, principal, token_id, hour, *row)
            for (endpoint, team, principal, token_id, hour), row in counts.items()
        ]

    def restore(self, counts: Iterable[RequestCount]) -> None:
        """Put back counts whose report failed, so the next report carries them."""
        for c in counts:
            key = (c.endpoint, c.team, c.principal, c.token_id, c.hour)
            self.add(key, c.requests, c.errors, c.tokens_in, c.tokens_out)


def hour_of(at: float) -> float:
    return float(math.floor(at / 3600.0) * 3600)
