"""The files in a replica's run directory, and how they are written.

Both the control plane (``launcher.py``) and the supervisor (``supervise.py``) use these. Every
file is written whole or not at all (temp file + ``os.replace``), so a reader never sees half a
record, whatever process dies when.

    launch.lock      held (``flock``) by a launcher for the whole of its launch; the kernel
                     drops it when the launcher dies, even by ``kill -9``.
    launch.json      written by the launcher before it starts anything: the handle, the time,
                     the launcher's pid and start time, and (once started) the supervisor's pid
                     and start time. Created exclusively: it is what makes launch idempotent. A
                     marker without a supervisor pid, found under the lock, was left by a
                     launcher that died before starting one: a later launch takes it over.
    claim.json       created exclusively by the supervisor that runs the command, before it
                     reads its environment: of two supervisors of one replica (a launch taken
                     over while the first, started just before the kill, was still coming up)
                     only the one that created it runs the command; the other exits untouched.
    supervisor.json  written by the supervisor once the command runs: its pid and start time,
                     the command's pid and process group.
    env.json         the command's environment, from the launcher to the supervisor (mode 0600,
                     deleted once read: it may hold secrets); a taken-over launch writes its own
                     ``env.<n>.json`` so that the two supervisors never read each other's. The
                     supervisor that claims the replica deletes every ``env*.json`` (a launch
                     killed before starting its supervisor left its own); one that lost the
                     claim deletes its own.
    cancel.json      written by ``cancel`` before it signals: the grace period to honour.
    token            the attempt's own API token, for the command (mode 0600; it finds it at
                     ``$AIPLANE_TOKEN_FILE``); written by the launcher, removed by the
                     supervisor once the command's group is gone. A taken-over launch writes
                     ``token.<n>`` (the first supervisor may have handed ``token`` to the
                     pool's run_as user already) and names it in ``--token-file``; the
                     supervisor that claims the replica deletes the other launches' tokens.
    drain.json       written by ``drain``: a serving replica out of rotation (the replica finds
                     it at ``$AIPLANE_DRAIN_FILE``).
    restarts.json    written by a service's supervisor when it starts the command again (decision
                     0053): how many restarts, the exit the latest followed and when, the delay,
                     and whether it is still waiting to start it.
    exit.json        written by the supervisor after the command's process group is gone;
                     ``cancelled`` says whether a cancel had reached the supervisor before the
                     command's exit was collected (an exit 0 without one is work done).
    output.log       stdout and stderr of the supervisor and the command.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import os
import tempfile
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

LAUNCH = "launch.json"
LAUNCH_LOCK = "launch.lock"
CLAIM = "claim.json"
SUPERVISOR = "supervisor.json"
ENV = "env.json"
CANCEL = "cancel.json"
DRAIN = "drain.json"
TOKEN = "token"  # noqa: S105 (a file name, not a password)
EXIT = "exit.json"
RESTARTS = "restarts.json"
OUTPUT = "output.log"


def _write_temp(directory: Path, data: dict[str, Any]) -> str:
    # mkstemp creates the file with mode 0600, which env.json relies on.
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=".tmp-", suffix=".json")
    with os.fdopen(fd, "w", encoding="utf-8") as f:
        json.dump(data, f)
        f.flush()
        os.fsync(f.fileno())
    return tmp


def write_json(path: Path, data: dict[str, Any]) -> None:
    """Replace ``path`` atomically with ``data``."""
    tmp = _write_temp(path.parent, data)
    try:
        os.replace(tmp, path)
    except BaseException:
        os.unlink(tmp)
        raise


def write_private(path: Path, text: str) -> None:
    """Replace ``path`` atomically with ``text``, readable and writable by its owner only."""
    # mkstemp creates the file with mode 0600 whatever the umask.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def create_json(path: Path, data: dict[str, Any]) -> bool:
    """Create ``path`` with ``data`` unless it exists; True when this call created it.

    ``os.link`` fails when the target exists, so of two concurrent callers exactly one wins, and
    the file appears with its full content at once (an ``O_EXCL`` open would expose it empty).
    """
    tmp = _write_temp(path.parent, data)
    try:
        os.link(tmp, path)
    except FileExistsError:
        return False
    finally:
        os.unlink(tmp)
    return True


def read_json(path: Path) -> dict[str, Any] | None:
    """The record at ``path``, or None when it does not exist (or is not a JSON object)."""
    try:
        with path.open(encoding="utf-8") as f:
            data = json.load(f)
    except FileNotFoundError:
        return None
    except (OSError, ValueError):
        # Unreadable or corrupt (e.g. a disk filled up mid-write before fsync): treat as absent
        # rather than crash every poll; the caller's liveness checks decide what it means.
        return None
    return data if isinstance(data, dict) else None


@contextlib.contextmanager
def launch_lock(rundir: Path) -> Iterator[None]:
    """The replica's launch lock: exclusive between threads (each open is its own lock) and
    processes, and released by the kernel however its holder dies."""
    flags = os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW
    fd = os.open(rundir / LAUNCH_LOCK, flags, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # drops the lock


def abandoned(rundir: Path, marker: Mapping[str, Any]) -> bool:
    """A marker whose launcher died before starting a supervisor (read under the launch lock,
    so no live launcher is between the two steps), and no supervisor has come up since."""
    if marker.get("supervisor_pid") is not None:
        return False
    return not any((rundir / name).exists() for name in (CLAIM, SUPERVISOR, EXIT))
