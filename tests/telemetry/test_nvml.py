"""The NVML adapter against a stand-in pynvml module: what it asks NVML and how it maps the
answers. The contract suite runs the real thing where a GPU is (scripts/check_nvml.py too)."""

from __future__ import annotations

import sys
import types
from dataclasses import dataclass, field
from typing import Any

import pytest

from aiplane.core.errors import TelemetryError
from aiplane.telemetry.nvml import NvmlSource

MIB = 2**20


class NvmlError(Exception):
    """Stands in for ``pynvml.NVMLError``, the base of everything NVML raises."""


class NotSupportedError(NvmlError):
    pass


@dataclass
class Device:
    name: str = "NVIDIA H100 80GB HBM3"
    uuid: str = "GPU-aaaa"
    total: int = 81559 * MIB
    used: int = 20000 * MIB
    util: tuple[int, int] = (87, 30)
    power_mw: int = 512_000
    energy_mj: int = 9_000_000
    gpm: bool = True
    mig: bool = False
    procs: list[tuple[int, int | None]] = field(default_factory=lambda: [(4242, 19000 * MIB)])
    temperature_fails: bool = False


@dataclass
class _Metric:
    metricId: int = 0  # noqa: N815 (NVML's field names)
    nvmlReturn: int = 0  # noqa: N815
    value: float = 0.0


class _MetricsGet:
    def __init__(self) -> None:
        self.version = 0
        self.numMetrics = 0
        self.sample1: Any = None
        self.sample2: Any = None
        self.metrics = [_Metric() for _ in range(8)]


def _metrics_get(request: _MetricsGet) -> _MetricsGet:
    # Percent values, as NVML gives them.
    values = {2: 42.0, 3: 12.5, 5: 30.0, 10: 55.0, 1: 60.0}
    for metric in request.metrics[: request.numMetrics]:
        metric.value = values[metric.metricId]
    return request


def _temperature(h: Device, _: int) -> int:
    if h.temperature_fails:
        raise NotSupportedError
    return 55


def _processes(h: Device) -> list[Any]:
    return [types.SimpleNamespace(pid=p, usedGpuMemory=used) for p, used in h.procs]


def _mig_handle(_h: Device, i: int) -> Device:
    if i != 0:
        raise NotSupportedError
    return Device(uuid="MIG-1111", total=19968 * MIB, used=1000 * MIB)


def fake_pynvml(devices: list[Device], *, init_fails: bool = False) -> types.ModuleType:
    m = types.ModuleType("pynvml")
    m.NVMLError = NvmlError  # type: ignore[attr-defined]
    state: dict[str, Any] = {"allocated": 0, "freed": 0, "shutdown": 0, "ticks": 0}
    m.state = state  # type: ignore[attr-defined]
    m.NVML_TEMPERATURE_GPU = 0  # type: ignore[attr-defined]
    m.NVML_CLOCK_SM = 1  # type: ignore[attr-defined]
    m.NVML_CLOCK_MEM = 2  # type: ignore[attr-defined]
    m.NVML_GPM_METRICS_GET_VERSION = 1  # type: ignore[attr-defined]

    def init() -> None:
        if init_fails:
            raise NvmlError("NVML Shared Library Not Found")

    def sample_get(h: Device, sample: dict[str, Any]) -> dict[str, Any]:
        state["ticks"] += 1
        sample.update(device=h, tick=state["ticks"])
        return sample

    def sample_free(_: Any) -> None:
        state["freed"] += 1

    def sample_alloc() -> dict[str, Any]:
        state["allocated"] += 1
        return {}

    fns = {
        "nvmlInit": init,
        "nvmlShutdown": lambda: state.__setitem__("shutdown", state["shutdown"] + 1),
        "nvmlDeviceGetCount": lambda: len(devices),
        "nvmlDeviceGetHandleByIndex": lambda i: devices[i],
        "nvmlDeviceGetName": lambda h: h.name.encode(),  # old bindings return bytes
        "nvmlDeviceGetUUID": lambda h: h.uuid,
        "nvmlDeviceGetMemoryInfo": lambda h: types.SimpleNamespace(total=h.total, used=h.used),
        "nvmlDeviceGetEnforcedPowerLimit": lambda _h: 700_000,
        "nvmlGpmQueryDeviceSupport": lambda h: types.SimpleNamespace(isSupportedDevice=int(h.gpm)),
        "nvmlDeviceGetMigMode": lambda h: [int(h.mig), int(h.mig)],
        "nvmlDeviceGetUtilizationRates": lambda h: types.SimpleNamespace(
            gpu=h.util[0], memory=h.util[1]
        ),
        "nvmlDeviceGetPowerUsage": lambda h: h.power_mw,
        "nvmlDeviceGetTotalEnergyConsumption": lambda h: h.energy_mj,
        "nvmlDeviceGetTemperature": _temperature,
        "nvmlDeviceGetClockInfo": lambda _h, kind: 1980 if kind == 1 else 2619,
        "nvmlDeviceGetCurrentClocksEventReasons": lambda _h: 4,
        "nvmlDeviceGetComputeRunningProcesses": _processes,
        "nvmlDeviceGetGraphicsRunningProcesses": lambda _h: [],
        "nvmlDeviceGetMaxMigDeviceCount": lambda _h: 7,
        "nvmlDeviceGetMigDeviceHandleByIndex": _mig_handle,
        "nvmlDeviceGetGpuInstanceId": lambda _h: 3,
        "nvmlDeviceGetComputeInstanceId": lambda _h: 0,
        "nvmlGpmSampleAlloc": sample_alloc,
        "nvmlGpmSampleGet": sample_get,
        "nvmlGpmSampleFree": sample_free,
        "nvmlGpmMetricsGet": _metrics_get,
        "c_nvmlGpmMetricsGet_t": _MetricsGet,
    }
    for name, fn in fns.items():
        setattr(m, name, fn)
    return m


def test_reads_every_field_and_gpm_from_the_second_sample_on() -> None:
    nvml = fake_pynvml([Device(), Device(uuid="GPU-bbbb", gpm=False, temperature_fails=True)])
    source = NvmlSource("node-1", pynvml=nvml)
    info = source.static()
    assert [(g.index, g.uuid, g.name) for g in info] == [
        (0, "GPU-aaaa", "NVIDIA H100 80GB HBM3"),
        (1, "GPU-bbbb", "NVIDIA H100 80GB HBM3"),
    ]
    assert info[0].gpm_supported and not info[1].gpm_supported
    assert info[0].power_limit_w == 700.0 and info[0].hostname == "node-1"
    first = source.sample(10.0)
    assert first[0].gpm is None  # no window yet
    s = first[0]
    assert (s.util_pct, s.mem_util_pct) == (87.0, 30.0)
    assert s.memory_used_mib == 20000 and s.memory_total_mib == 81559
    assert s.power_w == 512.0 and s.energy_j == 9000.0
    assert (s.sm_clock_mhz, s.mem_clock_mhz, s.throttle_reasons) == (1980.0, 2619.0, 4)
    assert [(p.pid, p.used_memory_mib) for p in s.processes] == [(4242, 19000.0)]
    assert s.process_count == 1
    assert s.temperature_c == 55.0
    assert first[1].temperature_c is None  # not supported: that field only
    second = source.sample(11.0)
    gpm = second[0].gpm
    assert gpm is not None
    assert (gpm.sm_active, gpm.sm_occupancy, gpm.tensor_active, gpm.dram_active) == (
        0.42,
        0.125,
        0.30,
        0.55,
    )
    assert second[1].gpm is None  # no GPM on that device, ever
    source.close()
    assert nvml.state["allocated"] == nvml.state["freed"] == 2
    assert nvml.state["shutdown"] == 1


def test_mig_instances_are_listed() -> None:
    source = NvmlSource(pynvml=fake_pynvml([Device(mig=True, procs=[(7, None)])]))
    [s] = source.sample(1.0)
    [mig] = s.mig
    assert (mig.uuid, mig.gpu_instance_id, mig.compute_instance_id) == ("MIG-1111", 3, 0)
    assert mig.memory_total_mib == 19968
    assert s.processes[0].used_memory_mib is None  # NVML could not tell


def test_missing_package_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes `import pynvml` fail
    with pytest.raises(TelemetryError, match=r"aiplane\[nvml\]"):
        NvmlSource()


def test_no_driver_is_a_clear_error() -> None:
    with pytest.raises(TelemetryError, match="no NVIDIA driver"):
        NvmlSource(pynvml=fake_pynvml([], init_fails=True))
