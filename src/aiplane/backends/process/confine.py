"""What the supervisor applies to a replica's command, and to it alone: the workload's resource
limits and the pool's ``run_as`` user (decision 0036).

Applied in the forked child between ``fork`` and ``exec``, so the supervisor keeps its own
limits and identity: it must still be able to record the exit, stop the command's group and
remove the token once the command is gone.

- ``cpu_seconds``: RLIMIT_CPU, soft at the limit (SIGXCPU) and hard a few seconds later
  (SIGKILL), so a command that handles SIGXCPU has a moment to save its work;
- ``memory_bytes``: RLIMIT_DATA, not RLIMIT_AS: CUDA, the JVM and Go reserve far more address
  space than they ever use (PROT_NONE reservations), which RLIMIT_AS counts and RLIMIT_DATA
  does not, so an address-space limit breaks them where a data limit bounds what they write;
- ``open_files``: RLIMIT_NOFILE; ``processes``: RLIMIT_NPROC, which counts every process of the
  user the command runs as (and does not hold for root).

A command run as another user cannot reach its run directory and checkpoint directory by their
paths: they lie under the control plane's home, which stays 0700. The child opens both before it
gives up root and the command's environment names them through those descriptors
(``/proc/self/fd/N/...``); the token file and the checkpoint directory are handed to the user.

This module imports only the standard library: the supervisor starts per replica.
"""

from __future__ import annotations

import contextlib
import grp
import os
import pwd
import resource
import signal
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

# Seconds of CPU between SIGXCPU (the limit) and SIGKILL.
CPU_KILL_AFTER_S = 5
CHECKPOINT_VAR = "AIPLANE_CHECKPOINT_DIR"
_LIMIT_OPTIONS = ("cpu_seconds", "memory_bytes", "open_files", "processes")


@dataclass(frozen=True)
class Confinement:
    cpu_seconds: int | None = None
    memory_bytes: int | None = None
    open_files: int | None = None
    processes: int | None = None
    user: str | None = None
    group: str | None = None

    # -- between the launcher and the supervisor ----------------------------------------------

    def argv(self) -> list[str]:
        """The supervisor's options that carry this confinement."""
        out: list[str] = []
        for name in _LIMIT_OPTIONS:
            value = getattr(self, name)
            if value is not None:
                out += [f"--{name.replace('_', '-')}", str(value)]
        if self.user is not None:
            out += ["--user", self.user]
        if self.group is not None:
            out += ["--group", self.group]
        return out

    def describe(self) -> str | None:
        """One line for the output log, so a command's owner sees what it runs under."""
        parts = [f"{n}={getattr(self, n)}" for n in _LIMIT_OPTIONS if getattr(self, n) is not None]
        if self.user is not None:
            parts.append(f"user={self.user}" + (f" group={self.group}" if self.group else ""))
        return "[aiplane] running the command with " + " ".join(parts) if parts else None

    def rlimits(self) -> list[tuple[str, int, int, int]]:
        """(limit, resource, soft, hard) for each limit that is set."""
        out: list[tuple[str, int, int, int]] = []
        if self.cpu_seconds is not None:
            hard = self.cpu_seconds + CPU_KILL_AFTER_S
            out.append(("cpu_seconds", resource.RLIMIT_CPU, self.cpu_seconds, hard))
        for name, res, value in (
            ("memory_bytes", resource.RLIMIT_DATA, self.memory_bytes),
            ("open_files", resource.RLIMIT_NOFILE, self.open_files),
            ("processes", resource.RLIMIT_NPROC, self.processes),
        ):
            if value is not None:
                out.append((name, res, value, value))
        return out

    def identity(self) -> Identity | None:
        """The user to become, looked up now; None to stay who we are. KeyError for a user or
        group that is gone since the pool's configuration was checked."""
        if self.user is None:
            return None
        entry = pwd.getpwnam(self.user)
        gid = grp.getgrnam(self.group).gr_gid if self.group is not None else entry.pw_gid
        if entry.pw_uid == os.geteuid() and gid == os.getegid():
            return None
        return Identity(self.user, entry.pw_uid, gid)


@dataclass(frozen=True)
class Identity:
    user: str
    uid: int
    gid: int

    def hand_over(self, rundir: Path, env: Mapping[str, str], token: Path | None = None) -> None:
        """In the supervisor, before the command starts: the files the command must read or
        write become the user's (``token``, this launch's own, stays 0600, now the user's)."""
        if token is not None:
            with contextlib.suppress(FileNotFoundError):
                os.chown(token, self.uid, self.gid)
        checkpoints = env.get(CHECKPOINT_VAR)
        if checkpoints and os.path.isdir(checkpoints):
            os.chown(checkpoints, self.uid, self.gid)
            os.chmod(checkpoints, 0o700)
        # The run directory stays ours (a command that could write there could forge the
        # records whose pids we signal); it must only be passable, to reach the token.
        mode = rundir.stat().st_mode & 0o7777
        rundir.chmod(mode | 0o011)

    def become(self) -> None:
        """In the child: give up root for the user, supplementary groups first."""
        os.setgroups(os.getgrouplist(self.user, self.gid))
        os.setgid(self.gid)
        os.setuid(self.uid)


def enter(
    confinement: Confinement, identity: Identity | None, rundir: Path, env: dict[str, str]
) -> dict[str, str]:
    """In the forked child, before ``exec``: apply the limits, become the user, and return the
    command's environment (its paths under the home rewritten when it runs as another user).

    Limits first, then the identity: RLIMIT_NPROC is checked against the new user when it is
    taken on, so a user already at its limit fails here with a clear error."""
    if identity is not None:
        env = _through_descriptors(rundir, env)
    for name, res, soft, hard in confinement.rlimits():
        try:
            resource.setrlimit(res, (soft, hard))
        except (OSError, ValueError) as exc:
            # Not root, a limit above our own hard limit may not be set: say which one.
            ours = resource.getrlimit(res)[1]
            raise OSError(f"cannot set {name} to {soft} (our hard limit: {ours}): {exc}") from exc
    if identity is not None:
        identity.become()
    return env


def _through_descriptors(rundir: Path, env: dict[str, str]) -> dict[str, str]:
    """``env`` with paths in the run and checkpoint directories named through descriptors that
    the command inherits, which reach them whatever the modes of the directories above."""
    places = [str(rundir)]
    checkpoints = env.get(CHECKPOINT_VAR)
    if checkpoints and os.path.isdir(checkpoints):
        places.append(checkpoints)
    out = dict(env)
    for place in places:
        fd = os.open(place, os.O_PATH | os.O_DIRECTORY)
        os.set_inheritable(fd, True)
        via = f"/proc/self/fd/{fd}"
        for key, value in out.items():
            if value == place or value.startswith(place + "/"):
                out[key] = via + value[len(place) :]
    return out


def exit_reason(confinement: Confinement, status: int, cpu_s: float) -> str | None:
    """Why the command ended, when a limit ended it and that can be told cheaply: SIGXCPU is
    sent only for the CPU limit; a SIGKILL after the command used its CPU time is the hard
    limit. Through a shell the signal shows as exit code 128 + N."""
    if confinement.cpu_seconds is None:
        return None
    code = os.waitstatus_to_exitcode(status)
    signum = -code if code < 0 else code - 128 if code > 128 else None
    if signum == signal.SIGXCPU or (signum == signal.SIGKILL and cpu_s >= confinement.cpu_seconds):
        return f"CPU time limit of {confinement.cpu_seconds} s reached (resources.limits)"
    return None
