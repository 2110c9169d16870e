"""Turning placements into processes, and process reports into run states.

Every step is written so that it can be repeated after a crash: launching is idempotent per
run, attempt and replica; reconciling only reads handles; recovery is reconciliation plus
re-launching admitted runs and re-stopping cancelled ones.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, replace
from pathlib import Path

from aiplane.backends.base import Backend, LaunchSpec, ReplicaReport, ReplicaStatus
from aiplane.core.errors import AiplaneError, ConflictError
from aiplane.core.runs import Run, RunState
from aiplane.services.checkpoints import resume_env
from aiplane.services.events import record
from aiplane.services.jobs import stop_processes
from aiplane.services.metering import METERED, record_usage
from aiplane.store.base import Store

# Cancelled runs finished this recently get their processes stopped again on recovery.
RECOVERY_WINDOW_S = 24 * 3600.0


@dataclass(frozen=True)
class Executor:
    store: Store
    backends: dict[str, Backend]
    checkpoint_root: Path
    cancel_grace_s: float = 5.0

    def launch_admitted(self, now: float) -> int:
        launched = 0
        for run in self.store.runs_in_states([RunState.ADMITTED]):
            if self._launch(run, now):
                launched += 1
        return launched

    def _launch(self, run: Run, now: float) -> bool:
        assert run.placement is not None
        placement = run.placement
        backend = self.backends.get(placement.backend)
        job = self.store.get_job(run.job_id)
        workload = job.workload
        if backend is None:
            self._finish(run, RunState.FAILED, now, f"backend {placement.backend!r} not configured")
            return False
        checkpoint_dir = self.checkpoint_root / job.id
        handles = []
        try:
            for a in placement.assignments:
                spec = LaunchSpec(
                    run_id=run.id,
                    job_id=job.id,
                    attempt=run.attempt,
                    replica=a.replica,
                    replicas=len(placement.assignments),
                    command=workload.run,
                    workdir=workload.workdir
                    if workload.workdir and os.path.isdir(workload.workdir)
                    else None,
                    env={**workload.env, **resume_env(run)},
                    site=placement.site,
                    pool=placement.pool,
                    node=a.node,
                    accelerator=placement.accelerator,
                    gpus=a.gpus,
                    gpu_indices=a.gpu_indices,
                    checkpoint_dir=str(checkpoint_dir),
                    labels={"workload": workload.name, "team": workload.team},
                )
                handles.append(backend.launch(spec))
        except AiplaneError as exc:
            for handle in handles:
                backend.cancel(handle, self.cancel_grace_s)
            self._finish(run, RunState.FAILED, now, f"launch failed: {exc.message}")
            return False
        starting = replace(run.transition(RunState.STARTING, now), handles=tuple(handles))
        try:
            self.store.update_run(starting, expected_state=RunState.ADMITTED)
        except ConflictError:
            # Cancelled while launching: stop what we just started.
            for handle in handles:
                backend.cancel(handle, self.cancel_grace_s)
            return False
        record(
            self.store,
            now,
            "run.state",
            f"admitted -> starting ({len(handles)} replicas)",
            starting,
        )
        return True

    def reconcile(self, now: float) -> int:
        """Move starting and running runs along by what their replicas report."""
        changed = 0
        for run in self.store.runs_in_states([RunState.STARTING, RunState.RUNNING]):
            if self._reconcile_run(run, now):
                changed += 1
        return changed

    def _reconcile_run(self, run: Run, now: float) -> bool:
        assert run.placement is not None
        backend = self.backends.get(run.placement.backend)
        if backend is None:
            return False
        reports = [backend.poll(h) for h in run.handles]
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
            return self._finish(run, RunState.SUCCEEDED, now, None, 0)
        if run.state is RunState.STARTING and all(
            r.status in (ReplicaStatus.RUNNING, ReplicaStatus.EXITED) for r in reports
        ):
            running = run.transition(RunState.RUNNING, now)
            try:
                self.store.update_run(running, expected_state=RunState.STARTING)
            except ConflictError:
                return False
            record(self.store, now, "run.state", "starting -> running", running)
            return True
        return False

    def _finish(
        self,
        run: Run,
        state: RunState,
        now: float,
        reason: str | None,
        exit_code: int | None = None,
    ) -> bool:
        done = replace(run.transition(state, now, reason), exit_code=exit_code)
        try:
            self.store.update_run(done, expected_state=run.state)
        except ConflictError:
            return False
        message = f"{run.state} -> {state}" + (f": {reason}" if reason else "")
        record(self.store, now, "run.state", message, done)
        if run.state in METERED:
            record_usage(self.store, self.store.get_job(run.job_id), run, now, outcome=state)
        return True

    def recover(self, now: float) -> dict[str, int]:
        """After a (re)start: adopt what still runs, account for what ended while we were down.

        Admitted runs are launched again (idempotently: replicas already started are found by
        their run directories, not started twice). Starting and running runs are reconciled,
        which marks lost replicas failed with the reason. Recently cancelled runs are stopped
        again in case we died between marking and stopping.
        """
        adopted = 0
        for run in self.store.runs_in_states([RunState.STARTING, RunState.RUNNING]):
            assert run.placement is not None
            backend = self.backends.get(run.placement.backend)
            if backend is None:
                continue
            reports = [backend.poll(h) for h in run.handles]
            if all(r.status in (ReplicaStatus.RUNNING, ReplicaStatus.STARTING) for r in reports):
                record(self.store, now, "run.adopted", "still running after restart: adopted", run)
                adopted += 1
        relaunched = self.launch_admitted(now)
        changed = self.reconcile(now)
        restopped = 0
        for run in self.store.runs_in_states([RunState.CANCELLED]):
            if run.finished_at is not None and now - run.finished_at < RECOVERY_WINDOW_S:
                stop_processes(self.backends, run, self.cancel_grace_s)
                restopped += 1
        return {
            "adopted": adopted,
            "relaunched": relaunched,
            "reconciled": changed,
            "cancel_rechecked": restopped,
        }


def _failure_reason(index: int, report: ReplicaReport) -> str:
    if report.status is ReplicaStatus.LOST:
        return f"replica {index} lost: {report.detail or 'process vanished'}"
    text = f"replica {index} exited with code {report.exit_code}"
    return text + (f" ({report.detail})" if report.detail else "")
