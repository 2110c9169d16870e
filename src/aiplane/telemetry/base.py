"""The telemetry protocol. Every member passes ``tests/telemetry/test_contract.py``.

A source answers two questions: which GPUs are there (``static``) and what are they doing now
(``sample``). Host metrics (CPU, memory, processes) are a capability only some members have
(``HostMetrics``). Samples are plain frozen values in base-ish units (MiB, W, J, 0..1 ratios for
GPM metrics, percent for NVML's own utilisation counters, as NVML reports them), so a recording,
NVML and a fake are interchangeable to everything above them.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Protocol, runtime_checkable


@dataclass(frozen=True)
class GpuInfo:
    """What does not change while the driver is loaded."""

    index: int
    uuid: str
    name: str  # the driver's model name, e.g. "NVIDIA H200" (dcgm-exporter's modelName)
    memory_total_mib: float
    hostname: str
    power_limit_w: float | None = None
    gpm_supported: bool = False
    mig_enabled: bool = False


@dataclass(frozen=True)
class GpuProcess:
    pid: int
    # None where NVML cannot tell (e.g. under some virtualisation or without permission).
    used_memory_mib: float | None = None


@dataclass(frozen=True)
class MigInstance:
    index: int
    uuid: str
    gpu_instance_id: int | None = None
    compute_instance_id: int | None = None
    memory_used_mib: float | None = None
    memory_total_mib: float | None = None


@dataclass(frozen=True)
class GpmMetrics:
    """Hopper+ GPU Performance Monitoring over the last window, each 0..1.

    These show real use where NVML's utilisation counter overstates it: that counter is the
    share of time *any* kernel ran, so one tiny kernel at a time reads as busy.
    """

    sm_active: float  # share of SMs busy (DCGM_FI_PROF_SM_ACTIVE)
    sm_occupancy: float  # resident warps over the maximum (DCGM_FI_PROF_SM_OCCUPANCY)
    tensor_active: float  # any tensor pipe (DCGM_FI_PROF_PIPE_TENSOR_ACTIVE)
    dram_active: float  # DRAM bandwidth over its peak (DCGM_FI_PROF_DRAM_ACTIVE)
    graphics_active: float | None = None  # graphics/compute engine busy (..._GR_ENGINE_ACTIVE)


@dataclass(frozen=True)
class GpuSample:
    t: float  # unix seconds
    index: int
    uuid: str
    name: str
    hostname: str
    util_pct: float  # nvmlDeviceGetUtilizationRates().gpu: share of time any kernel ran
    memory_used_mib: float
    memory_total_mib: float
    mem_util_pct: float | None = None  # ...().memory: share of time memory was read/written
    power_w: float | None = None
    energy_j: float | None = None  # since the driver loaded
    temperature_c: float | None = None
    sm_clock_mhz: float | None = None
    mem_clock_mhz: float | None = None
    throttle_reasons: int = 0  # NVML's clock-event bitmask
    processes: tuple[GpuProcess, ...] = ()
    # How many processes hold the GPU. Equals len(processes) for live sources; a recording may
    # carry only the count, and attribution by pid then falls back to declared allocations.
    process_count: int = 0
    mig: tuple[MigInstance, ...] = ()
    gpm: GpmMetrics | None = None
    phase: str | None = None  # a label a recording carries (e.g. "matmul_bf16")


@dataclass(frozen=True)
class HostProcess:
    pid: int
    name: str
    cpu_pct: float  # of one core, since the previous sample of this process
    rss_bytes: int


@dataclass(frozen=True)
class HostSample:
    t: float
    hostname: str
    cpu_pct: float  # of the whole machine, 0..100
    cpu_count: int
    memory_used_bytes: int
    memory_total_bytes: int
    processes: tuple[HostProcess, ...] = ()


class TelemetrySource(Protocol):
    name: str

    def static(self) -> list[GpuInfo]:
        """The GPUs this source reports, in index order; [] on a machine without any."""
        ...

    def sample(self, now: float) -> list[GpuSample]:
        """One sample per GPU in ``static()``, as of ``now`` (unix seconds). ``now`` is an
        argument, not read from a clock, so a replay can run under a virtual clock."""
        ...

    def close(self) -> None: ...


@runtime_checkable
class HostMetrics(Protocol):
    """Capability: sources that can read the host's CPU, memory and processes."""

    def host_sample(self, now: float, pids: Collection[int] | None = None) -> HostSample:
        """The host as of ``now``; per-process figures for ``pids`` only (every process when
        None, which costs far more: a sampler at 1 Hz should pass the pids it cares about)."""
        ...
