"""This machine's NVIDIA GPUs, read through NVML (``pip install 'aiplane[nvml]'``).

``pynvml`` (package nvidia-ml-py) is optional and imported only when asked. Without it, or
without a driver, there are no GPUs to report: ``read_gpus`` returns an empty list and leaves it
to the caller to decide whether that matters (a CPU-only machine is a normal case).
"""

from __future__ import annotations

import contextlib
from typing import Any

from aiplane.backends.base import GpuDevice
from aiplane.core.accelerators import canonical_gpu_name


def _text(value: Any) -> str:
    # Older nvidia-ml-py versions return bytes, newer ones str.
    return value.decode("utf-8", errors="replace") if isinstance(value, bytes) else str(value)


def read_gpus() -> list[GpuDevice]:
    """The GPUs NVML sees, in NVML (PCI bus) order; [] without pynvml or a working driver."""
    try:
        import pynvml
    except ImportError:
        return []
    try:
        pynvml.nvmlInit()
    except pynvml.NVMLError:  # no driver, no library, no permission
        return []
    try:
        devices: list[GpuDevice] = []
        for index in range(int(pynvml.nvmlDeviceGetCount())):
            device = pynvml.nvmlDeviceGetHandleByIndex(index)
            driver_name = _text(pynvml.nvmlDeviceGetName(device))
            memory_gib = int(pynvml.nvmlDeviceGetMemoryInfo(device).total) / 2**30
            devices.append(
                GpuDevice(
                    index=index,
                    name=canonical_gpu_name(driver_name, memory_gib),
                    memory_gib=round(memory_gib, 1),
                    uuid=_text(pynvml.nvmlDeviceGetUUID(device)),
                )
            )
        return devices
    except pynvml.NVMLError:
        # A device that fails mid-listing (fallen off the bus, Xid errors) should not break the
        # control plane: report no inventory and let the caller decide.
        return []
    finally:
        with contextlib.suppress(Exception):
            pynvml.nvmlShutdown()
