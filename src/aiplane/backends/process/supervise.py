"""The replica supervisor: ``python -m aiplane.backends.process.supervise --dir RUNDIR -- CMD``.

One supervisor runs per replica, in its own session, started by ``launcher.ProcessLauncher``. It
starts ``/bin/sh -c COMMAND`` in a new process group (so the command's whole tree can be signalled
as one), records itself in ``supervisor.json``, and when the command exits writes ``exit.json``.

Why a supervisor and not the control plane itself: the control plane may be restarted or
killed at any moment. The supervisor outlives it, records the exit code that only a parent can
collect, and owns the escalation from SIGTERM to SIGKILL, so a cancel completes even if the
control plane dies right after asking for it.

Signals: SIGTERM (also SIGINT, SIGHUP) sends SIGTERM to the command's group and SIGKILLs the
group after the grace period (``cancel.json``'s ``grace_s`` when present, else ``--grace``).
When the command's main process exits, whatever it left running in its group is stopped the same
way before ``exit.json`` is written, so an exit record means the whole group is gone.

Limits and identity (``confine.py``): the workload's resource limits and the pool's ``run_as``
user are applied in the child between fork and exec, so they hold for the command and not for
the supervisor, which stays able to record the exit. A command that a limit ended says so in
``exit.json`` (``reason``).

Services (``--restart``, decision 0053): when the command of a service exits by itself, before
a cancel or a drain reached the replica, the supervisor starts it again after a back-off
(``restarts.py``), with the same environment and port, recording each restart in
``restarts.json``; it holds the port (bound, not listening) while it waits. A cancel or a drain
while it waits ends the replica there: ``exit.json`` is written and nothing starts again.

This module imports only the standard library and three tiny siblings: it starts per replica.
"""

from __future__ import annotations

import argparse
import contextlib
import ctypes
import os
import signal
import socket
import sys
import time
from pathlib import Path
from types import FrameType

from aiplane.backends.process import confine, procfs, restarts, runfiles

DEFAULT_GRACE_S = 5.0
_PR_SET_CHILD_SUBREAPER = 36
_POLL_S = 0.05
# After SIGKILL a process in uninterruptible sleep (e.g. stuck NFS) may linger; do not hang.
_AFTER_KILL_WAIT_S = 5.0


class _Supervisor:
    def __init__(
        self,
        rundir: Path,
        grace_s: float,
        env: dict[str, str],
        confinement: confine.Confinement | None = None,
        token: Path | None = None,
        restart: restarts.Backoff | None = None,
        port: tuple[str, int] | None = None,
    ) -> None:
        self.rundir = rundir
        self.default_grace_s = grace_s
        self.env = env
        self.token = token  # this launch's token file (``--token-file``), if it has one
        self.confinement = confinement or confine.Confinement()
        self.restart = restart  # a service's back-off; None: the command runs once
        self.port = port  # a service's (host, port), held while it waits to restart
        self.child_pid: int | None = None
        self.cancelled = False
        self.term_sent = False
        self.kill_sent = False

    # -- signals ------------------------------------------------------------------------------

    def install_handlers(self) -> None:
        for signum in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP):
            signal.signal(signum, self._on_term)
        signal.signal(signal.SIGALRM, self._on_alarm)

    def _on_term(self, _signum: int, _frame: FrameType | None) -> None:
        self.cancelled = True
        self.terminate()

    def _on_alarm(self, _signum: int, _frame: FrameType | None) -> None:
        self._signal_group(signal.SIGKILL)
        self.kill_sent = True

    def grace_s(self) -> float:
        record = runfiles.read_json(self.rundir / runfiles.CANCEL)
        if record is not None and isinstance(record.get("grace_s"), int | float):
            return max(0.0, float(record["grace_s"]))
        return self.default_grace_s

    def terminate(self) -> None:
        """SIGTERM the command's group once, and arm the SIGKILL escalation."""
        if self.child_pid is None or self.term_sent:
            return  # not started yet: ``run`` checks ``cancelled`` right after starting it
        self.term_sent = True
        self._signal_group(signal.SIGTERM)
        # setitimer rather than a thread: the SIGALRM handler runs in the main thread while it
        # waits in waitpid, and nothing else needs to be coordinated.
        signal.setitimer(signal.ITIMER_REAL, max(self.grace_s(), 0.001))

    def _signal_group(self, signum: int) -> None:
        if self.child_pid is None:
            return
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(self.child_pid, signum)

    # -- lifecycle ----------------------------------------------------------------------------

    def run(self, command: str) -> None:
        if (self.rundir / runfiles.CANCEL).exists():
            # Cancelled while we were starting up: never run the command at all.
            self.record_exit(128 + signal.SIGTERM, signal.SIGTERM, cancelled=True)
            return
        try:
            identity = self.confinement.identity()
            if identity is not None:
                identity.hand_over(self.rundir, self.env, self.token)
        except (KeyError, OSError) as exc:
            print(
                f"[aiplane] cannot run the command as {self.confinement.user}: {exc}",
                file=sys.stderr,
                flush=True,
            )
            self.record_exit(127, None, cancelled=False)
            return
        described = self.confinement.describe()
        if described is not None:
            print(described, file=sys.stderr, flush=True)
        delays = restarts.Delays(self.restart) if self.restart is not None else None
        count = 0
        while True:
            started = time.monotonic()
            code, signum, reason, cancelled = self._run_once(command, identity)
            if delays is None or cancelled or self._leaving():
                self.record_exit(code, signum, cancelled=cancelled, reason=reason)
                return
            # A service that exited by itself: it is still the endpoint's replica, on its port.
            count += 1
            delay = delays.after_run(time.monotonic() - started)
            # Held before the restart is recorded: whoever sees the record sees the port taken.
            held = _hold_port(self.port)
            self._record_restart(count, code, signum, reason, delay)
            print(
                f"[aiplane] the command ended ({restarts.exit_words(code, signum)}); "
                f"restart {count} in {delay:g} s",
                file=sys.stderr,
                flush=True,
            )
            if not self._wait_to_restart(delay, held):
                # Stopped while waiting: the command is not running, so nothing took the stop.
                if self.cancelled:
                    self.record_exit(128 + signal.SIGTERM, signal.SIGTERM, cancelled=True)
                else:
                    self.record_exit(code, signum, cancelled=False, reason=reason)
                return

    def _run_once(
        self, command: str, identity: confine.Identity | None
    ) -> tuple[int, int | None, str | None, bool]:
        """Start the command, wait for its whole group to end: its exit code, the signal that
        ended it, why (a limit), and whether a cancel had reached us before it exited."""
        self.term_sent = self.kill_sent = False
        try:
            # fork, not posix_spawn: the limits and the user are set in the child alone.
            pid = os.fork()
        except OSError as exc:
            print(f"[aiplane] could not start /bin/sh: {exc}", file=sys.stderr, flush=True)
            return 127, None, None, self.cancelled
        if pid == 0:
            self._exec_child(command, identity)
        # Also here, against the race with a signal to the group before the child set it.
        with contextlib.suppress(OSError):
            os.setpgid(pid, pid)
        self.child_pid = pid
        runfiles.write_json(
            self.rundir / runfiles.SUPERVISOR,
            {
                "pid": os.getpid(),
                "start_ticks": procfs.start_ticks(os.getpid()),
                "session": os.getsid(0),
                "child_pid": pid,
                "child_pgid": pid,
                "started_at": time.time(),
            },
        )
        # A cancel that arrived while we were starting: either its signal found no child yet,
        # or the canceller saw no supervisor.json and only wrote cancel.json. Check both.
        if self.cancelled or (self.rundir / runfiles.CANCEL).exists():
            self.cancelled = True
            self.terminate()
        status, cpu_s = self._wait_for(pid)
        # A cancel that arrives while leftovers are being stopped did not end the command.
        cancelled = self.cancelled
        self._drain_group(pid)
        signal.setitimer(signal.ITIMER_REAL, 0)
        # No more signals to that group: its pgid is free for the kernel to reuse.
        self.child_pid = None
        # Descendants that died after being reparented to us: once we exit they would pass to
        # init, which in many containers never reaps them.
        _reap_nohang()
        code = os.waitstatus_to_exitcode(status)
        reason = confine.exit_reason(self.confinement, status, cpu_s)
        if code < 0:
            return 128 - code, -code, reason, cancelled
        return code, None, reason, cancelled

    def _leaving(self) -> bool:
        """A replica on its way out (cancelled, or drained out of rotation) is not restarted."""
        return self.cancelled or any(
            (self.rundir / name).exists() for name in (runfiles.CANCEL, runfiles.DRAIN)
        )

    def _wait_to_restart(self, delay: float, held: socket.socket | None) -> bool:
        """Wait ``delay`` seconds, then let go of the replica's port (``held``) for the command;
        False when the replica was cancelled or drained meanwhile."""
        try:
            deadline = time.monotonic() + delay
            while (left := deadline - time.monotonic()) > 0:
                if self._leaving():
                    return False
                time.sleep(min(_POLL_S, left))
        finally:
            if held is not None:
                held.close()
        if self._leaving():
            return False
        self._record_restart_started()
        return True

    def _record_restart(
        self, count: int, code: int, signum: int | None, reason: str | None, delay: float
    ) -> None:
        now = time.time()
        runfiles.write_json(
            self.rundir / runfiles.RESTARTS,
            {
                "count": count,
                "last_exit_code": code,
                "last_signal": signum,
                "last_exit_at": now,
                **({"last_reason": reason} if reason else {}),
                "backoff_s": delay,
                "next_start_at": now + delay,
                "waiting": True,
            },
        )

    def _record_restart_started(self) -> None:
        record = runfiles.read_json(self.rundir / runfiles.RESTARTS) or {}
        record.update(waiting=False, restarted_at=time.time())
        runfiles.write_json(self.rundir / runfiles.RESTARTS, record)

    def _exec_child(self, command: str, identity: confine.Identity | None) -> None:
        """In the forked child: its own group, default signals, the confinement, then the
        shell. Never returns: a failure is reported on stderr (the output log) as exit 127."""
        try:
            os.setpgid(0, 0)  # its own process group, with pgid == pid
            # Ours are Python handlers; Python ignores SIGPIPE and SIGXFSZ: all back to the
            # defaults for the command.
            for signum in (
                signal.SIGTERM,
                signal.SIGINT,
                signal.SIGHUP,
                signal.SIGALRM,
                signal.SIGPIPE,
                signal.SIGXFSZ,
            ):
                signal.signal(signum, signal.SIG_DFL)
            env = confine.enter(self.confinement, identity, self.rundir, self.env)
            os.execve("/bin/sh", ["/bin/sh", "-c", command], env)  # noqa: S606 (it is the shell)
        except BaseException as exc:  # noqa: BLE001 (whatever it is, the child must not return)
            with contextlib.suppress(OSError):
                os.write(2, f"[aiplane] could not start the command: {exc}\n".encode())
        finally:
            os._exit(127)

    def _wait_for(self, pid: int) -> tuple[int, float]:
        """Wait for ``pid``, reaping any orphaned descendant that is reparented to us meanwhile;
        its status, and the CPU seconds it and the descendants it waited for used."""
        while True:
            # PEP 475: retried after our signal handlers run.
            wpid, status, usage = os.wait4(-1, 0)
            if wpid == pid:
                return status, usage.ru_utime + usage.ru_stime

    def _drain_group(self, pgid: int) -> None:
        """Stop whatever the command left running in its group (background jobs, workers)."""
        session = os.getsid(0)
        if not procfs.group_members(pgid, session):
            return
        self._signal_group(signal.SIGTERM)
        deadline = time.monotonic() + self.grace_s()
        while True:
            _reap_nohang()
            if not procfs.group_members(pgid, session):
                return
            now = time.monotonic()
            if now >= deadline:
                if self.kill_sent and now >= deadline + _AFTER_KILL_WAIT_S:
                    return
                if not self.kill_sent:
                    self._signal_group(signal.SIGKILL)
                    self.kill_sent = True
                    deadline = now
            time.sleep(_POLL_S)

    def record_exit(
        self, exit_code: int, signum: int | None, *, cancelled: bool, reason: str | None = None
    ) -> None:
        # Nothing of the command is left to use its token: it goes before the exit is known.
        if self.token is not None:
            with contextlib.suppress(FileNotFoundError):
                self.token.unlink()
        runfiles.write_json(
            self.rundir / runfiles.EXIT,
            {
                "exit_code": exit_code,
                "signal": signum,
                "finished_at": time.time(),
                "cancelled": cancelled,
                **({"reason": reason} if reason else {}),
            },
        )


def _reap_nohang() -> None:
    while True:
        try:
            wpid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if wpid == 0:
            return


def _hold_port(port: tuple[str, int] | None) -> socket.socket | None:
    """Bind the replica's port (not listening) while its command is down, so that no other
    replica is handed it meanwhile (``serving.pick_port`` binds to see a port is free).
    Best effort: None when it cannot be bound (a leftover of the command still holds it)."""
    if port is None:
        return None
    try:
        family = socket.getaddrinfo(port[0], None, type=socket.SOCK_STREAM)[0][0]
        sock = socket.socket(family, socket.SOCK_STREAM)
    except OSError:
        return None
    try:
        # Despite connections of the last run in TIME_WAIT; a bind without the option, as
        # pick_port's, still fails while we hold it.
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(port)
    except OSError:
        sock.close()
        return None
    return sock


def _become_subreaper() -> None:
    """Adopt orphaned descendants, so they are reaped here rather than left as zombies under an
    init that may not reap (common in containers). Best effort: Linux only."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def _claim(rundir: Path) -> bool:
    """Become the one supervisor of this replica (``claim.json``, created exclusively), before
    anything of the command is read or run: True when this process is it."""
    me = os.getpid()
    record = {"pid": me, "start_ticks": procfs.start_ticks(me), "claimed_at": time.time()}
    return runfiles.create_json(rundir / runfiles.CLAIM, record)


def _drop_others(rundir: Path, token: Path | None) -> None:
    """Delete every launch's environment file and every token but ``token`` (ours): they may
    hold secrets, and once we claimed the replica no other supervisor will read them (a launch
    killed before it started one, then taken over, left its own behind)."""
    for path in (*rundir.glob("env*.json"), *rundir.glob(f"{runfiles.TOKEN}*")):
        if path != token:
            # Best effort: a leftover that cannot be deleted must not keep the command from
            # running (the next attempt's directory is a fresh one).
            with contextlib.suppress(OSError):
                path.unlink()


def _command_env(env_file: Path | None) -> dict[str, str] | None:
    """The command's environment: the launcher's file (deleted once read, as it may hold
    secrets), our own without one, None when the file cannot be read."""
    if env_file is None:
        return dict(os.environ)
    record = runfiles.read_json(env_file)
    with contextlib.suppress(FileNotFoundError):
        env_file.unlink()
    if record is None:
        return None
    return {str(k): str(v) for k, v in record.items()}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aiplane.backends.process.supervise")
    parser.add_argument("--dir", required=True, type=Path, help="the replica's run directory")
    parser.add_argument("--grace", type=float, default=DEFAULT_GRACE_S, help="seconds")
    parser.add_argument("--env-file", type=Path, help="the command's environment (JSON)")
    parser.add_argument("--token-file", type=Path, help="this launch's token for the command")
    for name in ("cpu-seconds", "memory-bytes", "open-files", "processes"):
        parser.add_argument(f"--{name}", type=int, help="a limit on each process of the command")
    parser.add_argument("--user", help="the user the command runs as (default: ours)")
    parser.add_argument("--group", help="the group it runs as (default: the user's)")
    parser.add_argument("--restart", action="store_true", help="a service: start it again")
    parser.add_argument("--backoff-initial", type=float, default=restarts.Backoff.initial_s)
    parser.add_argument("--backoff-max", type=float, default=restarts.Backoff.max_s)
    parser.add_argument("--backoff-reset", type=float, default=restarts.Backoff.reset_s)
    parser.add_argument("--host", help="a service's host, with --port: held between restarts")
    parser.add_argument("--port", type=int, help="a service's port")
    parser.add_argument("command", nargs=argparse.REMAINDER, help="-- then a shell command")
    args = parser.parse_args(argv)
    words: list[str] = args.command
    if words and words[0] == "--":
        words = words[1:]
    if not words:
        parser.error("no command given after --")
    rundir = args.dir.resolve()
    backoff = None
    if args.restart:
        backoff = restarts.Backoff(args.backoff_initial, args.backoff_max, args.backoff_reset)
        if backoff.problems():  # the launcher checks them: only a hand-made call gets here
            parser.error("; ".join(backoff.problems()))
    if not _claim(rundir):
        # A launch taken over after a kill -9 started a second supervisor of this replica,
        # and the other one claimed it: it alone runs the command and records its exit.
        print("[aiplane] another supervisor runs this replica; not running it", file=sys.stderr)
        for own in (args.env_file, args.token_file):  # ours alone, and they may hold secrets
            if own is not None:
                with contextlib.suppress(FileNotFoundError):
                    own.unlink()
        return 0
    env = _command_env(args.env_file)
    token = args.token_file.resolve() if args.token_file is not None else None
    _drop_others(rundir, token)
    confinement = confine.Confinement(
        args.cpu_seconds, args.memory_bytes, args.open_files, args.processes, args.user, args.group
    )
    port = (args.host, args.port) if args.host is not None and args.port is not None else None
    supervisor = _Supervisor(rundir, args.grace, env or {}, confinement, token, backoff, port)
    if env is None:
        # Fail closed: without its environment the command would e.g. lose the empty
        # CUDA_VISIBLE_DEVICES that keeps a CPU job off the GPUs.
        print(f"[aiplane] cannot read {args.env_file}; not running the command", file=sys.stderr)
        supervisor.record_exit(127, None, cancelled=False)
        return 0
    supervisor.install_handlers()
    _become_subreaper()
    supervisor.run(" ".join(words))
    return 0


if __name__ == "__main__":
    sys.exit(main())
