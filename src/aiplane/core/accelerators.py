"""Accelerator types known to aiplane.

Figures are from the vendors' data sheets (NVIDIA H200, H100 SXM, A100, L40S, L4, T4, A10/A10G
and Jetson AGX Orin product briefs): memory per device, peak dense bf16 tensor throughput (fp16
where the part has no bf16) and board power. They are used to weigh heterogeneous offers and to
estimate energy; they are not measured here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aiplane.core.errors import Problem, SpecError


@dataclass(frozen=True)
class Accelerator:
    name: str
    vendor: str
    memory_gib: float
    peak_bf16_tflops: float
    power_w: float
    mig_capable: bool = False
    edge: bool = False


_KNOWN: tuple[Accelerator, ...] = (
    Accelerator("H200", "nvidia", 141, 989, 700, mig_capable=True),
    Accelerator("H100-80GB", "nvidia", 80, 989, 700, mig_capable=True),
    Accelerator("A100-80GB", "nvidia", 80, 312, 400, mig_capable=True),
    Accelerator("A100-40GB", "nvidia", 40, 312, 400, mig_capable=True),
    Accelerator("L40S", "nvidia", 48, 362, 350),
    Accelerator("L4", "nvidia", 24, 121, 72),
    Accelerator("A10G", "nvidia", 24, 70, 300),
    Accelerator("A10", "nvidia", 24, 125, 150),
    Accelerator("T4", "nvidia", 16, 65, 70),
    Accelerator("V100", "nvidia", 16, 125, 300),
    Accelerator("Jetson-Orin", "nvidia", 64, 42.5, 60, edge=True),
)

ACCELERATORS: dict[str, Accelerator] = {a.name: a for a in _KNOWN}

# Names used by clouds, catalogs and people for the same part. Keys are upper-cased.
_ALIASES: dict[str, str] = {
    "H100": "H100-80GB",
    "H100-SXM": "H100-80GB",
    "H100-SXM5": "H100-80GB",
    "H100-MEGA": "H100-80GB",
    "H100-MEGA-80GB": "H100-80GB",
    "A100": "A100-40GB",
    "A100-SXM4-40GB": "A100-40GB",
    "A100-SXM4-80GB": "A100-80GB",
    "H200-141GB": "H200",
    "JETSON-AGX-ORIN": "Jetson-Orin",
    "ORIN": "Jetson-Orin",
    "JETSONORIN": "Jetson-Orin",
}
_BY_UPPER: dict[str, str] = {name.upper(): name for name in ACCELERATORS}


def canonical_name(name: str) -> str | None:
    """The canonical accelerator name for ``name`` (case-insensitive, aliases allowed)."""
    key = name.strip().upper()
    return _BY_UPPER.get(key) or _ALIASES.get(key)


def lookup(name: str, location: str = "accelerator") -> Accelerator:
    canonical = canonical_name(name)
    if canonical is None:
        raise SpecError(
            "unknown accelerator",
            [Problem(location, "unknown accelerator type", repr(name), ", ".join(ACCELERATORS))],
        )
    return ACCELERATORS[canonical]


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
