"""Telemetry samples as the waste analysis's observations (``core.cost.waste``)."""

from __future__ import annotations

from collections.abc import Iterable

from aiplane.core.cost.waste import Observation
from aiplane.telemetry.base import GpuSample


def observation(sample: GpuSample, allocated: bool | None = None) -> Observation:
    """``allocated`` defaults to whether any process holds the GPU: in a recording, without
    the scheduler's view, a process on the GPU is the best sign that someone holds it."""
    gpm = sample.gpm
    return Observation(
        t=sample.t,
        gpu=sample.index,
        util=sample.util_pct / 100.0,
        memory_used_mib=sample.memory_used_mib,
        memory_total_mib=sample.memory_total_mib,
        allocated=sample.process_count > 0 if allocated is None else allocated,
        mem_util=None if sample.mem_util_pct is None else sample.mem_util_pct / 100.0,
        sm_active=gpm.sm_active if gpm else None,
        sm_occupancy=gpm.sm_occupancy if gpm else None,
        tensor_active=gpm.tensor_active if gpm else None,
        dram_active=gpm.dram_active if gpm else None,
        phase=sample.phase,
    )


def observations(samples: Iterable[GpuSample]) -> list[Observation]:
    return [observation(s) for s in samples]
