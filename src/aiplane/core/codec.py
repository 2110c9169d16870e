"""JSON-ready dictionaries to and from core types.

The store persists these dictionaries and the API returns them, so their shape is a stable
contract: add keys freely, never rename or repurpose one.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aiplane.core.runs import Job, Placement, ReplicaAssignment, Run, RunState
from aiplane.core.workloads import (
    AcceleratorOption,
    Constraints,
    ModelOutput,
    ProcessLimits,
    ServiceSpec,
    SpotPolicy,
    Workload,
    WorkloadKind,
)


def workload_to_dict(w: Workload) -> dict[str, Any]:
    return {
        "name": w.name,
        "team": w.team,
        "kind": str(w.kind),
        "run": w.run,
        "replicas": w.replicas,
        "accelerators": [
            {"name": a.name, "count": a.count, "speed": a.speed, "mig_profile": a.mig_profile}
            for a in w.accelerators
        ],
        "cpus": w.cpus,
        "memory_gib": w.memory_gib,
        "priority": w.priority,
        "estimated_hours": w.estimated_hours,
        "checkpoint_minutes": w.checkpoint_minutes,
        "spot": str(w.spot),
        "inputs": list(w.inputs),
        "model": w.model,
        "outputs": [{"model": o.model, "path": o.path, "flavor": o.flavor} for o in w.outputs],
        "pack": w.pack,
        "constraints": {
            "jurisdictions": list(w.constraints.jurisdictions),
            "site_kinds": list(w.constraints.site_kinds),
            "sites": list(w.constraints.sites),
            "clouds": list(w.constraints.clouds),
            "regions": list(w.constraints.regions),
            "infra": w.constraints.infra,
            "max_usd_per_hour": w.constraints.max_usd_per_hour,
            "latency_slo_ms": dict(w.constraints.latency_slo_ms),
        },
        "env": dict(w.env),
        "workdir": w.workdir,
        "project": w.project,
        "labels": dict(w.labels),
        "limits": {
            "cpu_seconds": w.limits.cpu_seconds,
            "memory_bytes": w.limits.memory_bytes,
            "open_files": w.limits.open_files,
            "processes": w.limits.processes,
        },
        "service": _service_to_dict(w.service),
    }


def workload_from_dict(d: Mapping[str, Any]) -> Workload:
    c = d.get("constraints") or {}
    return Workload(
        name=d["name"],
        team=d["team"],
        kind=WorkloadKind(d["kind"]),
        run=d["run"],
        replicas=int(d.get("replicas", 1)),
        accelerators=tuple(
            AcceleratorOption(
                a["name"], float(a["count"]), float(a.get("speed", 1.0)), a.get("mig_profile")
            )
            for a in d.get("accelerators", ())
        ),
        cpus=float(d.get("cpus", 1.0)),
        memory_gib=float(d.get("memory_gib", 1.0)),
        priority=int(d.get("priority", 500)),
        estimated_hours=d.get("estimated_hours"),
        checkpoint_minutes=d.get("checkpoint_minutes"),
        spot=SpotPolicy(d.get("spot", "allowed")),
        inputs=tuple(d.get("inputs", ())),
        model=d.get("model"),
        outputs=tuple(
            ModelOutput(o["model"], o["path"], o.get("flavor")) for o in d.get("outputs") or ()
        ),
        pack=bool(d.get("pack", False)),
        constraints=Constraints(
            jurisdictions=tuple(c.get("jurisdictions", ())),
            site_kinds=tuple(c.get("site_kinds", ())),
            sites=tuple(c.get("sites", ())),
            clouds=tuple(c.get("clouds", ())),
            regions=tuple(c.get("regions", ())),
            infra=c.get("infra"),
            max_usd_per_hour=c.get("max_usd_per_hour"),
            latency_slo_ms=dict(c.get("latency_slo_ms", {})),
        ),
        env=dict(d.get("env", {})),
        workdir=d.get("workdir"),
        project=d.get("project"),
        labels=dict(d.get("labels") or {}),
        limits=_limits_from_dict(d.get("limits") or {}),
        service=_service_from_dict(d.get("service")),
    )


def _limits_from_dict(d: Mapping[str, Any]) -> ProcessLimits:
    """Limits as stored; a workload stored before limits existed has none."""

    def whole(key: str) -> int | None:
        value = d.get(key)
        return None if value is None else int(value)

    return ProcessLimits(
        whole("cpu_seconds"), whole("memory_bytes"), whole("open_files"), whole("processes")
    )


def _service_to_dict(s: ServiceSpec | None) -> dict[str, Any] | None:
    if s is None:
        return None
    return {
        "readiness_path": s.readiness_path,
        "restart": s.restart,
        "backoff_initial_s": s.backoff_initial_s,
        "backoff_max_s": s.backoff_max_s,
        "backoff_reset_s": s.backoff_reset_s,
    }


def _service_from_dict(d: Mapping[str, Any] | None) -> ServiceSpec | None:
    """The service as stored; a workload stored before services existed (or a batch one) has
    none. Keys missing from an older record take the defaults."""
    if d is None:
        return None
    default = ServiceSpec()
    return ServiceSpec(
        readiness_path=d.get("readiness_path"),
        restart=bool(d.get("restart", default.restart)),
        backoff_initial_s=float(d.get("backoff_initial_s", default.backoff_initial_s)),
        backoff_max_s=float(d.get("backoff_max_s", default.backoff_max_s)),
        backoff_reset_s=float(d.get("backoff_reset_s", default.backoff_reset_s)),
    )


def placement_to_dict(p: Placement) -> dict[str, Any]:
    return {
        "pool": p.pool,
        "site": p.site,
        "backend": p.backend,
        "accelerator": p.accelerator,
        "assignments": [
            {
                "replica": a.replica,
                "node": a.node,
                "gpus": a.gpus,
                "gpu_indices": list(a.gpu_indices),
                "cpus": a.cpus,
                "memory_gib": a.memory_gib,
            }
            for a in p.assignments
        ],
        "usd_per_hour": p.usd_per_hour,
        "instances": list(p.instances),
        "emulated": p.emulated,
        "explanation": dict(p.explanation),
    }


def placement_from_dict(d: Mapping[str, Any]) -> Placement:
    return Placement(
        pool=d["pool"],
        site=d["site"],
        backend=d["backend"],
        accelerator=d.get("accelerator"),
        assignments=tuple(
            ReplicaAssignment(
                int(a["replica"]),
                a["node"],
                float(a["gpus"]),
                tuple(a.get("gpu_indices", ())),
                float(a.get("cpus", 0.0)),
                float(a.get("memory_gib", 0.0)),
            )
            for a in d["assignments"]
        ),
        usd_per_hour=float(d["usd_per_hour"]),
        emulated=bool(d.get("emulated", False)),
        instances=tuple(d.get("instances", ())),
        explanation=dict(d.get("explanation", {})),
    )


def run_to_dict(r: Run) -> dict[str, Any]:
    return {
        "id": r.id,
        "job_id": r.job_id,
        "state": str(r.state),
        "attempt": r.attempt,
        "created_at": r.created_at,
        "updated_at": r.updated_at,
        "started_at": r.started_at,
        "finished_at": r.finished_at,
        "exit_code": r.exit_code,
        "reason": r.reason,
        "placement": placement_to_dict(r.placement) if r.placement else None,
        "handles": [dict(h) for h in r.handles],
        "attained_gpu_s": r.attained_gpu_s,
        "checkpointed_hours": r.checkpointed_hours,
        "last_checkpoint_at": r.last_checkpoint_at,
        "checkpoint_uri": r.checkpoint_uri,
        "checkpoint_saved_at": r.checkpoint_saved_at,
        "revision": r.revision,
    }


def run_from_dict(d: Mapping[str, Any]) -> Run:
    return Run(
        id=d["id"],
        job_id=d["job_id"],
        state=RunState(d["state"]),
        attempt=int(d.get("attempt", 1)),
        created_at=float(d["created_at"]),
        updated_at=float(d["updated_at"]),
        started_at=d.get("started_at"),
        finished_at=d.get("finished_at"),
        exit_code=d.get("exit_code"),
        reason=d.get("reason"),
        placement=placement_from_dict(d["placement"]) if d.get("placement") else None,
        handles=tuple(dict(h) for h in d.get("handles", ())),
        attained_gpu_s=float(d.get("attained_gpu_s") or 0.0),
        checkpointed_hours=float(d.get("checkpointed_hours") or 0.0),
        last_checkpoint_at=d.get("last_checkpoint_at"),
        checkpoint_uri=d.get("checkpoint_uri"),
        checkpoint_saved_at=d.get("checkpoint_saved_at"),
        revision=int(d.get("revision") or 0),
    )


def job_to_dict(j: Job) -> dict[str, Any]:
    return {
        "id": j.id,
        "workload": workload_to_dict(j.workload),
        "submitted_at": j.submitted_at,
        "submitted_by": j.submitted_by,
    }


def job_from_dict(d: Mapping[str, Any]) -> Job:
    return Job(
        id=d["id"],
        workload=workload_from_dict(d["workload"]),
        submitted_at=float(d["submitted_at"]),
        submitted_by=d["submitted_by"],
    )
