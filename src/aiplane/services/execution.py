"""Turning placements into processes, and process reports into run states.

Every step is written so that it can be repeated after a crash: launching is idempotent per
run, attempt and replica; reconciling only reads handles; recovery is reconciliation plus
re-launching admitted runs and re-stopping cancelled ones.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path

from aiplane.backends.base import (
    Backend,
    Backends,
    BatchPoll,
    GangSubmit,
    Handle,
    Landing,
    LaunchSpec,
    ReplicaReport,
    ReplicaStatus,
    launch_each,
)
from aiplane.core.errors import AiplaneError, BackendError, ConflictError
from aiplane.core.fleet import Fleet
from aiplane.core.runs import Job, Placement, Run, RunState
from aiplane.core.workloads import WorkloadKind
from aiplane.services.checkpoints import resume_env
from aiplane.services.events import record
from aiplane.services.jobs import stop_processes
from aiplane.services.metering import METERED, record_usage
from aiplane.services.workload_tokens import Credentials, WorkloadTokens
from aiplane.store.base import Store

# Cancelled runs finished this recently get their processes stopped again on recovery.
RECOVERY_WINDOW_S = 24 * 3600.0


@dataclass(frozen=True)
class Executor:
    store: Store
    backends: Backends
    checkpoint_root: Path
    # The fleet in force (the fleet cache's ``current``): it prices the usage of ended attempts.
    fleet: Callable[[], Fleet | None]
    cancel_grace_s: float = 5.0
    # Each attempt's own API token (None: workloads get none, as without a server).
    tokens: WorkloadTokens | None = None
    # The registry's inputs and model copied and checked before a launch (their folders in
    # the environment it returns; IntegrityError fails the launch), and the outputs a
    # successful run registers (why they could not be, else None). None: neither.
    staging: Callable[[Job], Mapping[str, str]] | None = None
    outputs: Callable[[Job], str | None] | None = None
    # Removes the staged copies no attempt reads any more (after every reconciliation).
    unstage: Callable[[], object] | None = None

    def launch_admitted(self, now: float) -> int:
        launched = 0
        for run in self.store.jobs.runs_in_states([RunState.ADMITTED]):
            if self._launch(run, now):
                launched += 1
        return launched

    def _launch(self, run: Run, now: float) -> bool:
        job = self.store.jobs.get(run.job_id)
        try:
            backend = self.backends.for_placement(run.placed())
        except BackendError as exc:
            self._finish(run, RunState.FAILED, now, f"backend unavailable: {exc.message}")
            return False
        try:
            staged = self.staging(job) if self.staging is not None else {}
        except AiplaneError as exc:
            self._finish(run, RunState.FAILED, now, f"staging failed: {exc}")
            return False
        credentials = self.tokens.credentials(job, run) if self.tokens is not None else None
        specs = self._specs(run, job, credentials, staged)
        try:
            # A backend that takes whole gangs gets one call and may choose the nodes itself.
            if isinstance(backend, GangSubmit):
                landings = backend.submit_gang(specs)
            else:
                landings = launch_each(backend, specs, self.cancel_grace_s)
        except AiplaneError as exc:
            self._finish(run, RunState.FAILED, now, f"launch failed: {exc.message}")
            return False
        landings = sorted(landings, key=lambda x: x.replica)
        handles = tuple(landing.handle for landing in landings)
        stray = self._stray(run.placed(), specs, landings)
        if stray:
            self._cancel(backend, handles)
            self._finish(run, RunState.FAILED, now, f"launch refused: {stray}")
            return False
        if not self._mark_starting(run, specs, landings, now):
            # Cancelled (or moved on) while launching: stop what we just started.
            self._cancel(backend, handles)
            return False
        return True

    def _stray(
        self, placement: Placement, specs: Sequence[LaunchSpec], landings: Sequence[Landing]
    ) -> str:
        """Why the gang may not stay where it landed ("" when it may): a backend that chooses
        nodes must choose among the pool's, or the node table, telemetry and metering would
        describe nodes the run is not on."""
        asked = {spec.replica: spec.node for spec in specs}
        moved = [x for x in landings if asked.get(x.replica) != x.node]
        if not moved:
            return ""
        fleet = self.fleet()
        pool = fleet.pool(placement.pool) if fleet is not None else None
        known = frozenset(pool.node_ids()) if pool is not None else frozenset()
        outside = [f"replica {x.replica} on {x.node}" for x in moved if x.node not in known]
        if not outside:
            return ""
        return f"{', '.join(outside)}: not a node of pool {placement.pool}"

    def _mark_starting(
        self, run: Run, specs: Sequence[LaunchSpec], landings: Sequence[Landing], now: float
    ) -> bool:
        """The run starting, placed where its gang landed, with its handles and event in one
        unit of work. A run changed since it was read is read again and marked once more while
        it is the same admitted attempt; False when it is not (cancelled meanwhile)."""
        handles = tuple(landing.handle for landing in landings)
        message = f"admitted -> starting ({len(handles)} replicas{_landed(specs, landings)})"
        current = run
        for _ in range(2):
            placement = current.placed().landed({x.replica: x.node for x in landings})
            starting = replace(
                current.transition(RunState.STARTING, now), handles=handles, placement=placement
            )
            try:
                with self.store.unit_of_work() as uow:
                    stored = uow.jobs.update_run(starting, expected_state=RunState.ADMITTED)
                    record(uow, now, "run.state", message, stored)
            except ConflictError:
                current = self.store.jobs.get_run(run.id)
                if current.state is not RunState.ADMITTED or current.attempt != run.attempt:
                    return False
                continue
            return True
        return False

    def _cancel(self, backend: Backend, handles: Sequence[Handle]) -> None:
        for handle in handles:
            backend.cancel(handle, self.cancel_grace_s)

    def _specs(
        self,
        run: Run,
        job: Job,
        credentials: Credentials | None = None,
        staged: Mapping[str, str] | None = None,
    ) -> list[LaunchSpec]:
        placement, workload = run.placed(), job.workload
        # As submitted, checked or not: a workdir gone since submission fails the launch
        # ("workdir ... is not a directory") rather than run the command elsewhere (0027).
        workdir = workload.workdir
        checkpoint_dir = self.checkpoint_root / job.id
        # The attempt's own URL wins over any the spec declares (and its token, which the
        # backend delivers as a file, over a declared AIPLANE_TOKEN).
        own = credentials.env if credentials is not None else {}
        env = {**workload.env, **(staged or {}), **resume_env(run, checkpoint_dir), **own}
        return [
            LaunchSpec(
                run_id=run.id,
                job_id=job.id,
                attempt=run.attempt,
                replica=a.replica,
                replicas=len(placement.assignments),
                command=workload.run,
                workdir=workdir,
                env=env,
                site=placement.site,
                pool=placement.pool,
                node=a.node,
                accelerator=placement.accelerator,
                gpus=a.gpus,
                gpu_indices=a.gpu_indices,
                checkpoint_dir=str(checkpoint_dir),
                labels={"workload": workload.name, "team": workload.team},
                listens=workload.kind is WorkloadKind.SERVE or workload.service is not None,
                service=workload.service,
                token=credentials.token if credentials is not None else None,
                limits=workload.limits,
            )
            for a in placement.assignments
        ]

    def reconcile(self, now: float) -> int:
        """Move starting and running runs along by what their replicas report."""
        changed = 0
        runs = self.store.jobs.runs_in_states([RunState.STARTING, RunState.RUNNING])
        for run, reports in self._poll(runs):
            if self._reconcile_run(run, reports, now):
                changed += 1
        if self.tokens is not None:
            # Attempts cancelled or preempted elsewhere since the last pass lose their tokens.
            self.tokens.sweep()
        if self.unstage is not None:
            self.unstage()
        return changed

    def _poll(self, runs: Sequence[Run]) -> list[tuple[Run, list[ReplicaReport]]]:
        """Each run with its replicas' reports, in one call per backend where it can take a
        batch; runs whose backend is unavailable are left out (there is nothing to ask)."""
        groups: dict[int, tuple[Backend, list[Run]]] = {}
        for run in runs:
            try:
                backend = self.backends.for_placement(run.placed())
            except BackendError:
                continue
            groups.setdefault(id(backend), (backend, []))[1].append(run)
        out: list[tuple[Run, list[ReplicaReport]]] = []
        for backend, members in groups.values():
            if isinstance(backend, BatchPoll):
                reports = backend.poll_many([h for run in members for h in run.handles])
                at = 0
                for run in members:
                    out.append((run, reports[at : at + len(run.handles)]))
                    at += len(run.handles)
            else:
                out.extend((run, [backend.poll(h) for h in run.handles]) for run in members)
        return out

    def _reconcile_run(self, run: Run, reports: list[ReplicaReport], now: float) -> bool:
        lost = [(i, r) for i, r in enumerate(reports) if r.status is ReplicaStatus.LOST]
        failed = [
            (i, r)
            for i, r in enumerate(reports)
            if r.status is ReplicaStatus.EXITED and r.exit_code != 0
        ]
        if lost or failed:
            index, report = (lost or failed)[0]
            reason = _failure_reason(index, report)
            # A gang lives and dies together: stop the replicas still running.
            stop_processes(self.backends, run, self.cancel_grace_s)
            return self._finish(run, RunState.FAILED, now, reason, report.exit_code)
        if all(r.status is ReplicaStatus.EXITED for r in reports):
            why = self._register_outputs(run)
            if why is not None:
                return self._finish(run, RunState.FAILED, now, why, 0)
            return self._finish(run, RunState.SUCCEEDED, now, None, 0)
        if run.state is RunState.STARTING and all(
            r.status in (ReplicaStatus.RUNNING, ReplicaStatus.EXITED) for r in reports
        ):
            running = run.transition(RunState.RUNNING, now)
            try:
                with self.store.unit_of_work() as uow:
                    stored = uow.jobs.update_run(running, expected_state=RunState.STARTING)
                    record(uow, now, "run.state", "starting -> running", stored)
            except ConflictError:
                return False
            return True
        return False

    def _register_outputs(self, run: Run) -> str | None:
        if self.outputs is None:
            return None
        job = self.store.jobs.get(run.job_id)
        if not job.workload.outputs:
            return None
        try:
            return self.outputs(job)
        except AiplaneError as exc:
            return f"registering outputs failed: {exc}"

    def _finish(
        self,
        run: Run,
        state: RunState,
        now: float,
        reason: str | None,
        exit_code: int | None = None,
    ) -> bool:
        """The end of a run's attempt: its state, event and usage in one unit of work, so a
        failed usage write leaves the run as it was (and raises) for the next pass to redo.

        A run written meanwhile (a checkpoint recorded since it was read) is read again and
        ended once more while it is the same attempt in the same state; otherwise (it moved
        on, or a second conflict) this pass skips it and the next one looks again."""
        try:
            return self._end(run, state, now, reason, exit_code)
        except ConflictError:
            fresh = self.store.jobs.get_run(run.id)
            if fresh.state is not run.state or fresh.attempt != run.attempt:
                return False
            try:
                return self._end(fresh, state, now, reason, exit_code)
            except ConflictError:
                return False

    def _end(
        self, run: Run, state: RunState, now: float, reason: str | None, exit_code: int | None
    ) -> bool:
        done = replace(run.transition(state, now, reason), exit_code=exit_code)
        message = f"{run.state} -> {state}" + (f": {reason}" if reason else "")
        fleet = self.fleet() if run.state in METERED else None  # read outside the unit
        with self.store.unit_of_work() as uow:
            stored = uow.jobs.update_run(done, expected_state=run.state)
            record(uow, now, "run.state", message, stored)
            if run.state in METERED:
                job = uow.jobs.get(run.job_id)
                record_usage(uow, job, run, now, outcome=state, fleet=fleet)
            # The attempt's token ends with it, in the same commit.
            revoked = self.tokens is not None and self.tokens.revoke(uow, run, now)
        if revoked and self.tokens is not None:
            self.tokens.committed(run)
        return True

    def recover(self, now: float) -> dict[str, int]:
        """After a (re)start: adopt what still runs, account for what ended while we were down.

        Admitted runs are launched again (idempotently: replicas already started are found by
        their run directories, not started twice). Starting and running runs are reconciled,
        which marks lost replicas failed with the reason. Recently cancelled runs are stopped
        again in case we died between marking and stopping.
        """
        adopted = 0
        if self.tokens is not None:
            self.tokens.adopt()
        runs = self.store.jobs.runs_in_states([RunState.STARTING, RunState.RUNNING])
        for run, reports in self._poll(runs):
            if all(r.status in (ReplicaStatus.RUNNING, ReplicaStatus.STARTING) for r in reports):
                record(self.store, now, "run.adopted", "still running after restart: adopted", run)
                adopted += 1
        relaunched = self.launch_admitted(now)
        changed = self.reconcile(now)
        restopped = 0
        for run in self.store.jobs.runs_in_states([RunState.CANCELLED]):
            if run.finished_at is not None and now - run.finished_at < RECOVERY_WINDOW_S:
                stop_processes(self.backends, run, self.cancel_grace_s)
                restopped += 1
        return {
            "adopted": adopted,
            "relaunched": relaunched,
            "reconciled": changed,
            "cancel_rechecked": restopped,
        }


def _landed(specs: Sequence[LaunchSpec], landings: Sequence[Landing]) -> str:
    """Where the backend put the replicas, when that is not where aiplane asked."""
    asked = {spec.replica: spec.node for spec in specs}
    moved = [f"{x.replica} on {x.node}" for x in landings if asked.get(x.replica) != x.node]
    return f"; landed: replica {', '.join(moved)}" if moved else ""


def _failure_reason(index: int, report: ReplicaReport) -> str:
    if report.status is ReplicaStatus.LOST:
        return f"replica {index} lost: {report.detail or 'process vanished'}"
    text = f"replica {index} exited with code {report.exit_code}"
    return text + (f" ({report.detail})" if report.detail else "")
