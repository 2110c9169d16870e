"""Factories for what the store holds: principals, tokens, audit entries, jobs, runs,
placements, events, usage, alerts.

Defaults fill every optional field, so a round trip through a store proves that each field is
persisted, not just that its default comes back. Values stay within what JSON preserves (lists,
not tuples, inside free-form mappings), which is the codec's contract with every store.
"""

from __future__ import annotations

import tempfile
from collections.abc import Callable
from dataclasses import replace
from typing import Any

from aiplane.core.audit import AuditEntry, AuditRecord, chain_hash
from aiplane.core.auth import (
    GlobalRole,
    Principal,
    PrincipalKind,
    TeamRole,
    TokenRecord,
    TokenScope,
)
from aiplane.core.cost.alerts import AlertStatus, CostAlert
from aiplane.core.cost.usage import UsageInterval
from aiplane.core.events import Event
from aiplane.core.runs import Job, Placement, ReplicaAssignment, Run, RunState
from aiplane.core.workloads import (
    AcceleratorOption,
    Constraints,
    SpotPolicy,
    Workload,
    WorkloadKind,
)

T0 = 1_750_000_000.25  # a fixed epoch time with a fractional part, to catch float truncation

HOUR = 3600.0


def job_id(n: int) -> str:
    """Ids that sort like the time-ordered ids of ``aiplane.services.ids``: by ``n``."""
    return f"j{n:010d}"


def run_id(n: int) -> str:
    return f"r{n:010d}"


def workload(name: str = "llama-ft-eu", team: str = "research", **changes: Any) -> Workload:
    full = Workload(
        name=name,
        team=team,
        kind=WorkloadKind.FINETUNE,
        run="python train.py --epochs 3",
        replicas=2,
        accelerators=(
            AcceleratorOption("H100-80GB", 8.0, 1.0),
            AcceleratorOption("A100-80GB", 8.0, 0.55),
        ),
        cpus=32.0,
        memory_gib=256.0,
        priority=1000,
        estimated_hours=6.5,
        checkpoint_minutes=30.0,
        spot=SpotPolicy.REQUIRED,
        inputs=("clicks-eu", "dedup-eu"),
        constraints=Constraints(
            jurisdictions=("EU",),
            site_kinds=("onprem", "cloud"),
            sites=("onprem-fra",),
            max_usd_per_hour=200.0,
            latency_slo_ms={"eu-users": 50.0},
        ),
        env={"HF_HOME": "/cache/hf", "WANDB_MODE": "offline", "UNICODE": "Grüße ✓"},
        # One that exists wherever the tests run: a launch refuses a missing one (0027).
        workdir=tempfile.gettempdir(),
        project="llama",
        labels={"model": "llama-3-8b", "cost-center": "4711"},
    )
    return replace(full, **changes)


def placement(**changes: Any) -> Placement:
    full = Placement(
        pool="onprem-fra/dgx-h100",
        site="onprem-fra",
        backend="emulated",
        accelerator="H100-80GB",
        assignments=(
            ReplicaAssignment(replica=0, node="node-0", gpus=8.0, gpu_indices=(0, 1, 2, 3)),
            ReplicaAssignment(replica=1, node="node-3", gpus=0.5, gpu_indices=(7,)),
        ),
        usd_per_hour=21.6,
        emulated=True,
        explanation={
            "chosen": {"pool": "onprem-fra/dgx-h100", "cost": {"total_usd": 140.4}},
            "rejected": [{"pool": "gcp/a3-spot", "reason": "constraint", "detail": "US"}],
        },
    )
    return replace(full, **changes)


def job(n: int = 1, *, team: str = "research", name: str | None = None) -> Job:
    return Job(
        id=job_id(n),
        workload=workload(name=name or f"job-{n}", team=team),
        submitted_at=T0 + n,
        submitted_by="alice@example.com",
    )


def run(job: Job, n: int | None = None, *, state: RunState = RunState.PENDING) -> Run:
    """A fresh run of ``job``: pending, nothing placed yet."""
    return Run(
        id=run_id(n) if n is not None else "r" + job.id[1:],
        job_id=job.id,
        state=state,
        created_at=job.submitted_at,
        updated_at=job.submitted_at,
    )


def finished_run(job: Job) -> Run:
    """A run with every optional field set."""
    return replace(
        run(job),
        state=RunState.FAILED,
        attempt=3,
        updated_at=T0 + 7200.5,
        placement=placement(),
        handles=(
            {"pid": 4242, "node": "node-0", "labels": {"replica": "0"}},
            {"pid": 4243, "node": "node-3", "labels": {"replica": "1"}},
        ),
        started_at=T0 + 60.125,
        finished_at=T0 + 7200.5,
        exit_code=137,
        reason="OOM killed on node-3",
        attained_gpu_s=28_800.5,
        checkpointed_hours=1.25,
        last_checkpoint_at=T0 + 3600.75,
        checkpoint_uri="/ckpt/j0000000001/step-100.pt",
        checkpoint_saved_at=T0 + 3600.5,
        revision=7,
    )


def job_and_run(
    n: int, *, team: str = "research", state: RunState = RunState.PENDING
) -> tuple[Job, Run]:
    j = job(n, team=team)
    return j, run(j, state=state)


def principal(
    n: int = 1,
    *,
    name: str | None = None,
    teams: dict[str, TeamRole] | None = None,
    **changes: Any,
) -> Principal:
    full = Principal(
        id=f"p{n:04d}",
        name=name if name is not None else f"user-{n}",
        kind=PrincipalKind.USER,
        created_at=T0 + n,
        global_role=GlobalRole.OPERATOR,
        teams=teams
        if teams is not None
        else {"research": TeamRole.OWNER, "vision": TeamRole.VIEWER},
        email=f"User.{n}@Example.org",
        subject=f"https://idp.example.org sub-{n}",
        disabled=True,
    )
    return replace(full, **changes)


def token(
    n: int = 1,
    *,
    principal_id: str = "p0001",
    revoked_at: float | None = None,
    **changes: Any,
) -> TokenRecord:
    full = TokenRecord(
        id=f"tok{n}",
        principal_id=principal_id,
        name=f"token {n}",
        token_hash=f"{n:064x}",
        created_at=T0 + n,
        expires_at=T0 + n + HOUR,
        revoked_at=revoked_at,
        scope=TokenScope(team="research", job_id=job_id(n)),
        prefix=f"aip_{n:04d}",
    )
    return replace(full, **changes)


def audit_record(n: int, *, actor: str = "alice", resource: str | None = None) -> AuditRecord:
    return AuditRecord(
        at=T0 + n,
        actor=actor,
        action="job.submit",
        resource=resource if resource is not None else f"job/{job_id(n)}",
        outcome="ok",
        team="research",
        detail={"n": n, "nested": {"list": [1, 2.5, "x"]}, "none": None, "text": "Grüße ✓"},
    )


def sealer(
    record: AuditRecord, seen: list[tuple[int, str]] | None = None
) -> Callable[[int, str], AuditEntry]:
    """A seal for ``audit.append``: the real chain hash, a stand-in signature (the store
    does not check signatures). ``seen`` collects the (seq, prev_hash) it was called with."""

    def seal(seq: int, prev_hash: str) -> AuditEntry:
        if seen is not None:
            seen.append((seq, prev_hash))
        digest = chain_hash(seq, record, prev_hash)
        return AuditEntry(seq, record, prev_hash, digest, "test-key", "sig-" + digest[:16])

    return seal


def event(n: int, *, job: Job | None = None, kind: str = "run.state") -> Event:
    return Event(
        at=T0 + n,
        kind=kind,
        message=f"event {n}",
        job_id=job.id if job is not None else None,
        run_id=("r" + job.id[1:]) if job is not None else None,
        data={"n": n, "from": "pending", "to": "admitted", "nested": {"list": [1, 2.5, "x"]}},
    )


def usage_interval(
    n: int, *, attempt: int = 1, start: float = 0.0, hours: float = 1.0, **changes: object
) -> UsageInterval:
    full = UsageInterval(
        run_id=run_id(n),
        job_id=job_id(n),
        attempt=attempt,
        team="research",
        workload=f"job-{n}",
        site="onprem-fra",
        pool="onprem-fra/dgx-h100",
        pricing="reserved",
        accelerator="H100-80GB",
        gpus=16.0,
        start=T0 + start,
        end=T0 + start + hours * HOUR,
        usd_per_hour=21.6,
        project="llama",
        model="llama-3-8b",
        endpoint="llama-chat",
        egress_gb=1200.5,
        egress_usd=144.06,
        outcome="preempted",
    )
    return replace(full, **changes)  # type: ignore[arg-type]


def cost_alert(n: int, status: AlertStatus = AlertStatus.PENDING) -> CostAlert:
    return CostAlert(
        key=f"research-monthly|alert@0.8:spent|2025-06-0{n}T00:00:00Z",
        budget="research-monthly",
        rule="alert@0.8:spent",
        period_start=T0 + n,
        created_at=T0 + 10 * n,
        message=f"alert {n}: spend reached 80%",
        payload={"kind": "budget.alert", "share": 0.81, "actions": ["block"], "n": n},
        status=status,
        url="http://127.0.0.1:9/hook",
        attempts=1,
        next_attempt_at=T0 + 5.5,
        delivered_at=None,
        last_error="connection refused",
    )
