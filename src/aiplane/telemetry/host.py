"""The host's CPU, memory and processes through psutil. Reports no GPUs.

CPU percentages are deltas since the previous call, as psutil computes them: the first
``host_sample`` after start reads 0 for the machine and for each process first seen.
"""

from __future__ import annotations

import socket
from collections.abc import Collection

import psutil

from aiplane.telemetry.base import GpuInfo, GpuSample, HostProcess, HostSample


class HostSource:
    name = "host"

    def __init__(self, hostname: str | None = None) -> None:
        self.hostname = hostname or socket.gethostname()
        # psutil.Process objects remember the CPU times of the last call; keeping them is what
        # makes per-process cpu_percent a rate instead of 0 every time.
        self._procs: dict[int, psutil.Process] = {}
        psutil.cpu_percent(interval=None)  # prime the machine-wide delta

    def static(self) -> list[GpuInfo]:
        return []

    def sample(self, now: float) -> list[GpuSample]:  # noqa: ARG002 (the protocol's; no GPUs here)
        return []

    def host_sample(self, now: float, pids: Collection[int] | None = None) -> HostSample:
        memory = psutil.virtual_memory()
        wanted = set(psutil.pids()) if pids is None else set(pids)
        processes: list[HostProcess] = []
        for pid in sorted(wanted):
            proc = self._procs.get(pid)
            try:
                if proc is None:
                    proc = psutil.Process(pid)
                    self._procs[pid] = proc
                with proc.oneshot():
                    processes.append(
                        HostProcess(
                            pid=pid,
                            name=proc.name(),
                            cpu_pct=proc.cpu_percent(interval=None),
                            rss_bytes=int(proc.memory_info().rss),
                        )
                    )
            except (psutil.NoSuchProcess, psutil.AccessDenied, psutil.ZombieProcess):
                self._procs.pop(pid, None)
        for gone in set(self._procs) - wanted:
            del self._procs[gone]
        return HostSample(
            t=now,
            hostname=self.hostname,
            cpu_pct=float(psutil.cpu_percent(interval=None)),
            cpu_count=psutil.cpu_count() or 1,
            memory_used_bytes=int(memory.total - memory.available),
            memory_total_bytes=int(memory.total),
            processes=tuple(processes),
        )

    def close(self) -> None:
        self._procs.clear()
