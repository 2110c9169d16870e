"""The demo's serving part: an endpoint at the edge site with a cloud fallback, requests
through the gateway from EU users, an edge outage, and where the traffic went."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from aiplane.client import Client
from aiplane.wire.endpoints import EndpointOut

ENDPOINT = "scorer"
EDGE = "edge-retail-berlin"
CLOUD = "gcp-europe-west4"
REGION = "eu-users"
REQUESTS = 100
BODY = {"inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP32", "data": [0.5] * 8}]}


@dataclass
class Phase:
    """What one round of requests through the gateway came to."""

    name: str
    by_site: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    emulated_delay_ms: set[str] = field(default_factory=set)

    def describe(self) -> str:
        sites = ", ".join(f"{site} {n}" for site, n in self.by_site.most_common()) or "none"
        delay = f"; emulated delay {'/'.join(sorted(self.emulated_delay_ms))} ms" * bool(
            self.emulated_delay_ms
        )
        return f"{self.name}: {sites}; failed {self.failed}{delay}"


def apply_endpoint(client: Client, examples: Path) -> None:
    from aiplane.specs import read_yaml

    path = examples / "endpoints" / f"{ENDPOINT}.yaml"
    client.endpoints.apply(read_yaml(path), source=path.name, workdir=str(path.parent))


def ready_at(endpoint: EndpointOut, site: str) -> list[str]:
    """The job ids of the endpoint's ready replicas at ``site``."""
    return [
        r.job_id
        for group in endpoint.sites
        if group.site == site
        for r in group.replicas
        if r.ready and not r.draining
    ]


def wait_ready(client: Client, sites: tuple[str, ...], deadline: float) -> EndpointOut | None:
    """The endpoint once each of ``sites`` has a ready replica; None at the deadline."""
    while time.monotonic() < deadline:
        endpoint = client.endpoints.show(ENDPOINT)
        if all(ready_at(endpoint, site) for site in sites):
            return endpoint
        time.sleep(0.5)
    return None


def send(client: Client, name: str, token: str) -> Phase:
    """``REQUESTS`` inference requests through the gateway, from EU users."""
    phase = Phase(name)
    headers = {"Authorization": f"Bearer {token}", "x-aiplane-region": REGION}
    url = f"{client.url}/v2/models/{ENDPOINT}/infer"
    with httpx.Client(headers=headers, timeout=10.0) as http:
        for _ in range(REQUESTS):
            answer = http.post(url, json=BODY)
            if answer.status_code != 200:
                phase.failed += 1
                continue
            phase.by_site[answer.headers.get("x-aiplane-site", "?")] += 1
            delay = answer.headers.get("x-aiplane-emulated-delay-ms")
            if delay:
                phase.emulated_delay_ms.add(delay)
    return phase


def edge_outage(client: Client, endpoint: EndpointOut, deadline: float) -> list[str]:
    """Stop the edge replicas (as a site outage would) and wait until the gateway's table no
    longer has one ready there; the endpoint will start new ones, which the demo does not
    wait for. The job ids stopped."""
    stopped = ready_at(endpoint, EDGE)
    for job_id in stopped:
        client.jobs.cancel(job_id)
    while time.monotonic() < deadline and ready_at(client.endpoints.show(ENDPOINT), EDGE):
        time.sleep(0.2)
    return stopped


def run(client: Client, token: str, timeout_s: float) -> tuple[bool, list[Phase]]:
    """The serving part end to end: True when EU users were served at the edge first and,
    with the edge down, at the cloud site, with no request failed. (The endpoint starts a new
    edge replica at once, so the second round may end back at the edge.)"""
    deadline = time.monotonic() + timeout_s
    endpoint = wait_ready(client, (EDGE, CLOUD), deadline)
    if endpoint is None:
        return False, []
    before = send(client, "EU users, both sites up", token)
    edge_outage(client, endpoint, deadline)
    after = send(client, f"EU users, {EDGE} down", token)
    ok = (
        before.by_site[EDGE] == REQUESTS
        and after.by_site[CLOUD] > 0
        and before.failed == after.failed == 0
    )
    return ok, [before, after]
