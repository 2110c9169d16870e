"""How many replicas an endpoint wants at a site, from the load the gateway reported. Pure.

Two metrics (``Autoscale.metric``):

- ``in_flight``: as the Kubernetes HPA does, ``ceil(total in flight / target per replica)``,
  left alone while the load per replica is within 10% of the target (so that noise around the
  target does not flap the count).
- ``p95_ms``: one more replica while the p95 is over the target, one fewer while it is under
  half of it (latency does not scale linearly with replicas, so it moves one at a time).

Up acts at once; down only once the load has stayed low for ``scale_down_after_s``, which the
caller carries from one call to the next in ``Scale.low_since``. The answer is always within
the site's bounds, and a count outside them (the spec changed) is brought inside at once.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from aiplane.core.errors import Problem, SpecError
from aiplane.core.serving.endpoints import AutoPlacement, EndpointSpec, ScaleMetric
from aiplane.core.serving.routes import ReplicaLoad

# HPA's default: a load within 10% of the target changes nothing.
TOLERANCE = 0.1
# A load report older than this many of its windows is stale (its gateway stopped reporting).
_STALE_WINDOWS = 3.0


@dataclass(frozen=True)
class Scale:
    replicas: int
    # Since when the load has been low enough for fewer replicas; None: it is not. Hand it
    # back on the next call.
    low_since: float | None
    reason: str


def bounds(spec: EndpointSpec, site: str) -> tuple[int, int] | None:
    """The site's (min, max) replicas; None when the endpoint no longer serves there."""
    if spec.sites:
        for entry in spec.sites:
            if entry.site == site:
                return entry.min_replicas, entry.max_replicas
        return None
    auto = spec.placement or AutoPlacement()
    return auto.min_replicas, auto.max_replicas


def desired(
    spec: EndpointSpec,
    site: str,
    current: int,
    loads: Sequence[ReplicaLoad],
    now: float,
    low_since: float | None,
) -> Scale:
    """The replicas wanted at ``site`` now; ``loads`` are the reports for its replicas
    (several for one replica: the newest counts)."""
    limits = bounds(spec, site)
    if limits is None:
        return Scale(0, None, f"{site} is no longer among the endpoint's sites")
    low, high = limits
    if current < low:
        return Scale(low, None, f"{current} replica(s), under the minimum of {low} at {site}")
    if current > high:
        return Scale(high, None, f"{current} replica(s), over the maximum of {high} at {site}")
    target = spec.autoscale.target
    if not target > 0:
        raise SpecError(
            f"endpoint {spec.name}: invalid autoscale target",
            [Problem("autoscale.target", "must be above zero", repr(target), "a number > 0")],
        )
    fresh = _newest_fresh(loads, now)
    if not fresh:
        return Scale(current, None, "no load reported: the count stays")
    if spec.autoscale.metric is ScaleMetric.IN_FLIGHT:
        raw, why = _by_in_flight(fresh, current, target)
    else:
        raw, why = _by_p95(fresh, current, target)
    wanted = min(max(raw, low), high)
    if raw > high:
        why += f" (held at the maximum of {high})"
    elif raw < low:
        why += f" (held at the minimum of {low})"
    if wanted > current:
        return Scale(wanted, None, f"{why}: up to {wanted}")
    if wanted == current:
        return Scale(current, None, f"{why}: {current} stay")
    return _down(spec, current, wanted, why, now, low_since)


def _down(
    spec: EndpointSpec, current: int, wanted: int, why: str, now: float, low_since: float | None
) -> Scale:
    wait = spec.autoscale.scale_down_after_s
    since = now if low_since is None else low_since
    if now - since >= wait:
        return Scale(wanted, None, f"{why} for {now - since:.0f} s: down to {wanted}")
    left = wait - (now - since)
    return Scale(current, since, f"{why}: down to {wanted} in {left:.0f} s if it stays low")


def _newest_fresh(loads: Sequence[ReplicaLoad], now: float) -> list[ReplicaLoad]:
    newest: dict[str, ReplicaLoad] = {}
    for load in loads:
        if now - load.at > _STALE_WINDOWS * load.window_s:
            continue
        seen = newest.get(load.run_id)
        if seen is None or load.at > seen.at:
            newest[load.run_id] = load
    return list(newest.values())


def _by_in_flight(loads: Sequence[ReplicaLoad], current: int, target: float) -> tuple[int, str]:
    total = sum(load.in_flight for load in loads)
    why = f"{total:.1f} in flight for a target of {target:g} per replica"
    if current > 0 and abs(total / (current * target) - 1.0) <= TOLERANCE:
        return current, f"{why}, within {TOLERANCE:.0%} of it"
    # The small slack keeps 8.0000001 / 4 from asking for a third replica.
    return math.ceil(total / target - 1e-9), why


def _by_p95(loads: Sequence[ReplicaLoad], current: int, target: float) -> tuple[int, str]:
    measured = [load for load in loads if load.p95_ms is not None and load.requests > 0]
    if not measured:
        if any(load.in_flight > 0 for load in loads):
            # Requests in flight and none finished: stuck, not idle.
            return current, "requests in flight and none finished"
        return current - 1, "no requests: one fewer"
    # The replicas' p95s weighted by their requests: close to the site's p95 without the
    # latencies themselves.
    requests = sum(load.requests for load in measured)
    p95 = sum((load.p95_ms or 0.0) * load.requests for load in measured) / requests
    if p95 > target:
        return current + 1, f"p95 {p95:.0f} ms over the {target:g} ms target: one more"
    if p95 < target / 2:
        return current - 1, f"p95 {p95:.0f} ms under half the {target:g} ms target: one fewer"
    return current, f"p95 {p95:.0f} ms within the {target:g} ms target"
