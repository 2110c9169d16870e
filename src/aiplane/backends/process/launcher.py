"""Replicas as local processes, shared by the ``local`` and ``emulated`` backends.

Each replica runs under a supervisor (``supervise.py``) in a run directory
``<work_root>/runs/<run_id>/a<attempt>/r<replica>/`` whose files (``runfiles.py``) are the
only state: a handle is the directory plus descriptive fields, so a control plane restarted
after a crash (even a ``kill -9``) adopts its replicas by reading those files. The supervisor
runs in its own session, with stdin from /dev/null and output to a file, never a pipe, so
nothing ties its life to ours.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from aiplane.backends.base import Handle, LaunchSpec, ReplicaReport, ReplicaStatus
from aiplane.backends.process import outputlog, procfs, restarts, runfiles, services, serving
from aiplane.backends.process.config import ProcessConfig
from aiplane.core.errors import BackendError
from aiplane.core.serving.endpoints import PORT_ENV

HANDLE_FORMAT = 1
# A launch marker without a started supervisor means the launcher died between the two steps;
# after this long nothing will start it any more.
STARTING_WINDOW_S = 30.0
_RUN_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")

# Supervisors started by this process are its children: they must be reaped once they exit or
# they stay zombies. Held per process, not per launcher, because any launcher can reap them
# and a launcher dropped while its supervisors still run must not drop them unreaped.
_CHILDREN: dict[int, subprocess.Popen[bytes]] = {}
_CHILDREN_LOCK = threading.Lock()


def _reap_children() -> None:
    with _CHILDREN_LOCK:
        for pid, proc in list(_CHILDREN.items()):
            if proc.poll() is not None:
                del _CHILDREN[pid]


def format_gpus(gpus: float) -> str:
    """``4.0`` -> ``"4"``, ``0.5`` -> ``"0.5"``: what a replica reads in ``AIPLANE_GPUS``."""
    return f"{gpus:g}"


def declared_indices(spec: LaunchSpec) -> tuple[int, ...]:
    """The spec's GPU indices, or 0..n-1 for the whole GPUs it asks for when none are given."""
    if spec.gpu_indices:
        return spec.gpu_indices
    return tuple(range(math.ceil(spec.gpus))) if spec.accelerator else ()


class ProcessLauncher:
    """launch / poll / cancel / logs (and serving) for replicas that are supervised local
    processes."""

    def __init__(
        self,
        work_root: Path,
        backend: str,
        *,
        emulated: bool,
        environment: Callable[[], Mapping[str, str]],
        config: ProcessConfig | None = None,
    ) -> None:
        self.work_root = Path(work_root).resolve()
        self.backend = backend
        self.emulated = emulated
        self.config = config or ProcessConfig()
        # The base environment of replicas and their supervisors: the control plane's own less
        # its secrets (``core.secrets_env``), asked for at each launch because the secrets'
        # names may change with the fleet. Never this process's environment as it is.
        self._environment = environment

    # -- launch -------------------------------------------------------------------------------

    def run_dir(self, spec: LaunchSpec) -> Path:
        if not _RUN_ID.match(spec.run_id):
            raise BackendError(f"run id {spec.run_id!r} cannot name a directory")
        if spec.attempt < 0 or spec.replica < 0:
            raise BackendError("attempt and replica must not be negative")
        return self.work_root / "runs" / spec.run_id / f"a{spec.attempt}" / f"r{spec.replica}"

    def launch(
        self, spec: LaunchSpec, env: Mapping[str, str], banner: str | None = None
    ) -> dict[str, Any]:
        """Start one replica unless its run directory says it was started already.

        ``env`` holds the backend's own variables; they win over everything else, so that e.g. a
        ``CUDA_VISIBLE_DEVICES`` inherited or set in the spec cannot widen a replica's GPUs.
        ``banner`` is written as the first line of ``output.log``.
        """
        _reap_children()
        rundir = self.run_dir(spec)
        handle = self._handle(spec, rundir)
        services.check(spec)
        if spec.workdir is not None and not Path(spec.workdir).is_dir():
            raise BackendError(f"workdir {spec.workdir!r} is not a directory")
        rundir.mkdir(parents=True, exist_ok=True)
        # Held for the whole launch: a marker without a supervisor pid found under it was left
        # by a launcher that died (the kernel dropped its lock), never by one still launching.
        with runfiles.launch_lock(rundir):
            return self._launch_locked(spec, env, banner, rundir, handle)

    def _launch_locked(
        self,
        spec: LaunchSpec,
        env: Mapping[str, str],
        banner: str | None,
        rundir: Path,
        handle: dict[str, Any],
    ) -> dict[str, Any]:
        marked = self._mark(spec, rundir, handle)
        if marked is None:
            return self._existing(rundir, handle)
        handle, takeover = marked
        # This call starts the replica: only now is its token asked for (a launch that found
        # it started returned above, and the replica keeps the token it was given).
        token_file = rundir / (f"{runfiles.TOKEN}.{takeover}" if takeover else runfiles.TOKEN)
        try:
            own = self._token_env(spec, token_file)
        except BaseException:
            with contextlib.suppress(FileNotFoundError):
                (rundir / runfiles.LAUNCH).unlink()
            raise
        if spec.checkpoint_dir:
            Path(spec.checkpoint_dir).mkdir(parents=True, exist_ok=True)
        # The command's environment travels in a file, not in the supervisor's own environment:
        # the supervisor is Python too, and a replica's PYTHONPATH or PYTHONHOME (say, with a
        # ``types.py`` in it) must not break it. The supervisor runs with ours, which works.
        base = dict(self._environment())
        command_env = {**base, **spec.env, **self._aiplane_env(spec, handle), **own, **env}
        if own:
            # The attempt's own token wins over one the spec declares, as its URL does (the
            # client reads the file only when AIPLANE_TOKEN is not set).
            command_env.pop("AIPLANE_TOKEN", None)
        # A takeover's own files (env, token): a first supervisor still coming up reads its
        # own, and may have handed its token to the run_as user already (decision 0032).
        env_file = rundir / (f"env.{takeover}.json" if takeover else runfiles.ENV)
        runfiles.write_json(env_file, command_env)
        argv = [
            *(sys.executable, "-P", "-m", "aiplane.backends.process.supervise"),
            *("--dir", str(rundir), "--env-file", str(env_file)),
            *(("--token-file", str(token_file)) if own else ()),
            *self.config.confinement(spec.limits).argv(),
            *services.supervisor_argv(spec, handle),
        ]
        try:
            # Not followed if a link holds its name (see outputlog): nothing is appended then.
            with os.fdopen(outputlog.open_append(rundir), "ab") as log:
                if banner:
                    log.write(banner.rstrip("\n").encode() + b"\n")
                    log.flush()
                proc = subprocess.Popen(
                    [*argv, "--", spec.command],
                    cwd=spec.workdir or rundir,
                    stdin=subprocess.DEVNULL,
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    # Nor does the supervisor hold the secrets: a replica may read its
                    # environment (/proc/<pid>/environ) as easily as its own.
                    env=_supervisor_env(base),
                    start_new_session=True,  # survives us; the TTY's signals never reach it
                )
        except (OSError, BackendError) as exc:
            # Nothing started: drop the marker so that a retry may launch.
            with contextlib.suppress(FileNotFoundError):
                (rundir / runfiles.LAUNCH).unlink()
            if isinstance(exc, BackendError):
                raise
            raise BackendError(f"could not start the replica supervisor: {exc}") from exc
        with _CHILDREN_LOCK:
            _CHILDREN[proc.pid] = proc
        marker = runfiles.read_json(rundir / runfiles.LAUNCH) or {"handle": handle}
        marker.update(supervisor_pid=proc.pid, supervisor_start=procfs.start_ticks(proc.pid))
        runfiles.write_json(rundir / runfiles.LAUNCH, marker)
        return handle

    def _mark(
        self, spec: LaunchSpec, rundir: Path, handle: dict[str, Any]
    ) -> tuple[dict[str, Any], int] | None:
        """Write the launch marker (under the launch lock): the handle to start and how many
        takeovers this launch is (0: the first), or None when the replica was started."""
        existing = runfiles.read_json(rundir / runfiles.LAUNCH)
        takeover = 0
        if existing is not None:
            if not runfiles.abandoned(rundir, existing):
                return None
            # The launcher died between its marker and its supervisor (kill -9): this launch
            # is the same attempt's, so it starts the replica. Should a supervisor it did start
            # still come up, claim.json lets only one of the two run the command.
            takeover = int(existing.get("taken_over", 0)) + 1
            handle = dict(existing.get("handle", handle))  # the port the marker named
        elif (rundir / runfiles.LAUNCH).exists():
            return None  # unreadable: never guess it abandoned
        if spec.serves and "port" not in handle:
            # Picked before the marker exists, so that the handle in it names the port.
            port = serving.pick_port(self.config.serve_host, self.config.ports)
            handle.update(host=self.config.serve_host, port=port)
        marker: dict[str, Any] = {
            "handle": handle,
            "launched_at": time.time(),
            "launcher_pid": os.getpid(),
            "launcher_start": procfs.start_ticks(os.getpid()),
        }
        if takeover:
            marker["taken_over"] = takeover
            runfiles.write_json(rundir / runfiles.LAUNCH, marker)
        elif not runfiles.create_json(rundir / runfiles.LAUNCH, marker):
            return None
        return handle, takeover

    def _existing(self, rundir: Path, handle: dict[str, Any]) -> dict[str, Any]:
        existing = runfiles.read_json(rundir / runfiles.LAUNCH)
        return dict(existing["handle"]) if existing and "handle" in existing else handle

    def _handle(self, spec: LaunchSpec, rundir: Path) -> dict[str, Any]:
        service: dict[str, Any] = {}
        if spec.service is not None:
            # What ``ready`` needs, in the handle: any control plane can probe from it alone.
            service = {"service": True}
            if spec.service.readiness_path is not None:
                service["readiness_path"] = spec.service.readiness_path
        return {
            **service,
            "format": HANDLE_FORMAT,
            "backend": self.backend,
            "emulated": self.emulated,
            "dir": str(rundir),
            "run_id": spec.run_id,
            "job_id": spec.job_id,
            "attempt": spec.attempt,
            "replica": spec.replica,
            "site": spec.site,
            "pool": spec.pool,
            "node": spec.node,
            "accelerator": spec.accelerator,
            "gpus": spec.gpus,
            "gpu_indices": list(spec.gpu_indices),
        }

    def _token_env(self, spec: LaunchSpec, path: Path) -> dict[str, str]:
        """The attempt's token in a file (``path``, this launch's) only the replica's user
        reads, and the variable that names it: a workload that prints its environment (into
        ``output.log``, which the team's viewers read) shows where the token is, not the
        token."""
        if spec.token is None:
            return {}
        runfiles.write_private(path, spec.token())
        return {"AIPLANE_TOKEN_FILE": str(path)}

    def _aiplane_env(self, spec: LaunchSpec, handle: Mapping[str, Any]) -> dict[str, str]:
        listening: dict[str, str] = {}
        if "port" in handle:
            listening = {
                "AIPLANE_HOST": str(handle["host"]),
                PORT_ENV: str(handle["port"]),
                # Appears when the replica is drained: it may stop taking new work then.
                "AIPLANE_DRAIN_FILE": str(Path(handle["dir"]) / runfiles.DRAIN),
            }
        return {
            **listening,
            "AIPLANE_RUN_ID": spec.run_id,
            "AIPLANE_JOB_ID": spec.job_id,
            "AIPLANE_ATTEMPT": str(spec.attempt),
            "AIPLANE_REPLICA_INDEX": str(spec.replica),
            "AIPLANE_NUM_REPLICAS": str(spec.replicas),
            "AIPLANE_SITE": spec.site,
            "AIPLANE_POOL": spec.pool,
            "AIPLANE_NODE": spec.node,
            "AIPLANE_ACCELERATOR": spec.accelerator or "",
            "AIPLANE_GPUS": format_gpus(spec.gpus),
            "AIPLANE_CHECKPOINT_DIR": spec.checkpoint_dir or "",
            "AIPLANE_BACKEND": self.backend,
            "AIPLANE_EMULATED": "1" if self.emulated else "0",
            "PYTHONUNBUFFERED": "1",
        }

    # -- poll ---------------------------------------------------------------------------------

    def poll(self, handle: Handle) -> ReplicaReport:
        rundir = self._dir_of(handle)
        _reap_children()
        exited = self._exit_report(rundir)
        if exited is not None:
            return exited
        sup = runfiles.read_json(rundir / runfiles.SUPERVISOR)
        if sup is not None:
            if procfs.is_alive(int(sup["pid"]), sup.get("start_ticks")):
                return self._running(rundir, sup)
            # It may have written exit.json and exited since we looked.
            exited = self._exit_report(rundir)
            if exited is not None:
                return exited
            if procfs.group_members(int(sup["child_pgid"]), int(sup["session"])):
                return ReplicaReport(ReplicaStatus.RUNNING, detail="supervisor gone, child alive")
            return ReplicaReport(
                ReplicaStatus.LOST,
                detail=f"process vanished without recording an exit "
                f"(supervisor pid {sup['pid']} and process group {sup['child_pgid']} are gone)",
            )
        claim = runfiles.read_json(rundir / runfiles.CLAIM)
        if claim is not None:
            return self._claimed(rundir, claim)
        launch = runfiles.read_json(rundir / runfiles.LAUNCH)
        if launch is None:
            return ReplicaReport(ReplicaStatus.LOST, detail=f"no replica was launched in {rundir}")
        pid = launch.get("supervisor_pid")
        if pid is not None and procfs.is_alive(int(pid), launch.get("supervisor_start")):
            return ReplicaReport(ReplicaStatus.STARTING, detail=f"supervisor pid {pid} starting")
        exited = self._exit_report(rundir)
        if exited is not None:
            return exited
        if pid is None and time.time() - float(launch["launched_at"]) < STARTING_WINDOW_S:
            return ReplicaReport(ReplicaStatus.STARTING, detail="launch in progress")
        return ReplicaReport(
            ReplicaStatus.LOST,
            detail="process vanished without recording an exit: the supervisor never started "
            f"the command (see {rundir / runfiles.OUTPUT})",
        )

    def _running(self, rundir: Path, sup: Mapping[str, Any]) -> ReplicaReport:
        record = runfiles.read_json(rundir / runfiles.RESTARTS)
        if record is None:
            return ReplicaReport(ReplicaStatus.RUNNING, detail=f"pid {sup['child_pid']}")
        detail = restarts.describe(record, time.time(), sup["child_pid"])
        return ReplicaReport(
            ReplicaStatus.RUNNING, detail=detail, restarts=services.restarts_of(record)
        )

    def _claimed(self, rundir: Path, claim: Mapping[str, Any]) -> ReplicaReport:
        """The report of a supervisor between its claim and supervisor.json."""
        if procfs.is_alive(int(claim["pid"]), claim.get("start_ticks")):
            return ReplicaReport(
                ReplicaStatus.STARTING, detail=f"supervisor pid {claim['pid']} starting"
            )
        exited = self._exit_report(rundir)
        if exited is not None:
            return exited
        return ReplicaReport(
            ReplicaStatus.LOST,
            detail=f"supervisor pid {claim['pid']} died before starting the command "
            f"(see {rundir / runfiles.OUTPUT})",
        )

    def _exit_report(self, rundir: Path) -> ReplicaReport | None:
        record = runfiles.read_json(rundir / runfiles.EXIT)
        if record is None:
            return None
        code = int(record["exit_code"])
        signum = record.get("signal")
        if signum is not None:
            detail = f"killed by signal {_signal_name(int(signum))}"
        else:
            detail = f"exited with code {code}"
        if record.get("reason"):
            detail = f"{detail}: {record['reason']}"
        # An exit.json without the field (an older supervisor's) does not say: unknown.
        raw = record.get("cancelled")
        cancelled = raw if isinstance(raw, bool) else None
        if cancelled:
            detail = f"cancelled; {detail}"
        restarted = runfiles.read_json(rundir / runfiles.RESTARTS)
        return ReplicaReport(
            ReplicaStatus.EXITED,
            exit_code=code,
            detail=detail,
            cancelled=cancelled,
            restarts=services.restarts_of(restarted) if restarted is not None else None,
        )

    # -- cancel -------------------------------------------------------------------------------

    def cancel(self, handle: Handle, grace_s: float = 5.0) -> None:
        rundir = self._dir_of(handle)
        _reap_children()
        if not rundir.is_dir() or (rundir / runfiles.EXIT).exists():
            return
        # Written before we look for the supervisor, which checks for it after it records
        # itself: whichever way the two race, one of us sees the other (see supervise.run).
        runfiles.write_json(
            rundir / runfiles.CANCEL, {"grace_s": grace_s, "requested_at": time.time()}
        )
        sup = runfiles.read_json(rundir / runfiles.SUPERVISOR)
        if sup is None:
            return  # not started yet; the supervisor will find cancel.json and not run it
        if procfs.is_alive(int(sup["pid"]), sup.get("start_ticks")):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(int(sup["pid"]), signal.SIGTERM)  # it escalates by itself
            return
        # The supervisor died (e.g. SIGKILL, OOM killer) but its command may live on: stop the
        # group ourselves. The SIGKILL escalation is then only as durable as this process.
        pgid, session = int(sup["child_pgid"]), int(sup["session"])
        if procfs.group_members(pgid, session):
            _killpg(pgid, signal.SIGTERM)
            timer = threading.Timer(grace_s, _kill_group_if_alive, args=(pgid, session))
            timer.daemon = True
            timer.start()

    # -- pids ---------------------------------------------------------------------------------

    def pids(self, handle: Handle) -> frozenset[int]:
        """The replica command's live processes (its process group); empty before it starts
        and after it ends."""
        try:
            rundir = self._dir_of(handle)
        except BackendError:
            return frozenset()
        sup = runfiles.read_json(rundir / runfiles.SUPERVISOR)
        if sup is None or "child_pgid" not in sup:
            return frozenset()
        return frozenset(procfs.group_members(int(sup["child_pgid"]), sup.get("session")))

    # -- logs ---------------------------------------------------------------------------------

    def logs(self, handle: Handle, tail_bytes: int | None = None) -> str:
        # Never through a link the replica planted at output.log (see outputlog).
        data = outputlog.read(self._dir_of(handle), tail_bytes)
        return data.decode("utf-8", errors="replace")

    # -- serving ------------------------------------------------------------------------------

    def address(self, handle: Handle) -> str | None:
        self._dir_of(handle)  # a forged handle must not make us connect anywhere either
        if "port" not in handle:
            return None
        return serving.address(str(handle["host"]), int(handle["port"]))

    def ready(self, handle: Handle) -> bool:
        rundir = self._dir_of(handle)
        if "port" not in handle or (rundir / runfiles.DRAIN).exists():
            return False
        if self.poll(handle).status is not ReplicaStatus.RUNNING:
            return False
        host, port = str(handle["host"]), int(handle["port"])
        path = handle.get("readiness_path")
        if isinstance(path, str):
            return serving.answers(host, port, path)
        return serving.accepts(host, port)

    def drain(self, handle: Handle) -> None:
        rundir = self._dir_of(handle)
        if rundir.is_dir():
            runfiles.write_json(rundir / runfiles.DRAIN, {"requested_at": time.time()})

    # -- helpers ------------------------------------------------------------------------------

    def _dir_of(self, handle: Handle) -> Path:
        """The handle's run directory, refused unless it lies under our ``runs`` directory: a
        handle decides which pids we signal, so a forged one must not reach other processes."""
        raw = handle.get("dir")
        if not isinstance(raw, str):
            raise BackendError("handle has no run directory ('dir')")
        rundir = Path(raw).resolve()
        if not rundir.is_relative_to(self.work_root / "runs"):
            raise BackendError(f"handle directory {raw!r} is outside {self.work_root / 'runs'}")
        return rundir


def _supervisor_env(base: Mapping[str, str]) -> dict[str, str]:
    """The supervisor's environment: ours, less secrets, with the directory that holds this
    very ``aiplane`` package first on its path, so that the supervisor runs the code of the
    launcher that starts it (a relative PYTHONPATH, which the supervisor would resolve from
    the run directory, or another install of aiplane, would give it other code)."""
    root = str(Path(__file__).resolve().parents[3])
    rest = base.get("PYTHONPATH", "")
    return {**base, "PYTHONPATH": f"{root}{os.pathsep}{rest}" if rest else root}


def _signal_name(signum: int) -> str:
    try:
        return f"{signal.Signals(signum).name} ({signum})"
    except ValueError:
        return str(signum)


def _killpg(pgid: int, signum: int) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pgid, signum)


def _kill_group_if_alive(pgid: int, session: int) -> None:
    # Checked again: the pgid may have been freed and reused during the grace period.
    if procfs.group_members(pgid, session):
        _killpg(pgid, signal.SIGKILL)
