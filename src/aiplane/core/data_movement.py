"""Moving a workload's input datasets to the site it runs at: from which replica, at what price.

The one reckoning of data movement: placement prices offers with it and metering bills attempts
with it, so an estimate and the bill it becomes cannot disagree on where the data came from.

A dataset costs nothing to move to a site that holds a replica of it. Otherwise it is copied
from the replica whose site charges the least egress (billed by the site the data leaves, per
GB), ties to the primary copy and then to the site name, so the choice is stable. Every source
moves data at the same wide-area rate, so the cheapest source is also as fast as any.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aiplane.core.fleet import Dataset, Fleet

# Wide-area transfer rate assumed for moving input data between sites (10 Gbit/s).
TRANSFER_GB_PER_HOUR = 10 / 8 * 3600


@dataclass(frozen=True)
class Transfer:
    """One input copied to the site: which dataset (``name`` or ``name@N``), from which
    replica's site, how many GB and what the egress costs."""

    dataset: str
    source: str
    gb: float
    usd: float

    def describe(self) -> dict[str, str | float]:
        return {
            "dataset": self.dataset,
            "from": self.source,
            "gb": round(self.gb, 6),
            "usd": round(self.usd, 6),
        }


@dataclass(frozen=True)
class DataMovement:
    """Every input that must be copied to one site (inputs already there are not listed)."""

    transfers: tuple[Transfer, ...] = ()

    @property
    def gb(self) -> float:
        return sum(t.gb for t in self.transfers)

    @property
    def usd(self) -> float:
        return sum(t.usd for t in self.transfers)

    @property
    def hours(self) -> float:
        return self.gb / TRANSFER_GB_PER_HOUR

    def summary(self) -> str:
        """``clicks@3 from eu-west, logs from us-east``: what an explanation says was moved."""
        return ", ".join(f"{t.dataset} from {t.source}" for t in self.transfers)


NO_MOVEMENT = DataMovement()


def cheapest_source(dataset: Dataset, fleet: Fleet) -> tuple[str, float]:
    """The replica's site to copy ``dataset`` from, and its egress price per GB.

    Replicas at sites the fleet does not (or no longer) have are passed over; a dataset with
    none known is taken from its primary site at no price, as a site the fleet cannot price."""
    best: tuple[float, int, str] | None = None
    for rank, site_name in enumerate(dataset.replicas):
        site = fleet.site(site_name)
        if site is None:
            continue
        # The primary copy is first in ``replicas``: on a tie it wins, then the site name.
        key = (site.egress_usd_per_gb, 0 if rank == 0 else 1, site_name)
        if best is None or key < best:
            best = key
    if best is None:
        return dataset.site, 0.0
    return best[2], best[0]


def data_movement(inputs: Iterable[str], site: str, fleet: Fleet | None) -> DataMovement:
    """What bringing ``inputs`` (dataset references) to ``site`` moves and costs. Inputs that
    the fleet does not know move nothing (the submission check refuses them first)."""
    if fleet is None:
        return NO_MOVEMENT
    transfers = []
    for ref in inputs:
        dataset = fleet.dataset(ref)
        if dataset is None or site in dataset.replicas:
            continue
        source, usd_per_gb = cheapest_source(dataset, fleet)
        transfers.append(
            Transfer(dataset.ref, source, dataset.size_gb, dataset.size_gb * usd_per_gb)
        )
    return DataMovement(tuple(transfers)) if transfers else NO_MOVEMENT
