"""GCP machine families that bundle GPUs, and the GPU-only price rows that go with them.

In SkyPilot's GCP catalog schema a VM that comes with GPUs built in (``a2-``, ``a3-``, ``g2-``
...) has a row with an empty ``AcceleratorName`` carrying only the VM part of the price; the GPU
part is on separate rows with an empty ``InstanceType`` and the GPU's catalog name (``A100``,
``A100-80GB``, ``H100``, ``H100-MEGA``, ``H200``, ``L4``, ``B200``) for 1, 2, 4, 8 (and 16) GPUs.
The total hourly price of such a VM is the VM row plus the GPU row for its GPUs.

The table below says which GPUs each family bundles (from Google Cloud's machine-type pages for
the A2, A3, A4 and G2 series). ``gpu_row`` is the name the catalog uses on the GPU-only rows,
which is more specific than the canonical accelerator (``H100-MEGA`` is priced apart from
``H100`` but is the same part).
"""

from __future__ import annotations

import re
from dataclasses import dataclass


@dataclass(frozen=True)
class BundledGpus:
    gpu_row: str  # AcceleratorName on the catalog's GPU-only rows
    accelerator: str  # canonical name (aiplane.core.accelerators) or the catalog name if unknown
    count: int


# g2-standard-N: vCPUs -> L4 GPUs.
_G2_GPUS = {4: 1, 8: 1, 12: 1, 16: 1, 32: 1, 24: 2, 48: 4, 96: 8}

_FAMILIES: tuple[tuple[re.Pattern[str], str, str], ...] = (
    # pattern (group 1, when present, is the GPU count), GPU row name, canonical accelerator
    (re.compile(r"a2-highgpu-(1|2|4|8)g"), "A100", "A100-40GB"),
    (re.compile(r"a2-megagpu-(16)g"), "A100", "A100-40GB"),
    (re.compile(r"a2-ultragpu-(1|2|4|8)g"), "A100-80GB", "A100-80GB"),
    (re.compile(r"a3-highgpu-(1|2|4|8)g"), "H100", "H100-80GB"),
    (re.compile(r"a3-edgegpu-(8)g(?:-nolssd)?"), "H100", "H100-80GB"),
    (re.compile(r"a3-megagpu-(8)g"), "H100-MEGA", "H100-80GB"),
    (re.compile(r"a3-ultragpu-(8)g(?:-nolssd)?"), "H200", "H200"),
    (re.compile(r"a4-highgpu-(8)g"), "B200", "B200"),
)
_G2 = re.compile(r"g2-standard-(\d+)")


def bundled_gpus(instance_type: str) -> BundledGpus | None:
    """The GPUs a GCP host VM type comes with, or None if it is not a GPU-bundling family."""
    for pattern, gpu_row, accelerator in _FAMILIES:
        m = pattern.fullmatch(instance_type)
        if m:
            return BundledGpus(gpu_row, accelerator, int(m.group(1)))
    m = _G2.fullmatch(instance_type)
    if m and int(m.group(1)) in _G2_GPUS:
        return BundledGpus("L4", "L4", _G2_GPUS[int(m.group(1))])
    return None


@dataclass(frozen=True)
class GpuPriceRow:
    """One GPU-only row: the price of ``count`` GPUs of one type in one zone."""

    zone: str
    count: int
    price: float | None
    spot: float | None


def gpu_price(rows: list[GpuPriceRow], zone: str, count: int, spot: bool) -> float | None:
    """Price of ``count`` GPUs from the GPU-only rows of one type and region.

    Preference: a row for exactly ``count`` GPUs in the same zone, then any row in the same zone
    scaled per GPU, then the cheapest exact-count row in the region, then the cheapest per-GPU
    row in the region scaled. None when no row has the price asked for.
    """

    def value(r: GpuPriceRow) -> float | None:
        return r.spot if spot else r.price

    priced = [r for r in rows if value(r) is not None]
    for candidates in ([r for r in priced if r.zone == zone], priced):
        exact = [value(r) for r in candidates if r.count == count]
        if exact:
            return min(v for v in exact if v is not None)
        scaled = [v / r.count * count for r in candidates if (v := value(r)) is not None]
        if scaled:
            return min(scaled)
    return None
