"""An in-memory source whose GPUs read whatever a test sets. For tests of the layers above."""

from __future__ import annotations

import socket
from collections.abc import Collection
from dataclasses import replace
from typing import Any

from aiplane.telemetry.base import GpuInfo, GpuSample, HostProcess, HostSample

H100_NAME = "NVIDIA H100 80GB HBM3"


class FakeSource:
    name = "fake"

    def __init__(
        self,
        gpus: int = 2,
        model: str = H100_NAME,
        memory_total_mib: float = 81559.0,
        hostname: str | None = None,
    ) -> None:
        host = hostname or socket.gethostname()
        self._info = [
            GpuInfo(
                index=i,
                uuid=f"GPU-fake0000-0000-0000-0000-{i:012x}",
                name=model,
                memory_total_mib=memory_total_mib,
                hostname=host,
                power_limit_w=700.0,
                gpm_supported=True,
            )
            for i in range(gpus)
        ]
        self._current = [
            GpuSample(
                t=0.0,
                index=g.index,
                uuid=g.uuid,
                name=g.name,
                hostname=g.hostname,
                util_pct=0.0,
                memory_used_mib=0.0,
                memory_total_mib=g.memory_total_mib,
                power_w=70.0,
                energy_j=0.0,
            )
            for g in self._info
        ]
        self.hostname = host
        self.calls = 0
        self.host_processes: tuple[HostProcess, ...] = ()
        self.closed = False

    def set(self, index: int, **fields: Any) -> None:
        """Change what GPU ``index`` reads from now on (any ``GpuSample`` field but ``t``)."""
        if "processes" in fields and "process_count" not in fields:
            fields["process_count"] = len(fields["processes"])
        self._current[index] = replace(self._current[index], **fields)

    def static(self) -> list[GpuInfo]:
        return list(self._info)

    def sample(self, now: float) -> list[GpuSample]:
        self.calls += 1
        return [replace(s, t=now) for s in self._current]

    def host_sample(self, now: float, pids: Collection[int] | None = None) -> HostSample:
        wanted = None if pids is None else set(pids)
        return HostSample(
            t=now,
            hostname=self.hostname,
            cpu_pct=12.5,
            cpu_count=8,
            memory_used_bytes=4 * 2**30,
            memory_total_bytes=32 * 2**30,
            processes=tuple(p for p in self.host_processes if wanted is None or p.pid in wanted),
        )

    def close(self) -> None:
        self.closed = True
