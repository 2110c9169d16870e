"""The gateway's settings: how often it refreshes and reports, and its proxy's bounds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field


@dataclass(frozen=True)
class GatewaySettings:
    # How often the routing table is fetched again, and the loads and counts reported.
    table_refresh_s: float = 1.0
    report_every_s: float = 2.0
    # How long an authentication answer is kept (a miss too: an unknown key costs one lookup
    # per period, not one per request).
    auth_cache_s: float = 5.0
    upstream_timeout_s: float = 30.0
    max_connections: int = 200
    # A caller's region from its address when it sends no region header: CIDR -> region.
    client_networks: Mapping[str, str] = field(default_factory=dict)
    region_header: str = "x-aiplane-region"
    # Inference records waiting to be written; beyond it they are dropped and counted.
    log_queue: int = 10_000
