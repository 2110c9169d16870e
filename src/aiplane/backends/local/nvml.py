"""This machine's NVIDIA GPUs, read through NVML (``pip install 'aiplane[nvml]'``).

``pynvml`` (package nvidia-ml-py) is optional and imported only when asked. Without it, or
without a driver, there are no GPUs to report: ``read_gpus`` returns an empty list and leaves it
to the caller to decide whether that matters (a CPU-only machine is a normal case).
"""

from __future__ import annotations

import contextlib
import re
from typing import Any

from aiplane.backends.base import GpuDevice
from aiplane.core.accelerators import ACCELERATORS, canonical_name

_VENDOR_PREFIXES = ("NVIDIA ", "TESLA ", "QUADRO ")
# NVML reports usable memory, a little under the data-sheet figure (H100 80GB: 79.6 GiB,
# H200 141 GB: 140.4 GiB); a variant is only taken when the sizes agree this closely.
_MEMORY_TOLERANCE = 0.15


def _memory_fits(name: str, memory_gib: float | None) -> bool:
    if not memory_gib:
        return True
    nominal = ACCELERATORS[name].memory_gib
    return abs(nominal - memory_gib) <= _MEMORY_TOLERANCE * nominal


def canonical_gpu_name(driver_name: str, memory_gib: float | None = None) -> str:
    """aiplane's name for an NVML device name, e.g. ``"NVIDIA H100 80GB HBM3"`` ->
    ``"H100-80GB"``; the driver's name unchanged when no known accelerator matches.

    The memory size picks the variant when the name alone does not (``A100-PCIE-40GB`` and the
    80 GB A100 share a family) and vetoes a match whose size is wrong (an H100 NVL with 94 GB
    is not an ``H100-80GB``).
    """
    name = driver_name.strip()
    while True:
        prefix = next((p for p in _VENDOR_PREFIXES if name.upper().startswith(p)), None)
        if prefix is None:
            break
        name = name[len(prefix) :].strip()
    for candidate in (name, name.replace(" ", "-")):
        direct = canonical_name(candidate)
        if direct is not None and _memory_fits(direct, memory_gib):
            return direct
    family = re.split(r"[\s_-]", name, maxsplit=1)[0].upper()
    variants = [
        accel
        for accel in ACCELERATORS.values()
        if accel.name.upper() == family or accel.name.upper().startswith(family + "-")
    ]
    if memory_gib:
        fitting = [a for a in variants if _memory_fits(a.name, memory_gib)]
        if fitting:
            return min(fitting, key=lambda a: abs(a.memory_gib - memory_gib)).name
        return driver_name.strip()
    by_alias = canonical_name(family)
    return by_alias if by_alias is not None else driver_name.strip()


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
