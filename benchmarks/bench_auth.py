"""What authorisation and the audit log add to a request: GET /api/v1/jobs and a submission.

Two measurements in one run, each with the audit log on and off (``AuditLog`` without a
signer records nothing):

* through HTTP: two embedded control planes (SQLite, temporary homes) in this process, one
  with the audit log and one without, their requests interleaved; a member of team ``bench``
  listing the first page of its team's jobs (``GET /api/v1/jobs?limit=50``, with
  ``--jobs`` stored) and submitting one job at a time; p50/p99 of each;
* directly, so that HTTP's noise does not swamp sub-millisecond figures: per request, the
  bearer token's authentication (``Access.authenticate``) and the policy's check
  (``Access.check``), plus for a submission the audit entry appended (chained, signed) in the
  unit of work that stores the job, against the same unit of work without it. The
  ``added_p99_ms_*`` figures are these: the plain p99 over all samples, with the median over
  ``ROUNDS`` rounds of each round's p99 beside them (``*_p99_rounds_ms``: a busy machine's
  bursts land in one round, not in all). The token is served from the authenticator's cache
  as on a busy API; ``authorise_list_uncached`` is the same with the cache dropped before
  every call (a store read of the token and its principal). The same figures in thread CPU
  time
  (``added_cpu_p99_ms_*``) leave out the time the thread waited for a core, which on a busy
  machine is most of a wall-clock p99.

Long-lived objects are frozen out of the garbage collector first, as the server does.

Prints one JSON line.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from waiting_fleet import RESOURCES, TEAM, apply_waiting_fleet

from aiplane.config import Settings
from aiplane.core.auth import Action, PrincipalKind, Resource, TeamRole
from aiplane.core.runs import Job, Run, RunState
from aiplane.gctuning import freeze_long_lived
from aiplane.server import EmbeddedServer
from aiplane.specs import workload_from_document
from aiplane.wiring import ControlPlane

ROUNDS = 5
WORKLOAD: dict[str, Any] = {
    "name": "bench",
    "team": TEAM,
    "kind": "batch",
    "resources": RESOURCES,
    "run": "true",
}


def percentile(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[max(0, int(len(ordered) * q) - 1)]


def rounds_p99(samples: list[float]) -> float:
    """The median of the p99s of ``ROUNDS`` consecutive slices of ``samples``."""
    size = len(samples) // ROUNDS
    return statistics.median(
        percentile(samples[i * size : (i + 1) * size], 0.99) for i in range(ROUNDS)
    )


def figures(samples: list[float]) -> dict[str, float]:
    return {
        "p50_ms": round(statistics.median(samples), 3),
        "p99_ms": round(percentile(samples, 0.99), 3),
    }


def settings(home: Path) -> Settings:
    return Settings(
        home=home,
        database_url=f"sqlite:///{home / 'aiplane.db'}",
        catalog_dir=None,
        telemetry="off",
        # The loops idle: the waiting fleet holds every job back, so nothing is placed, and
        # the scheduler runs only when a submission wakes it.
        scheduler_interval_s=3600.0,
        reconciler_interval_s=5.0,
    )


def member_token(cp: ControlPlane) -> str:
    identity = cp.services.identity
    alice = identity.create_principal(
        None, "alice", PrincipalKind.USER, teams={TEAM: TeamRole.MEMBER}
    )
    return identity.issue_token(None, alice, "bench")[1]


def timed(call: Callable[[], object], n: int, warmup: int = 20) -> list[float]:
    return timed_both(call, n, warmup)[0]


def timed_both(
    call: Callable[[], object], n: int, warmup: int = 20
) -> tuple[list[float], list[float]]:
    """Wall-clock and thread CPU milliseconds of ``n`` calls."""
    for _ in range(warmup):
        call()
    wall, cpu = [], []
    for _ in range(n):
        start, start_cpu = time.perf_counter(), time.thread_time()
        call()
        cpu.append((time.thread_time() - start_cpu) * 1000)
        wall.append((time.perf_counter() - start) * 1000)
    return wall, cpu


class Plane:
    """An embedded control plane and a member's HTTP client to it."""

    def __init__(self, stack: contextlib.ExitStack, audited: bool) -> None:
        tmp = stack.enter_context(tempfile.TemporaryDirectory(prefix="aiplane-bench-auth-"))
        server = stack.enter_context(EmbeddedServer(settings(Path(tmp)), audited=audited))
        apply_waiting_fleet(server.url, server.token)
        headers = {"Authorization": f"Bearer {member_token(server.cp)}"}
        self.client = stack.enter_context(
            httpx.Client(base_url=server.url + "/api/v1", headers=headers)
        )

    def submit(self) -> None:
        response = self.client.post("/jobs", json={"spec": WORKLOAD})
        if response.status_code != 201:
            raise SystemExit(f"submit failed: {response.status_code} {response.text}")

    def listing(self) -> None:
        response = self.client.get("/jobs", params={"limit": 50})
        if response.status_code != 200:
            raise SystemExit(f"list failed: {response.status_code} {response.text}")


def over_http(jobs: int, requests: int) -> dict[str, dict[str, dict[str, float]]]:
    """Both planes up at once, their requests interleaved: both see the same machine."""
    with contextlib.ExitStack() as stack:
        planes = {"audit_on": Plane(stack, True), "audit_off": Plane(stack, False)}
        freeze_long_lived()
        submitted: dict[str, list[float]] = {name: [] for name in planes}
        listed: dict[str, list[float]] = {name: [] for name in planes}
        for plane in planes.values():
            timed(plane.submit, 0)  # its warm-up
        for _ in range(requests):
            for name, plane in planes.items():
                submitted[name] += timed(plane.submit, 1, warmup=0)
        for _ in range(max(0, jobs - requests)):
            for plane in planes.values():
                plane.submit()
        for plane in planes.values():
            timed(plane.listing, 0)  # its warm-up
        for _ in range(requests):
            for name, plane in planes.items():
                listed[name] += timed(plane.listing, 1, warmup=0)
    return {
        name: {"list": figures(listed[name]), "submit": figures(submitted[name])} for name in planes
    }


def direct(n: int) -> dict[str, Any]:
    """Authentication, the policy check and one audit append, timed alone."""
    with tempfile.TemporaryDirectory(prefix="aiplane-bench-auth-") as tmp:
        cp = ControlPlane.from_settings(settings(Path(tmp)))
        try:
            token = member_token(cp)
            access, audit, store = cp.access, cp.audit, cp.store
            listing = Resource("job", team=TEAM)
            workload = workload_from_document(WORKLOAD, "bench")
            counter = iter(range(10**9))
            freeze_long_lived()

            def authorise(action: Action) -> None:
                caller = access.authenticate(token)
                access.check(caller, action, listing)

            def store_job(with_audit: bool) -> tuple[float, float]:
                """One submission's unit of work; returns the wall and CPU ms spent on the
                audit append."""
                i = next(counter)
                now = time.time()
                job = Job(f"job-{i}", workload, now, "alice")
                run = Run(f"run-{i}", job.id, RunState.PENDING, now, now)
                spent = spent_cpu = 0.0
                with store.unit_of_work() as uow:
                    uow.jobs.add(job, run)
                    if with_audit:
                        start, start_cpu = time.perf_counter(), time.thread_time()
                        audit.record(uow, None, "job.submit", f"job/{job.id}", team=TEAM)
                        spent_cpu = (time.thread_time() - start_cpu) * 1000
                        spent = (time.perf_counter() - start) * 1000
                return spent, spent_cpu

            auth_list, auth_list_cpu = timed_both(lambda: authorise(Action.JOB_LIST), n)

            def uncached() -> None:
                access.changed()  # drops the token cache: a store read per call
                authorise(Action.JOB_LIST)

            auth_uncached, _ = timed_both(uncached, n)
            auth_submit, auth_submit_cpu = timed_both(lambda: authorise(Action.JOB_SUBMIT), n)
            # Interleaved, so that both see the same machine and the same table sizes.
            plain: list[float] = []
            audited: list[float] = []
            appends: list[float] = []
            appends_cpu: list[float] = []
            for _ in range(n):
                start = time.perf_counter()
                store_job(False)
                plain.append((time.perf_counter() - start) * 1000)
                start = time.perf_counter()
                wall, cpu = store_job(True)
                audited.append((time.perf_counter() - start) * 1000)
                appends.append(wall)
                appends_cpu.append(cpu)
            # Per request: its authorisation plus (a submission) its audit append.
            added_submit = [a + b for a, b in zip(auth_submit, appends, strict=True)]
            added_submit_cpu = [a + b for a, b in zip(auth_submit_cpu, appends_cpu, strict=True)]
            return {
                "authorise_list": figures(auth_list),
                "authorise_submit": figures(auth_submit),
                "audit_append": figures(appends),
                "unit_of_work_without_audit": figures(plain),
                "unit_of_work_with_audit": figures(audited),
                "authorise_list_uncached": figures(auth_uncached),
                "added_p99_ms_list": round(percentile(auth_list, 0.99), 3),
                "added_p99_ms_submit": round(percentile(added_submit, 0.99), 3),
                "added_list_p99_rounds_ms": round(rounds_p99(auth_list), 3),
                "added_submit_p99_rounds_ms": round(rounds_p99(added_submit), 3),
                "added_cpu_p99_ms_list": round(rounds_p99(auth_list_cpu), 3),
                "added_cpu_p99_ms_submit": round(rounds_p99(added_submit_cpu), 3),
                "audit_append_cpu": figures(appends_cpu),
            }
        finally:
            cp.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--jobs", type=int, default=2_000, help="jobs stored before listing")
    parser.add_argument("--requests", type=int, default=500, help="HTTP requests timed, each")
    parser.add_argument("--direct", type=int, default=5_000, help="direct calls timed, each")
    args = parser.parse_args()
    load_before = os.getloadavg()[0]
    measured = direct(args.direct)
    http = over_http(args.jobs, args.requests)
    result = {
        "bench": "auth",
        "added_p99_ms_list": measured.pop("added_p99_ms_list"),
        "added_p99_ms_submit": measured.pop("added_p99_ms_submit"),
        "added_list_p99_rounds_ms": measured.pop("added_list_p99_rounds_ms"),
        "added_submit_p99_rounds_ms": measured.pop("added_submit_p99_rounds_ms"),
        "added_cpu_p99_ms_list": measured.pop("added_cpu_p99_ms_list"),
        "added_cpu_p99_ms_submit": measured.pop("added_cpu_p99_ms_submit"),
        "target_added_p99_ms": 0.5,
        "direct": measured,
        "direct_n": args.direct,
        "http": http,
        "http_n": args.requests,
        "jobs_stored": max(args.jobs, args.requests),
        "store": "sqlite",
        "load_1m": [round(load_before, 2), round(os.getloadavg()[0], 2)],
        "machine": f"{platform.machine()} {os.cpu_count()} cpus",
    }
    print(json.dumps(result))


if __name__ == "__main__":
    main()
