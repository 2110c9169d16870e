"""Process facts read from ``/proc`` (Linux).

A pid alone is not an identity: after a process exits the kernel may hand its pid to another.
A pid together with its start time (field 22 of ``/proc/PID/stat``, in clock ticks since boot)
is. Zombies (state ``Z``) still answer ``kill(pid, 0)``, and in containers whose init does not
reap, orphans can stay zombies for ever, so every check here reads the state too.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

_PROC = Path("/proc")
_DEAD_STATES = frozenset("ZXx")


@dataclass(frozen=True)
class ProcStat:
    pid: int
    state: str
    ppid: int
    pgrp: int
    session: int
    start_ticks: int

    @property
    def alive(self) -> bool:
        return self.state not in _DEAD_STATES


def read_stat(pid: int) -> ProcStat | None:
    """The stat line of ``pid``, or None when there is no such process."""
    try:
        raw = (_PROC / str(pid) / "stat").read_text(encoding="utf-8", errors="replace")
    except (FileNotFoundError, ProcessLookupError, PermissionError, NotADirectoryError):
        return None
    # The command name (field 2) is in parentheses and may itself contain spaces or ')'.
    rest = raw[raw.rfind(")") + 2 :].split()
    try:
        return ProcStat(
            pid=pid,
            state=rest[0],
            ppid=int(rest[1]),
            pgrp=int(rest[2]),
            session=int(rest[3]),
            start_ticks=int(rest[19]),
        )
    except (IndexError, ValueError):
        return None


def start_ticks(pid: int) -> int | None:
    stat = read_stat(pid)
    return stat.start_ticks if stat is not None else None


def is_alive(pid: int, expected_start: int | None) -> bool:
    """True when ``pid`` runs, is not a zombie, and (if given) started at ``expected_start``."""
    stat = read_stat(pid)
    if stat is None or not stat.alive:
        return False
    return expected_start is None or stat.start_ticks == expected_start


def group_members(pgid: int, session: int | None = None) -> list[int]:
    """Live (non-zombie) pids in process group ``pgid``, optionally only those in ``session``.

    Matching the session as well guards against pid reuse: the kernel does not recycle a pid
    while it still names a session or group, so members of (pgid, session) are ours.
    """
    try:
        os.killpg(pgid, 0)
    except ProcessLookupError:
        return []  # the cheap, common answer: no process in that group at all
    except PermissionError:
        pass  # someone else's group under that id; the scan below filters it out
    members: list[int] = []
    for entry in _PROC.iterdir():
        if not entry.name.isdigit():
            continue
        stat = read_stat(int(entry.name))
        if stat is None or not stat.alive or stat.pgrp != pgid:
            continue
        if session is None or stat.session == session:
            members.append(stat.pid)
    return members
