"""The price-book protocol: instance types to shapes and hourly prices."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol


@dataclass(frozen=True)
class InstanceOffer:
    instance_type: str
    accelerator: str | None  # canonical accelerator name (aiplane.core.accelerators)
    accelerator_count: int
    cpus: float
    memory_gib: float
    region: str
    usd_per_hour: float  # on-demand list price of the whole instance
    spot_usd_per_hour: float | None
    source: str  # the catalog file it came from


class PriceBook(Protocol):
    def offers(self, instance_type: str, region: str | None = None) -> list[InstanceOffer]:
        """Every known (region, price) row for the instance type, cheapest first; empty if
        unknown. Zones of one region collapse to the region's cheapest row."""
        ...

    def instance_types(self) -> list[str]: ...
