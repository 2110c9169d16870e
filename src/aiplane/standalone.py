"""The composition of the CLI's commands that run here, without a control plane.

``aiplane fleet apply --catalog``, ``simulate``, ``plan`` and ``cost waste --recording`` need a
price catalog or a telemetry recording; ``aiplane guard scan|eval`` the guard service, which
runs the guard library over a file here (decision 0066). The CLI names no adapter or service
(import contracts in ``pyproject.toml``): it asks this module, the local counterpart of
``wiring.py``, which builds them (decision 0018). The CLI imports it inside those commands,
so client commands stay light.
"""

from __future__ import annotations

from pathlib import Path

from aiplane.core.accelerators import canonical_gpu_name
from aiplane.pricing.catalog import CatalogPriceBook, configured_catalog

# ``aiplane drift check|profile`` run the drift service here over files (decision 0076): it
# holds the column reader, no store.
from aiplane.services.drift import DriftCheck, DriftService, Timings

# The guard service is the one service the CLI runs itself: it reads no store and holds no
# adapter, only the pure guard library (the one edge the CLI's contract lets through).
from aiplane.services.guards import (
    EVAL_GUARDS,
    SCAN_GUARDS,
    Evaluation,
    GuardRecord,
    GuardService,
    InputFormat,
    ScanResult,
    ScanSummary,
)
from aiplane.tabular.columns import ArrowColumnReader
from aiplane.telemetry.replay import Recording, load_recording

# The catalog an option names has one home, ``pricing.catalog``, which ``wiring`` uses too;
# the CLI, which names no adapter, gets it here.
__all__ = [
    "EVAL_GUARDS",
    "SCAN_GUARDS",
    "DriftCheck",
    "DriftService",
    "Evaluation",
    "GuardRecord",
    "GuardService",
    "InputFormat",
    "ScanResult",
    "ScanSummary",
    "Timings",
    "configured_catalog",
    "drift_service",
    "gpu_price",
    "recording",
]


def recording(path: Path, static: Path | None = None) -> Recording:
    """A telemetry recording (JSON lines) and its ``static.json`` (default: beside it)."""
    return load_recording(path, static)


def gpu_price(model: str) -> tuple[float, str]:
    """The cheapest on-demand $/GPU-hour for the device ``model`` (a driver's name) in the
    shipped catalog, and where it came from; (0, why) when the catalog does not know it."""
    accelerator = canonical_gpu_name(model)
    book = CatalogPriceBook.default()
    best: tuple[float, str] | None = None
    for instance_type in book.instance_types():
        for offer in book.offers(instance_type):
            if offer.accelerator != accelerator or not offer.accelerator_count:
                continue
            price = offer.usd_per_hour / offer.accelerator_count
            if best is None or price < best[0]:
                best = (price, f"{instance_type} on-demand in {offer.region}")
    if best is None:
        return 0.0, f"no catalog price for {model!r}: pass --usd-per-gpu-hour"
    return best


def drift_service() -> DriftService:
    """The drift service over Parquet and CSV files (pyarrow)."""
    return DriftService(ArrowColumnReader())
