"""The demo's serving part: an endpoint at the edge site with a cloud fallback, requests
through the gateway from EU users, an edge outage, and where the traffic went."""

from __future__ import annotations

import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from aiplane.client import Client
from aiplane.core.runs import TERMINAL
from aiplane.wire.endpoints import EndpointOut

ENDPOINT = "scorer"
EDGE = "edge-retail-berlin"
CLOUD = "gcp-europe-west4"
REGION = "eu-users"
REQUESTS = 100
_ENDED = {str(state) for state in TERMINAL}
BODY = {"inputs": [{"name": "x", "shape": [1, 8], "datatype": "FP32", "data": [0.5] * 8}]}


@dataclass
class Phase:
    """What one round of requests through the gateway came to."""

    name: str
    by_site: Counter[str] = field(default_factory=Counter)
    failed: int = 0
    emulated_delay_ms: set[str] = field(default_factory=set)
    note: str = ""

    def describe(self) -> str:
        sites = ", ".join(f"{site} {n}" for site, n in self.by_site.most_common()) or "none"
        delay = f"; emulated delay {'/'.join(sorted(self.emulated_delay_ms))} ms" * bool(
            self.emulated_delay_ms
        )
        note = f"; {self.note}" * bool(self.note)
        return f"{self.name}: {sites}; failed {self.failed}{delay}{note}"


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


def send(
    client: Client,
    phase: Phase,
    token: str,
    requests: int = REQUESTS,
    until_site: str | None = None,
    deadline: float = float("inf"),
) -> Phase:
    """``requests`` inference requests through the gateway, from EU users, one at a time;
    with ``until_site``, only until one is answered there (or ``deadline``)."""
    headers = {"Authorization": f"Bearer {token}", "x-aiplane-region": REGION}
    url = f"{client.url}/v2/models/{ENDPOINT}/infer"
    with httpx.Client(headers=headers, timeout=10.0) as http:
        for _ in range(requests):
            if time.monotonic() > deadline:
                break
            answer = http.post(url, json=BODY)
            if answer.status_code != 200:
                phase.failed += 1
                continue
            site = answer.headers.get("x-aiplane-site", "?")
            phase.by_site[site] += 1
            delay = answer.headers.get("x-aiplane-emulated-delay-ms")
            if delay:
                phase.emulated_delay_ms.add(delay)
            if site == until_site:
                break
    return phase


def stop_edge(client: Client, endpoint: EndpointOut) -> list[str]:
    """Stop the edge replicas, as a site outage would; the job ids stopped. The endpoint
    starts new ones (its minimum at the edge is one), which is what the demo then shows."""
    stopped = ready_at(endpoint, EDGE)
    for job_id in stopped:
        client.jobs.cancel(job_id)
    # Requests start once the stopped replicas are gone (one still stopping would answer).
    while any(client.jobs.show(job_id).state not in _ENDED for job_id in stopped):
        time.sleep(0.1)
    return stopped


def run(client: Client, token: str, timeout_s: float) -> tuple[bool, list[Phase]]:
    """The serving part end to end: EU users served at the edge; with the edge's replicas
    stopped, at the cloud site, until the endpoint has replaced them; then at the edge again.
    True when that is what happened, with no request failed."""
    deadline = time.monotonic() + timeout_s
    endpoint = wait_ready(client, (EDGE, CLOUD), deadline)
    if endpoint is None:
        return False, []
    before = send(client, Phase("EU users, both sites up"), token)
    stopped_at = time.monotonic()
    stop_edge(client, endpoint)
    outage = send(
        client,
        Phase(f"{EDGE} replicas stopped"),
        token,
        10_000,
        until_site=EDGE,
        deadline=deadline,
    )
    outage.note = f"the endpoint replaced them in {time.monotonic() - stopped_at:.1f} s"
    after = send(client, Phase(f"{EDGE} replaced"), token)
    phases = [before, outage, after]
    ok = (
        before.by_site[EDGE] >= 0.9 * REQUESTS
        and outage.by_site[CLOUD] > 0
        and outage.by_site[EDGE] == 1  # the answer that ended the outage
        and after.by_site[EDGE] >= 0.9 * REQUESTS
        and all(p.failed == 0 for p in phases)
    )
    return ok, phases
