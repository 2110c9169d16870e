"""The ``backend_config`` of a pool whose replicas are local processes.

backend_config:
  serve_host: 10.0.0.7          # where serving replicas listen and are reached (127.0.0.1)
  ports: {min: 20000, max: 20999}   # the ports they get (default: any free port)
  limits: {cpu_seconds: 86400, memory: 64Gi, open_files: 65536, processes: 4096}
                                # per process: the default of a workload that sets none, and the
                                # most one gets (a workload's own lower limits win)
  run_as: {user: train, group: train}   # the user (and group) the commands run as (default:
                                        # ours); another user than ours needs a root control plane
"""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import dataclass, field

from aiplane.backends.base import BackendConfig
from aiplane.backends.config import ConfigReader
from aiplane.backends.process.confine import Confinement
from aiplane.core.sizes import BYTES_ALLOWED, parse_bytes
from aiplane.core.workloads import (
    CPU_SECONDS_MAX,
    MEMORY_MAX_BYTES,
    MEMORY_MIN_BYTES,
    OPEN_FILES_MAX,
    PROCESSES_MAX,
    ProcessLimits,
)

DEFAULT_HOST = "127.0.0.1"
_LOWEST_PORT = 1024  # below it a replica would need root to listen
_HIGHEST_PORT = 65535

SETTINGS = {
    "serve_host": "a host name or IP address that serving replicas listen on and are reached "
    f"at (default {DEFAULT_HOST})",
    "ports": f"{{min, max}}: whole numbers from {_LOWEST_PORT} to {_HIGHEST_PORT}, min <= max "
    "(default: any free port)",
    "limits": "{cpu_seconds, memory, open_files, processes}: the most each process of a command "
    "gets, and its limits when the workload sets none (as in resources.limits)",
    "run_as": "{user, group}: an existing user of this machine, and optionally a group (default: "
    "the user's own group); a user other than the control plane's needs it to run as root",
}


@dataclass(frozen=True)
class RunAs:
    """The user the commands run as: names for the supervisor, which looks them up again when
    it starts, and the ids found when the configuration was checked (for messages and tests)."""

    user: str
    group: str
    uid: int
    gid: int


@dataclass(frozen=True)
class ProcessConfig:
    serve_host: str = DEFAULT_HOST
    # None: the kernel picks a free port; else the first free port in [min, max].
    ports: tuple[int, int] | None = None
    # None: the commands run as the control plane's user.
    run_as: RunAs | None = None
    # The pool's ceilings, which are also the defaults: none unless configured.
    limits: ProcessLimits = field(default_factory=ProcessLimits)

    def confinement(self, workload: ProcessLimits) -> Confinement:
        """What the supervisor applies to a command with the ``workload``'s limits here."""
        run_as = self.run_as
        limits = workload.within(self.limits)
        return Confinement(
            limits.cpu_seconds,
            limits.memory_bytes,
            limits.open_files,
            limits.processes,
            run_as.user if run_as is not None else None,
            run_as.group if run_as is not None else None,
        )


def read_process_config(backend: str, config: BackendConfig) -> ProcessConfig:
    """The settings in ``config``, or a BackendConfigError naming every bad one."""
    reader = ConfigReader(backend, config, SETTINGS)
    host = reader.text("serve_host", DEFAULT_HOST)
    ports = _ports(reader)
    run_as = _run_as(reader)
    limits = _limits(reader)
    reader.done()
    return ProcessConfig(host, ports, run_as, limits)


_LIMIT_RANGES = {
    "cpu_seconds": (1, CPU_SECONDS_MAX),
    "open_files": (1, OPEN_FILES_MAX),
    "processes": (1, PROCESSES_MAX),
}


def _limits(reader: ConfigReader) -> ProcessLimits:
    raw = reader.section("limits", [*_LIMIT_RANGES, "memory"])
    if raw is None:
        return ProcessLimits()
    whole = {
        key: reader.integer(f"limits.{key}", raw[key], low, high) if key in raw else None
        for key, (low, high) in _LIMIT_RANGES.items()
    }
    memory = None
    if raw.get("memory") is not None:
        try:
            memory = parse_bytes(raw["memory"])
        except ValueError as exc:
            reader.add("limits.memory", str(exc), raw["memory"], BYTES_ALLOWED)
        else:
            if not MEMORY_MIN_BYTES <= memory <= MEMORY_MAX_BYTES:
                reader.add(
                    "limits.memory", "out of range", raw["memory"], f"16Mi to {MEMORY_MAX_BYTES}"
                )
                memory = None
    return ProcessLimits(whole["cpu_seconds"], memory, whole["open_files"], whole["processes"])


def _run_as(reader: ConfigReader) -> RunAs | None:
    """``run_as``, checked against this machine's users: it is read when a fleet is applied, so
    a user that does not exist, or one that this control plane may not become, is refused
    there rather than at every launch."""
    raw = reader.section("run_as", ("user", "group"))
    if raw is None:
        return None
    user = raw.get("user")
    if not isinstance(user, str) or not user:
        reader.add("run_as.user", "expected a user name", user, "a user of this machine")
        return None
    try:
        entry = pwd.getpwnam(user)
    except KeyError:
        reader.add("run_as.user", "no such user on this machine", user, "a user of this machine")
        return None
    group = raw.get("group")
    if group is None:
        gid = entry.pw_gid
        try:
            group = grp.getgrgid(gid).gr_name
        except KeyError:
            group = str(gid)
    elif not isinstance(group, str) or not group:
        reader.add("run_as.group", "expected a group name", group, "a group of this machine")
        return None
    else:
        try:
            gid = grp.getgrnam(group).gr_gid
        except KeyError:
            reader.add(
                "run_as.group", "no such group on this machine", group, "a group of this machine"
            )
            return None
    ours = os.geteuid()
    if ours != 0 and (entry.pw_uid != ours or gid != os.getegid()):
        reader.add(
            "run_as",
            f"this control plane runs as uid {ours}, not root: it cannot start commands as "
            "another user or group",
            dict(raw),
            "the control plane's own user, or run the control plane as root",
        )
        return None
    return RunAs(user, group, entry.pw_uid, gid)


def _ports(reader: ConfigReader) -> tuple[int, int] | None:
    raw = reader.section("ports", ("min", "max"))
    if raw is None:
        return None
    bounds = [
        reader.integer(f"ports.{key}", raw.get(key), _LOWEST_PORT, _HIGHEST_PORT)
        for key in ("min", "max")
    ]
    low, high = bounds
    if low is None or high is None:
        return None
    if low > high:
        reader.add("ports", "min is greater than max", dict(raw), "min <= max")
        return None
    return low, high
