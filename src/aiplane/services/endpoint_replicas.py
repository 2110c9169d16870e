"""An endpoint's replicas as jobs: one serve job per replica (decision 0058).

What a replica is made of (its workload, labelled with its endpoint, site, role, version and
generation, pinned to its site), how the replicas of every endpoint are found again from the
store's jobs each time (nothing about them is kept only in memory), and how one is drained and
stopped. A drain is recorded as an event of the replica's job, so a control plane that
restarts mid-drain stops the replica when its grace is over, not never.
"""

from __future__ import annotations

import logging
import shlex
from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aiplane.backends.base import Backends, Serving
from aiplane.core.errors import BackendError, ConflictError, IllegalTransitionError
from aiplane.core.events import Event
from aiplane.core.fleet import Fleet
from aiplane.core.registry.refs import parse_ref
from aiplane.core.runs import Job, Run, RunState
from aiplane.core.serving.endpoints import (
    LABEL_ENDPOINT,
    LABEL_GENERATION,
    LABEL_ROLE,
    LABEL_SITE,
    LABEL_VERSION,
    PORT_ENV,
    Endpoint,
    Role,
)
from aiplane.core.workloads import (
    PRIORITY_CLASSES,
    Constraints,
    ServiceSpec,
    SpotPolicy,
    Workload,
    WorkloadKind,
)
from aiplane.services.events import record
from aiplane.services.ids import new_id
from aiplane.services.jobs import stop_processes
from aiplane.services.metering import record_usage
from aiplane.store.base import Store

log = logging.getLogger("aiplane.endpoints")

COMMAND_VERSION = "command"  # LABEL_VERSION of a command endpoint's replicas
DRAINED = "endpoint.replica.drained"  # the event that marks a replica's drain


@dataclass(frozen=True)
class Replica:
    job: Job
    run: Run

    @property
    def labels(self) -> dict[str, str]:
        return dict(self.job.workload.labels)

    @property
    def endpoint(self) -> str:
        return self.labels[LABEL_ENDPOINT]

    @property
    def site(self) -> str:
        return self.labels.get(LABEL_SITE, "")

    @property
    def role(self) -> Role:
        try:
            return Role(self.labels.get(LABEL_ROLE, Role.PRIMARY))
        except ValueError:
            return Role.PRIMARY

    @property
    def version(self) -> str:
        return self.labels.get(LABEL_VERSION, COMMAND_VERSION)

    @property
    def generation(self) -> int:
        try:
            return int(self.labels.get(LABEL_GENERATION, "0"))
        except ValueError:
            return 0


def model_server_command(python: str, endpoint: str, version_ref: str) -> str:
    """The model server's command line for one version (``fraud@3``) of a model."""
    version = parse_ref(version_ref).version
    return (
        f"{shlex.quote(python)} -m aiplane.modelserver --name {shlex.quote(endpoint)} "
        f"--version {version} --port ${PORT_ENV}"
    )


def replica_workload(
    endpoint: Endpoint, site: str, role: Role, version: str, python: str
) -> Workload:
    """The workload of one replica: ``version`` is the resolved reference (``fraud@3``) it
    serves, or ``command``."""
    spec = endpoint.spec
    labels = dict(spec.labels)
    labels.update(
        {
            LABEL_ENDPOINT: spec.name,
            LABEL_SITE: site,
            LABEL_ROLE: str(role),
            LABEL_VERSION: version,
            LABEL_GENERATION: str(endpoint.generation),
        }
    )
    if version != COMMAND_VERSION:
        # Cost reports group by labels["model"] (as for any workload that names one).
        labels.setdefault("model", parse_ref(version).name)
    run = (
        spec.command
        if spec.command is not None
        else model_server_command(python, spec.name, version)
    )
    return Workload(
        name=f"{spec.name}-{role}-{site}"[:63],
        team=spec.team,
        kind=WorkloadKind.SERVE,
        run=run or "true",
        accelerators=spec.accelerators,
        cpus=spec.cpus,
        memory_gib=spec.memory_gib,
        # Serving answers users now: above batch work in the queue, and never on capacity
        # that can be taken away mid-request.
        priority=PRIORITY_CLASSES["high"],
        spot=SpotPolicy.NEVER,
        model=None if version == COMMAND_VERSION else version,
        constraints=Constraints(sites=(site,)),
        env=dict(spec.env),
        workdir=spec.workdir,
        # Project budgets and reports see the replicas' spend by the endpoint's label.
        project=labels.get("project"),
        labels=labels,
        service=ServiceSpec(readiness_path=spec.probe_path),
    )


def owned(endpoint: Endpoint, replicas: Iterable[Replica]) -> list[Replica]:
    """The replicas of ``endpoint`` among those labelled as its own: jobs of its team only.
    Labels are the submitter's to write, so a job of another team labelled as a replica is not
    one: it is neither counted, nor stopped, nor routed to."""
    return [r for r in replicas if r.job.workload.team == endpoint.team]


def serving(backends: Backends, run: Run) -> tuple[str | None, bool]:
    """The replica's address and whether it is ready, from its backend (a replica not yet
    running, or on a backend that does not serve, has neither)."""
    if run.state is not RunState.RUNNING or run.placement is None or not run.handles:
        return None, False
    try:
        backend = backends.for_placement(run.placement)
        if not isinstance(backend, Serving):
            return None, False
        handle = run.handles[0]
        return backend.address(handle), backend.ready(handle)
    except BackendError as exc:
        log.warning("replica %s: %s", run.id, exc.message)
        return None, False


def drained_at(store: Store, replica: Replica) -> float | None:
    """When the replica was drained, or None."""
    for event in store.events.recent(job_id=replica.job.id, limit=50):
        if event.kind == DRAINED:
            return event.at
    return None


def drain(store: Store, backends: Backends, replica: Replica, now: float, why: str) -> None:
    """Take the replica out of rotation (the backend's drain), recorded on its job."""
    run = replica.run
    if run.placement is not None and run.handles:
        try:
            backend = backends.for_placement(run.placement)
            if isinstance(backend, Serving):
                for handle in run.handles:
                    backend.drain(handle)
        except BackendError as exc:
            log.warning("replica %s: drain refused (%s); it is stopped later", run.id, exc.message)
    store.events.add(
        Event(
            now,
            DRAINED,
            f"replica of endpoint {replica.endpoint} drained: {why}",
            run.job_id,
            run.id,
            {"endpoint": replica.endpoint, "site": replica.site, "reason": why},
        )
    )


def cancel(
    store: Store,
    backends: Backends,
    fleet: Callable[[], Fleet | None],
    replica: Replica,
    now: float,
    why: str,
    grace_s: float,
) -> bool:
    """Cancel the replica's run (state, event and usage in one unit) and stop its process.
    False when the run changed meanwhile (the next pass looks again)."""
    in_force = fleet()  # read before the unit: the cache may read the store
    try:
        with store.unit_of_work() as uow:
            run = uow.jobs.get_run(replica.run.id)
            if run.state.terminal:
                return False
            cancelled = run.transition(RunState.CANCELLED, now, why)
            uow.jobs.update_run(cancelled, expected_state=run.state)
            record(uow, now, "run.state", f"{run.state} -> cancelled ({why})", cancelled)
            record_usage(uow, replica.job, run, now, outcome=RunState.CANCELLED, fleet=in_force)
    except (ConflictError, IllegalTransitionError) as exc:
        log.info("replica %s changed while being cancelled: %s", replica.run.id, exc)
        return False
    try:
        stop_processes(backends, cancelled, grace_s)
    except BackendError as exc:
        log.warning("cancelled %s; stopping is left to recovery: %s", run.id, exc.message)
    return True


def submit(store: Store, workload: Workload, by: str, now: float, why: str) -> Job:
    """Queue one replica's job (job, run and event in one unit), as a submission does; the
    scheduler places it like any other."""
    job = Job(new_id("j-", now), workload, now, by)
    run = Run(
        id="r-" + job.id[2:],
        job_id=job.id,
        state=RunState.PENDING,
        created_at=now,
        updated_at=now,
    )
    with store.unit_of_work() as uow:
        uow.jobs.add(job, run)
        uow.events.add(
            Event(
                now,
                "job.submitted",
                f"{workload.name} submitted for endpoint {workload.labels[LABEL_ENDPOINT]}: {why}",
                job.id,
                run.id,
                {"endpoint": workload.labels[LABEL_ENDPOINT]},
            )
        )
    return job


def newest_first(replicas: Iterable[Replica]) -> list[Replica]:
    """Job ids sort by submission time: the newest replica is the one to let go first."""
    return sorted(replicas, key=lambda r: r.job.id, reverse=True)
