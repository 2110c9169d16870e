"""Which replica answers a request: the site first, by latency SLO and cost, then the replica.

A site's expected latency for a user region is the p95 the router measured of that region's
requests to it (decayed with ``latency_halflife_s``) while the measurement holds at least half
a request's worth, else the site's declared latency (unknown: infinite). Among the sites that
meet the endpoint's SLO for the region the one whose cheapest replica costs least per request
wins, then the lower latency; when none meets it, the nearest, with a warning. Within the site,
power of two choices on requests in flight (Mitzenmacher), ties to the cheaper replica.

Candidates are the ready replicas of the asked role, not refused by the control plane (their
model version's signature or alias, decision 0069), not yet tried for this request whose
circuit breaker lets a request through. The gateway tells the router what it did with each
pick (``started``, ``finished``); that is all the router learns from. Time and randomness come
in as arguments, so one router serves live traffic and tests alike.
"""

from __future__ import annotations

import math
import random
from collections.abc import Collection, Sequence
from dataclasses import dataclass

from aiplane.core.routing.breaker import Breaker
from aiplane.core.routing.budget import RetryBudget
from aiplane.core.routing.latency import DecayingQuantile
from aiplane.core.routing.replicas import ReplicaState, ReplicaStats
from aiplane.core.serving.endpoints import Role
from aiplane.core.serving.routes import EndpointRoute, ReplicaRoute

# A measurement counts while it holds this many requests' worth: one request within the last
# half-life. Below it the declared latency applies again, so a site that was slow once and
# then got no traffic is not shunned for ever.
_MIN_MEASURED_WEIGHT = 0.5


@dataclass(frozen=True)
class Pick:
    replica: ReplicaRoute
    site: str
    meets_slo: bool  # False: no site meets the SLO for the region; the nearest was chosen
    expected_ms: float  # the latency this site is expected to give the region
    warning: str | None  # e.g. "no site meets the 50 ms p95 SLO for eu-west; nearest: ..."
    reason: str  # one line: why this site and replica (for logs and x-aiplane-route)
    # The region the latency is filed under by ``finished``: the request's, or None for one
    # that no site declares and no SLO names.
    region: str | None = None


@dataclass(frozen=True)
class _SiteOption:
    site: str
    expected_ms: float
    measured: bool
    cost: float  # of its cheapest candidate, per request (see Router._costs)
    cost_measured: bool  # that replica's throughput is measured, not assumed
    cheapest: ReplicaRoute
    replicas: tuple[ReplicaRoute, ...]


class Router:
    def __init__(
        self,
        *,
        breaker_failures: int = 5,
        breaker_open_s: float = 5.0,
        retry_ratio: float = 0.2,
        retry_min_per_s: float = 10.0,
        latency_halflife_s: float = 30.0,
    ) -> None:
        self._breaker_failures = breaker_failures
        self._breaker_open_s = breaker_open_s
        self._halflife_s = latency_halflife_s
        self._budget = RetryBudget(retry_ratio, retry_min_per_s)
        self._replicas: dict[str, ReplicaStats] = {}
        self._site_latency: dict[tuple[str, str | None], DecayingQuantile] = {}

    # -- choosing ---------------------------------------------------------------------------

    def pick(
        self,
        route: EndpointRoute,
        region: str | None,
        role: Role,
        now: float,
        rng: random.Random,
        exclude: frozenset[str] = frozenset(),
    ) -> Pick | None:
        """The replica for one request (or one retry of it: ``exclude`` holds the run ids
        already tried); None when no replica of ``role`` can take it."""
        candidates = [
            r
            for r in route.replicas
            if r.role == role
            and r.ready
            and r.refused is None
            and r.run_id not in exclude
            and self._allows(r, now)
        ]
        if not candidates:
            return None
        # A region no site declares and no SLO names is measured as no region: a caller
        # cannot grow the router's tables with made-up regions.
        measured_as = region if _known(route, region) else None
        costs, measured = self._costs(candidates)
        options = self._site_options(route, candidates, measured_as, costs, measured, now)
        slo = route.spec.latency_slo_ms.get(region) if region is not None else None
        meeting = [o for o in options if slo is None or o.expected_ms <= slo]
        warning = None
        if meeting:
            # The site by its price per hour, not by its measured cost per request: a replica
            # that is sent more requests overlaps more of them, so its measured throughput
            # rises and its cost per request falls, which would pull yet more traffic to it
            # whatever its price. Cost per request breaks ties within a price.
            best = min(
                meeting, key=lambda o: (o.cheapest.usd_per_hour, o.cost, o.expected_ms, o.site)
            )
            why_site = _why_cheapest(best, len(meeting), region, slo)
        else:
            # Only a region with an SLO gets here.
            best = min(options, key=lambda o: (o.expected_ms, o.cost, o.site))
            warning = (
                f"no site meets the {slo:g} ms p95 SLO for {region}; "
                f"nearest: {best.site} ({_ms(best.expected_ms)})"
            )
            why_site = (
                f"nearest for {region} ({_ms(best.expected_ms)}, {_source(best)}); "
                f"none of {len(options)} site(s) meets the {slo:g} ms SLO"
            )
        replica, why_replica = self._two_choices(best.replicas, costs, rng)
        return Pick(
            replica=replica,
            site=best.site,
            meets_slo=not warning,
            expected_ms=best.expected_ms,
            warning=warning,
            reason=f"site {best.site}: {why_site}; replica {replica.run_id}: {why_replica}",
            region=measured_as,
        )

    def _allows(self, replica: ReplicaRoute, now: float) -> bool:
        stats = self._replicas.get(replica.run_id)
        return stats is None or stats.breaker.allows(now)

    def _site_options(
        self,
        route: EndpointRoute,
        candidates: Sequence[ReplicaRoute],
        region: str | None,
        costs: dict[str, float],
        measured: set[str],
        now: float,
    ) -> list[_SiteOption]:
        by_site: dict[str, list[ReplicaRoute]] = {}
        for replica in candidates:
            by_site.setdefault(replica.site, []).append(replica)
        options = []
        for site, replicas in by_site.items():
            cheapest = min(replicas, key=lambda r: (costs[r.run_id], r.usd_per_hour, r.run_id))
            expected, latency_measured = self._expected_ms(route, site, region, now)
            options.append(
                _SiteOption(
                    site=site,
                    expected_ms=expected,
                    measured=latency_measured,
                    cost=costs[cheapest.run_id],
                    cost_measured=cheapest.run_id in measured,
                    cheapest=cheapest,
                    replicas=tuple(replicas),
                )
            )
        return options

    def _expected_ms(
        self, route: EndpointRoute, site: str, region: str | None, now: float
    ) -> tuple[float, bool]:
        estimate = self._site_latency.get((site, region))
        if estimate is not None and estimate.weight(now) >= _MIN_MEASURED_WEIGHT:
            value = estimate.value()
            if value is not None:
                return value, True
        declared = route.sites.get(site)
        if declared is None or region is None:
            return math.inf, False
        return float(declared.latency_ms.get(region, math.inf)), False

    def _costs(self, candidates: Sequence[ReplicaRoute]) -> tuple[dict[str, float], set[str]]:
        """Each candidate's cost per request, in dollar-seconds per hour: price per hour over
        requests per second (divide by 3,600 for dollars per request); and the run ids whose
        throughput is measured. A replica not yet measured is assumed to have its peers' mean
        throughput, so that it competes on its price alone; with none measured, 1 request/s
        (then the cost per request is the price per hour, for all alike)."""
        known: dict[str, float] = {}
        for replica in candidates:
            stats = self._replicas.get(replica.run_id)
            throughput = None if stats is None else stats.throughput_per_s()
            if throughput is not None and throughput > 0.0:
                known[replica.run_id] = throughput
        fallback = sum(known.values()) / len(known) if known else 1.0
        costs = {r.run_id: r.usd_per_hour / known.get(r.run_id, fallback) for r in candidates}
        return costs, set(known)

    def _two_choices(
        self, replicas: Sequence[ReplicaRoute], costs: dict[str, float], rng: random.Random
    ) -> tuple[ReplicaRoute, str]:
        if len(replicas) == 1:
            return replicas[0], "the only candidate at the site"
        a, b = rng.sample(list(replicas), 2)
        key_a = (self.in_flight(a.run_id), costs[a.run_id])
        key_b = (self.in_flight(b.run_id), costs[b.run_id])
        if key_a == key_b:
            chosen, other = (a, b) if rng.random() < 0.5 else (b, a)
            return chosen, f"{key_a[0]} in flight, as {other.run_id}, same cost (drawn)"
        chosen, other = (a, b) if key_a < key_b else (b, a)
        mine, theirs = self.in_flight(chosen.run_id), self.in_flight(other.run_id)
        if mine != theirs:
            return chosen, f"{mine} in flight vs {theirs} at {other.run_id} (two choices)"
        return chosen, f"{mine} in flight, as {other.run_id}, but cheaper per request"

    # -- what the gateway did with a pick ---------------------------------------------------

    def started(self, pick: Pick, now: float) -> None:
        """One more request in flight at the pick's replica (a retry too). Call it right
        after ``pick``, with no await between: a half-open breaker's one trial is taken here."""
        stats = self._stats(pick.replica)
        stats.advance(now)
        stats.in_flight += 1
        stats.breaker.started(now)
        self._budget.attempt(now)

    def finished(self, pick: Pick, ok: bool, latency_ms: float, now: float) -> None:
        """A request to the pick's replica ended. Only successes' latencies are measured: a
        refused connection is fast, and the breaker, not the latency, deals with failures."""
        stats = self._stats(pick.replica)
        stats.advance(now)
        stats.in_flight = max(0, stats.in_flight - 1)
        stats.requests += 1
        if not ok:
            stats.errors += 1
        stats.breaker.finished(ok, now)
        if ok:
            stats.succeeded(latency_ms, now)
            key = (pick.site, pick.region)
            estimate = self._site_latency.get(key)
            if estimate is None:
                estimate = self._site_latency[key] = DecayingQuantile(self._halflife_s)
            estimate.observe(latency_ms, now)

    def may_retry(self, now: float) -> bool:
        """Whether the retry budget allows one more retry now; a yes counts it."""
        return self._budget.may_retry(now)

    # -- reading and housekeeping -----------------------------------------------------------

    def in_flight(self, run_id: str) -> int:
        stats = self._replicas.get(run_id)
        return 0 if stats is None else stats.in_flight

    def snapshot(self, now: float) -> list[ReplicaState]:
        """Every replica the router has state for, by run id."""
        states = []
        for run_id in sorted(self._replicas):
            stats = self._replicas[run_id]
            stats.advance(now)
            states.append(stats.state(now))
        return states

    def forget(self, live_run_ids: Collection[str]) -> None:
        """Drop the state of replicas that are gone (the sites' latencies stay)."""
        live = set(live_run_ids)
        for run_id in [r for r in self._replicas if r not in live]:
            del self._replicas[run_id]

    def _stats(self, replica: ReplicaRoute) -> ReplicaStats:
        stats = self._replicas.get(replica.run_id)
        if stats is None:
            breaker = Breaker(self._breaker_failures, self._breaker_open_s)
            stats = ReplicaStats(
                replica.run_id, replica.site, replica.role, breaker, self._halflife_s
            )
            self._replicas[replica.run_id] = stats
        return stats


def _why_cheapest(best: _SiteOption, meeting: int, region: str | None, slo: float | None) -> str:
    if region is None:
        why = "no region given"
    elif slo is None:
        why = f"no SLO for {region}"
    else:
        why = f"{_ms(best.expected_ms)} for {region} ({_source(best)}) meets the {slo:g} ms SLO"
    price = f"${best.cheapest.usd_per_hour:g}/h"
    if best.cost_measured:
        # cost is $/h over requests/s: / 3,600 per request, x 1,000 per thousand.
        price += f", ${best.cost / 3.6:.4g} per 1k requests"
    return f"{why}; the cheapest of {meeting} site(s) at {price}"


def _known(route: EndpointRoute, region: str | None) -> bool:
    if region is None:
        return False
    if region in route.spec.latency_slo_ms:
        return True
    return any(region in site.latency_ms for site in route.sites.values())


def _ms(value: float) -> str:
    return "latency unknown" if math.isinf(value) else f"{value:.0f} ms expected"


def _source(option: _SiteOption) -> str:
    return "measured" if option.measured else "declared"
