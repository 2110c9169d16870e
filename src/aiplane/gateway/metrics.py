"""The gateway's Prometheus series, in the registry it is given (never the global one)."""

from __future__ import annotations

from dataclasses import dataclass

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

from aiplane.core.serving.routes import RoutingTable

# Seconds: from a millisecond to a minute, denser where the gateway's own overhead lives.
LATENCY_BUCKETS = (
    0.001,
    0.0025,
    0.005,
    0.01,
    0.025,
    0.05,
    0.1,
    0.25,
    0.5,
    1.0,
    2.5,
    5.0,
    10.0,
    30.0,
    60.0,
)


@dataclass(frozen=True)
class SiteSeries:
    """An endpoint's series at one site, looked up once (``labels()`` on each request showed
    in the profile)."""

    in_flight: Gauge
    latency: Histogram


class GatewayMetrics:
    def __init__(self, registry: CollectorRegistry) -> None:
        self._sites: dict[tuple[str, str], SiteSeries] = {}
        self._answered: dict[tuple[str, str, int], Counter] = {}
        self.requests = Counter(
            "aiplane_gateway_requests",
            "Requests answered, by endpoint, site and HTTP status.",
            ["endpoint", "site", "code"],
            registry=registry,
        )
        self.latency = Histogram(
            "aiplane_gateway_request_duration_seconds",
            "Time from a request's arrival to its answer's end, in seconds.",
            ["endpoint", "site"],
            buckets=LATENCY_BUCKETS,
            registry=registry,
        )
        self.errors = Counter(
            "aiplane_gateway_errors",
            "Requests that failed, by reason (unauthenticated, forbidden, rate_limited, quota, "
            "upstream, no_replica, ...).",
            ["endpoint", "site", "reason"],
            registry=registry,
        )
        self.in_flight = Gauge(
            "aiplane_gateway_in_flight",
            "Requests being proxied now.",
            ["endpoint", "site"],
            registry=registry,
        )
        self.replicas = Gauge(
            "aiplane_gateway_replicas",
            "Replicas in the routing table, ready or not.",
            ["endpoint", "site", "ready"],
            registry=registry,
        )
        self.log_dropped = Counter(
            "aiplane_gateway_log_dropped",
            "Inference records dropped: the log's queue was full or a write failed.",
            registry=registry,
        )
        self.retries = Counter(
            "aiplane_gateway_retries",
            "Requests sent again to another replica after a failed attempt.",
            registry=registry,
        )

        self.guard_hits = Counter(
            "aiplane_guard_hits",
            "Guard hits, by guard (injection, pii, canary), the action taken (block, redact, "
            "flag) and endpoint.",
            ["guard", "action", "endpoint"],
            registry=registry,
        )
        self.guard_audit_dropped = Counter(
            "aiplane_gateway_guard_audit_dropped",
            "Guard hits whose audit entry was dropped: too many waited to be sent.",
            registry=registry,
        )

    def site(self, endpoint: str, site: str) -> SiteSeries:
        """The in-flight gauge and latency histogram of ``endpoint`` at ``site``. Bounded as
        the series are: only endpoints in the table and their sites name one."""
        series = self._sites.get((endpoint, site))
        if series is None:
            series = self._sites[endpoint, site] = SiteSeries(
                self.in_flight.labels(endpoint, site), self.latency.labels(endpoint, site)
            )
        return series

    def answered(self, endpoint: str, site: str, status: int) -> Counter:
        """The requests counter for one endpoint, site and status."""
        counter = self._answered.get((endpoint, site, status))
        if counter is None:
            counter = self._answered[endpoint, site, status] = self.requests.labels(
                endpoint, site, str(status)
            )
        return counter

    def table(self, table: RoutingTable) -> None:
        """Set the replicas gauge from a new table (series of gone replicas removed)."""
        counts: dict[tuple[str, str, str], int] = {}
        for name, route in table.endpoints.items():
            for replica in route.replicas:
                key = (name, replica.site, "true" if replica.ready else "false")
                counts[key] = counts.get(key, 0) + 1
        self.replicas.clear()
        for (endpoint, site, ready), count in counts.items():
            self.replicas.labels(endpoint, site, ready).set(count)
