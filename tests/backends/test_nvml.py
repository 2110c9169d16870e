from __future__ import annotations

import sys
import types
from dataclasses import dataclass

import pytest

from aiplane.backends.base import GpuDevice
from aiplane.backends.local.nvml import canonical_gpu_name, read_gpus

GIB = 2**30


@pytest.mark.parametrize(
    ("driver_name", "memory_gib", "expected"),
    [
        ("NVIDIA H200", 140.4, "H200"),
        ("NVIDIA H100 80GB HBM3", 79.6, "H100-80GB"),
        ("NVIDIA H100 PCIe", 79.6, "H100-80GB"),
        ("NVIDIA A100-SXM4-80GB", 80.0, "A100-80GB"),
        ("NVIDIA A100-SXM4-40GB", 40.0, "A100-40GB"),
        ("NVIDIA A100-PCIE-40GB", 40.0, "A100-40GB"),
        ("NVIDIA A100 80GB PCIe", 80.0, "A100-80GB"),
        ("NVIDIA L40S", 44.7, "L40S"),
        ("NVIDIA L4", 22.5, "L4"),
        ("NVIDIA A10G", 22.5, "A10G"),
        ("NVIDIA A10", 22.5, "A10"),
        ("Tesla T4", 15.0, "T4"),
        ("Tesla V100-SXM2-16GB", 15.8, "V100"),
        # Known family, unknown size: keep the driver's name rather than mislabel it.
        ("NVIDIA H100 NVL", 93.6, "NVIDIA H100 NVL"),
        ("Tesla V100-SXM2-32GB", 31.7, "Tesla V100-SXM2-32GB"),
        ("NVIDIA GeForce RTX 4090", 23.6, "NVIDIA GeForce RTX 4090"),
        # Without a memory size the name decides, aliases included.
        ("NVIDIA H100 80GB HBM3", None, "H100-80GB"),
        ("NVIDIA A100-SXM4-80GB", None, "A100-80GB"),
    ],
)
def test_canonical_gpu_name(driver_name: str, memory_gib: float | None, expected: str) -> None:
    assert canonical_gpu_name(driver_name, memory_gib) == expected


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
