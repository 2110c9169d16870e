"""NVIDIA GPUs through NVML (``pip install 'aiplane[nvml]'``, package nvidia-ml-py).

``pynvml`` is imported when a source is built, never at module import, so the rest of aiplane
runs without it. Building a source on a machine without the package, the driver or a GPU
raises ``TelemetryError`` saying which of them is missing.

Each NVML query is guarded on its own: many are "not supported" on some boards or in some
virtualised set-ups, and a missing temperature must not cost the utilisation next to it.

GPM (Hopper and newer): each ``sample`` takes a GPM sample per device and computes the metrics
over the window since the previous call, so at 1 Hz they are 1-second averages like
dcgm-exporter's. The first call has no window yet and reports no GPM; devices without GPM
support never do.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Callable
from types import ModuleType
from typing import Any, TypeVar

from aiplane.core.errors import TelemetryError
from aiplane.telemetry.base import GpmMetrics, GpuInfo, GpuProcess, GpuSample, MigInstance

T = TypeVar("T")
_MIB = 2**20
INSTALL_HINT = "pip install 'aiplane[nvml]' (the nvidia-ml-py package)"

# NVML's GPM metric ids (nvml.h, nvmlGpmMetricId_t), in the order GpmMetrics wants them; the
# names are looked up on the module first in case a future binding renumbers them.
_GPM_METRICS: tuple[tuple[str, int], ...] = (
    ("NVML_GPM_METRIC_SM_UTIL", 2),
    ("NVML_GPM_METRIC_SM_OCCUPANCY", 3),
    ("NVML_GPM_METRIC_ANY_TENSOR_UTIL", 5),
    ("NVML_GPM_METRIC_DRAM_BW_UTIL", 10),
    ("NVML_GPM_METRIC_GRAPHICS_UTIL", 1),
)


def import_pynvml() -> ModuleType:
    try:
        import pynvml
    except ImportError as exc:
        raise TelemetryError(f"NVML telemetry needs nvidia-ml-py: {INSTALL_HINT}") from exc
    module: ModuleType = pynvml
    return module


def _text(value: Any) -> str:
    # Older nvidia-ml-py versions return bytes, newer ones str.
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


class NvmlSource:
    name = "nvml"

    def __init__(
        self, hostname: str | None = None, *, gpm: bool = True, pynvml: ModuleType | None = None
    ) -> None:
        self.nvml = pynvml or import_pynvml()
        # What NVML raises (NVMLError_NotSupported and the rest): a field it cannot read.
        self._nvml_error: type[Exception] = self.nvml.NVMLError
        try:
            self.nvml.nvmlInit()
        except Exception as exc:
            raise TelemetryError(f"NVML could not start (no NVIDIA driver or GPU?): {exc}") from exc
        self.hostname = hostname or socket.gethostname()
        try:
            count = int(self.nvml.nvmlDeviceGetCount())
            self._handles = [self.nvml.nvmlDeviceGetHandleByIndex(i) for i in range(count)]
            self._info = [self._read_info(i, h) for i, h in enumerate(self._handles)]
        except Exception as exc:
            with contextlib.suppress(Exception):
                self.nvml.nvmlShutdown()
            raise TelemetryError(f"NVML could not list the GPUs: {exc}") from exc
        # The previous GPM sample per device: the start of the next window.
        self._gpm_previous: dict[int, Any] = {}
        self._gpm = gpm

    def _read_info(self, index: int, handle: Any) -> GpuInfo:
        n = self.nvml
        memory = n.nvmlDeviceGetMemoryInfo(handle)
        limit = self._try(n.nvmlDeviceGetEnforcedPowerLimit, handle)
        support = self._try(n.nvmlGpmQueryDeviceSupport, handle)
        mig = self._try(n.nvmlDeviceGetMigMode, handle)
        return GpuInfo(
            index=index,
            uuid=_text(n.nvmlDeviceGetUUID(handle)),
            name=_text(n.nvmlDeviceGetName(handle)),
            memory_total_mib=int(memory.total) / _MIB,
            hostname=self.hostname,
            power_limit_w=limit / 1000.0 if limit is not None else None,
            gpm_supported=bool(getattr(support, "isSupportedDevice", 0)),
            mig_enabled=bool(mig and mig[0]),
        )

    def _try(self, call: Callable[..., T], *args: Any) -> T | None:
        """``call(*args)``, or None where NVML cannot answer (the field is unknown)."""
        try:
            return call(*args)
        except self._nvml_error:
            return None

    def static(self) -> list[GpuInfo]:
        return list(self._info)

    def sample(self, now: float) -> list[GpuSample]:
        return [
            self._sample(info, handle, now)
            for info, handle in zip(self._info, self._handles, strict=True)
        ]

    def _sample(self, info: GpuInfo, h: Any, now: float) -> GpuSample:
        n = self.nvml
        util = self._try(n.nvmlDeviceGetUtilizationRates, h)
        memory = self._try(n.nvmlDeviceGetMemoryInfo, h)
        power = self._try(n.nvmlDeviceGetPowerUsage, h)
        energy = self._try(n.nvmlDeviceGetTotalEnergyConsumption, h)
        temperature = self._try(n.nvmlDeviceGetTemperature, h, n.NVML_TEMPERATURE_GPU)
        processes = self._processes(h)
        return GpuSample(
            t=now,
            index=info.index,
            uuid=info.uuid,
            name=info.name,
            hostname=info.hostname,
            util_pct=float(util.gpu) if util is not None else 0.0,
            mem_util_pct=float(util.memory) if util is not None else None,
            memory_used_mib=int(memory.used) / _MIB if memory is not None else 0.0,
            memory_total_mib=info.memory_total_mib,
            power_w=power / 1000.0 if power is not None else None,
            energy_j=energy / 1000.0 if energy is not None else None,
            temperature_c=float(temperature) if temperature is not None else None,
            sm_clock_mhz=_float(self._try(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_SM)),
            mem_clock_mhz=_float(self._try(n.nvmlDeviceGetClockInfo, h, n.NVML_CLOCK_MEM)),
            throttle_reasons=self._throttle_reasons(h),
            processes=processes,
            process_count=len(processes),
            mig=self._mig(h) if info.mig_enabled else (),
            gpm=self._gpm_window(info.index, h) if self._gpm and info.gpm_supported else None,
        )

    def _throttle_reasons(self, h: Any) -> int:
        n = self.nvml
        # Renamed "clocks event reasons" in newer drivers; the old name still works on old ones.
        for name in (
            "nvmlDeviceGetCurrentClocksEventReasons",
            "nvmlDeviceGetCurrentClocksThrottleReasons",
        ):
            call = getattr(n, name, None)
            if call is not None:
                value = self._try(call, h)
                if value is not None:
                    return int(value)
        return 0

    def _processes(self, h: Any) -> tuple[GpuProcess, ...]:
        n = self.nvml
        seen: dict[int, GpuProcess] = {}
        for query in (
            n.nvmlDeviceGetComputeRunningProcesses,
            n.nvmlDeviceGetGraphicsRunningProcesses,
        ):
            for p in self._try(query, h) or []:
                used = getattr(p, "usedGpuMemory", None)
                seen.setdefault(int(p.pid), GpuProcess(int(p.pid), used / _MIB if used else None))
        return tuple(seen[pid] for pid in sorted(seen))

    def _mig(self, h: Any) -> tuple[MigInstance, ...]:
        n = self.nvml
        instances: list[MigInstance] = []
        for i in range(int(self._try(n.nvmlDeviceGetMaxMigDeviceCount, h) or 0)):
            mh = self._try(n.nvmlDeviceGetMigDeviceHandleByIndex, h, i)
            if mh is None:
                continue  # that slot holds no instance
            memory = self._try(n.nvmlDeviceGetMemoryInfo, mh)
            gi = self._try(n.nvmlDeviceGetGpuInstanceId, mh)
            ci = self._try(n.nvmlDeviceGetComputeInstanceId, mh)
            instances.append(
                MigInstance(
                    index=i,
                    uuid=_text(self._try(n.nvmlDeviceGetUUID, mh) or ""),
                    gpu_instance_id=None if gi is None else int(gi),
                    compute_instance_id=None if ci is None else int(ci),
                    memory_used_mib=int(memory.used) / _MIB if memory is not None else None,
                    memory_total_mib=int(memory.total) / _MIB if memory is not None else None,
                )
            )
        return tuple(instances)

    def _gpm_window(self, index: int, h: Any) -> GpmMetrics | None:
        n = self.nvml
        current = self._try(n.nvmlGpmSampleAlloc)
        if current is not None and self._try(n.nvmlGpmSampleGet, h, current) is None:
            with contextlib.suppress(Exception):
                n.nvmlGpmSampleFree(current)
            current = None
        previous = self._gpm_previous.pop(index, None)
        if current is not None:
            self._gpm_previous[index] = current
        if previous is None or current is None:
            return None
        try:
            request = n.c_nvmlGpmMetricsGet_t()
            request.version = n.NVML_GPM_METRICS_GET_VERSION
            request.numMetrics = len(_GPM_METRICS)
            request.sample1 = previous
            request.sample2 = current
            for i, (name, fallback) in enumerate(_GPM_METRICS):
                request.metrics[i].metricId = getattr(n, name, fallback)
            n.nvmlGpmMetricsGet(request)
            values = [
                float(m.value) / 100.0 if int(m.nvmlReturn) == 0 else None
                for m in request.metrics[: len(_GPM_METRICS)]
            ]
        except (self._nvml_error, AttributeError):  # bindings too old for the metrics struct
            return None
        finally:
            with contextlib.suppress(Exception):
                n.nvmlGpmSampleFree(previous)
        sm, occupancy, tensor, dram, graphics = values
        if sm is None:
            return None
        return GpmMetrics(sm, occupancy or 0.0, tensor or 0.0, dram or 0.0, graphics)

    def close(self) -> None:
        for sample in self._gpm_previous.values():
            with contextlib.suppress(Exception):
                self.nvml.nvmlGpmSampleFree(sample)
        self._gpm_previous.clear()
        with contextlib.suppress(Exception):
            self.nvml.nvmlShutdown()
