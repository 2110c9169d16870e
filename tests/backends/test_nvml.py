from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest

from aiplane.backends.base import GpuDevice
from aiplane.backends.local.nvml import read_gpus

GIB = 2**30


@dataclass
class _Memory:
    total: int


class _NvmlError(Exception):
    pass


def _fake_pynvml(
    devices: list[tuple[bytes | str, int, str]], *, init_fails: bool = False
) -> types.ModuleType:
    module = types.ModuleType("pynvml")
    calls: list[str] = []

    def init() -> None:
        calls.append("init")
        if init_fails:
            raise _NvmlError("NVML Shared Library Not Found")

    module.NVMLError = _NvmlError  # type: ignore[attr-defined]
    module.nvmlInit = init  # type: ignore[attr-defined]
    module.nvmlShutdown = lambda: calls.append("shutdown")  # type: ignore[attr-defined]
    module.nvmlDeviceGetCount = lambda: len(devices)  # type: ignore[attr-defined]
    module.nvmlDeviceGetHandleByIndex = lambda i: i  # type: ignore[attr-defined]
    module.nvmlDeviceGetName = lambda h: devices[h][0]  # type: ignore[attr-defined]
    module.nvmlDeviceGetMemoryInfo = lambda h: _Memory(devices[h][1])  # type: ignore[attr-defined]
    module.nvmlDeviceGetUUID = lambda h: devices[h][2]  # type: ignore[attr-defined]
    module.calls = calls  # type: ignore[attr-defined]
    return module


def test_read_gpus_maps_nvml_devices(monkeypatch: pytest.MonkeyPatch) -> None:
    fake = _fake_pynvml(
        [
            (b"NVIDIA H100 80GB HBM3", 81559 * 2**20, "GPU-aaa"),  # bytes: older nvidia-ml-py
            ("NVIDIA H100 80GB HBM3", 81559 * 2**20, "GPU-bbb"),
        ]
    )
    monkeypatch.setitem(sys.modules, "pynvml", fake)
    assert read_gpus() == [
        GpuDevice(index=0, name="H100-80GB", memory_gib=79.6, uuid="GPU-aaa"),
        GpuDevice(index=1, name="H100-80GB", memory_gib=79.6, uuid="GPU-bbb"),
    ]
    assert fake.calls == ["init", "shutdown"]


def test_read_gpus_without_a_driver_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", _fake_pynvml([], init_fails=True))
    assert read_gpus() == []


def test_read_gpus_without_pynvml_is_empty(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pynvml", None)  # makes ``import pynvml`` fail
    assert read_gpus() == []
