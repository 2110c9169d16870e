"""Accelerator types known to aiplane.

Figures are from the vendors' data sheets (NVIDIA H200, H100 SXM, A100, L40S, L4, T4, A10/A10G
and Jetson AGX Orin product briefs): memory per device, peak dense bf16 tensor throughput (fp16
where the part has no bf16) and board power. They are used to weigh heterogeneous offers and to
estimate energy; they are not measured here.
"""

from __future__ import annotations

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
