"""A price book read from catalog CSV files in SkyPilot's ``vms.csv`` schema.

Columns are found by name, so every cloud's column order works: ``InstanceType``, ``Region`` and
``Price`` are required; ``AcceleratorName``, ``AcceleratorCount``, ``vCPUs``, ``MemoryGiB``,
``SpotPrice`` and ``AvailabilityZone`` are read when present; anything else (``GpuInfo``,
``Generation``, ``Arch``) is ignored, as are extra trailing fields (Azure writes its generation
list unquoted). A CSV without ``InstanceType`` and ``Price`` columns (such as SkyPilot's
``common/accelerators.csv``) is not a price list and is skipped.

Rules, in order:

- Rows with an empty ``InstanceType`` are GPU-only price rows (GCP), not offers; they price the
  GPUs of GCP host VMs, see :mod:`aiplane.pricing.gcp_hosts`.
- A host VM with an empty ``AcceleratorName`` whose family bundles GPUs gets those GPUs and the
  price of VM row + GPU row (zone by zone, on-demand and spot separately). When the region has
  no GPU row for it the VM is left out rather than offered at a price that hides its GPUs.
- An empty or zero ``Price`` means no price is known: the row is not an offer. An empty or zero
  ``SpotPrice`` means there is no spot market.
- Rows with a fractional ``AcceleratorCount`` (Azure's partial-GPU NV sizes) are left out:
  aiplane's node shapes hold whole GPUs.
- Accelerator names are made canonical (``H100`` -> ``H100-80GB``); unknown names are kept.
- Zones collapse: per (instance type, region) the cheapest on-demand and the cheapest spot price
  over the region's zones are kept.
"""

from __future__ import annotations

import csv
import functools
import io
import math
from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace
from importlib import resources
from pathlib import Path

from aiplane.core.accelerators import canonical_name
from aiplane.core.errors import CatalogError, Problem
from aiplane.pricing.base import InstanceOffer
from aiplane.pricing.gcp_hosts import BundledGpus, GpuPriceRow, bundled_gpus, gpu_price

REQUIRED_COLUMNS = ("InstanceType", "Region", "Price")
OPTIONAL_COLUMNS = (
    "AcceleratorName",
    "AcceleratorCount",
    "vCPUs",
    "MemoryGiB",
    "SpotPrice",
    "AvailabilityZone",
)


class CatalogPriceBook:
    """Offers from catalog CSV files; implements :class:`aiplane.pricing.base.PriceBook`."""

    def __init__(self, offers: Iterable[InstanceOffer], files: Iterable[str] = ()) -> None:
        by_key: dict[tuple[str, str], InstanceOffer] = {}
        for offer in offers:
            key = (offer.instance_type, offer.region)
            by_key[key] = _cheaper(by_key.get(key), offer)
        self._by_type: dict[str, list[InstanceOffer]] = {}
        for offer in by_key.values():
            self._by_type.setdefault(offer.instance_type, []).append(offer)
        for rows in self._by_type.values():
            rows.sort(key=lambda o: (o.usd_per_hour, o.region))
        self.files: tuple[str, ...] = tuple(files)

    @classmethod
    def from_dir(cls, path: str | Path) -> CatalogPriceBook:
        """Every ``*.csv`` file in ``path`` (not recursive), in name order."""
        directory = Path(path)
        if not directory.is_dir():
            raise CatalogError(
                f"price catalog directory not found: {directory}",
                [Problem(str(directory), "not a directory")],
            )
        files = sorted(directory.glob("*.csv"))
        offers: list[InstanceOffer] = []
        for file in files:
            try:
                data = file.read_bytes()
            except OSError as exc:
                raise CatalogError(
                    f"cannot read price catalog {file}: {exc.strerror}",
                    [Problem(str(file), f"cannot read: {exc.strerror}")],
                ) from exc
            offers.extend(parse_catalog(data, str(file), file.name))
        return cls(offers, [str(f) for f in files])

    @classmethod
    def default(cls) -> CatalogPriceBook:
        """The small catalog shipped in ``aiplane/pricing/data`` (parsed once per process)."""
        return _default_book()

    def offers(self, instance_type: str, region: str | None = None) -> list[InstanceOffer]:
        rows = self._by_type.get(instance_type, [])
        if region is not None:
            rows = [o for o in rows if o.region == region]
        return list(rows)

    def instance_types(self) -> list[str]:
        return sorted(self._by_type)

    def __len__(self) -> int:
        return sum(len(rows) for rows in self._by_type.values())


@functools.lru_cache(maxsize=1)
def _default_book() -> CatalogPriceBook:
    data_dir = resources.files("aiplane.pricing") / "data"
    offers: list[InstanceOffer] = []
    names: list[str] = []
    for entry in sorted(data_dir.iterdir(), key=lambda e: e.name):
        if entry.name.endswith(".csv") and entry.is_file():
            names.append(entry.name)
            offers.extend(parse_catalog(entry.read_bytes(), entry.name, entry.name))
    return CatalogPriceBook(offers, names)


def _cheaper(current: InstanceOffer | None, new: InstanceOffer) -> InstanceOffer:
    if current is None:
        return new
    best = current if current.usd_per_hour <= new.usd_per_hour else new
    spots = [s for s in (current.spot_usd_per_hour, new.spot_usd_per_hour) if s is not None]
    return replace(best, spot_usd_per_hour=min(spots) if spots else None)


@dataclass(frozen=True)
class _HostRow:
    instance_type: str
    cpus: float
    memory_gib: float
    region: str
    zone: str
    price: float | None
    spot: float | None
    line: int
    bundle: BundledGpus


class _Reader:
    """Field access by column name with errors that name the file, line and column."""

    def __init__(self, display: str, header: list[str]) -> None:
        self.display = display
        self.index = {name.strip(): i for i, name in enumerate(header)}
        self.line = 1
        self.row: list[str] = []

    def error(self, column: str, message: str, given: str | None = None) -> CatalogError:
        where = f"{self.display}:{self.line}"
        text = f"{where}: column {column}: {message}"
        if given is not None:
            text += f" (given: {given!r})"
        return CatalogError(text, [Problem(f"{where} column {column}", message, repr(given))])

    def text(self, column: str) -> str:
        i = self.index.get(column)
        if i is None:
            return ""
        if i >= len(self.row):
            raise self.error(
                column, f"row has {len(self.row)} fields; the header has {len(self.index)}"
            )
        return self.row[i].strip()

    def number(self, column: str) -> float | None:
        value = self.text(column)
        if not value:
            return None
        try:
            number = float(value)
        except ValueError:
            raise self.error(column, "not a number", value) from None
        if not math.isfinite(number) or number < 0:
            raise self.error(column, "not a finite non-negative number", value)
        return number

    def price(self, column: str) -> float | None:
        value = self.number(column)
        return value or None  # empty or zero: no price known


def parse_catalog(data: bytes, display: str, source: str) -> list[InstanceOffer]:
    """Offers in one catalog file's bytes; ``display`` names it in errors, ``source`` in offers."""
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CatalogError(
            f"{display}:{line}: not UTF-8 text",
            [Problem(f"{display}:{line}", "not UTF-8 text")],
        ) from None
    rows = csv.reader(io.StringIO(text, newline=""))
    try:
        header = next(rows, None)
        if header is None:
            raise CatalogError(
                f"{display}: empty file, expected a CSV header",
                [Problem(display, "empty file", allowed="a CSV header naming the columns")],
            )
        reader = _Reader(display, header)
        if "InstanceType" not in reader.index and "Price" not in reader.index:
            return []  # not a price list (e.g. SkyPilot's common/accelerators.csv)
        for column in REQUIRED_COLUMNS:
            if column not in reader.index:
                raise reader.error(column, "missing column", ",".join(header))
        return _parse_rows(rows, lambda: rows.line_num, reader, source)
    except csv.Error as exc:
        raise CatalogError(
            f"{display}:{rows.line_num}: malformed CSV: {exc}",
            [Problem(f"{display}:{rows.line_num}", f"malformed CSV: {exc}")],
        ) from None


def _parse_rows(
    rows: Iterable[list[str]], line_num: Callable[[], int], reader: _Reader, source: str
) -> list[InstanceOffer]:
    offers: list[InstanceOffer] = []
    hosts: list[_HostRow] = []
    gpu_rows: dict[tuple[str, str], list[GpuPriceRow]] = {}
    for row in rows:
        if not row or all(not f.strip() for f in row):
            continue
        reader.line, reader.row = line_num(), row
        instance_type = reader.text("InstanceType")
        region = reader.text("Region")
        raw_acc = reader.text("AcceleratorName")
        count = reader.number("AcceleratorCount")
        price, spot = reader.price("Price"), reader.price("SpotPrice")
        zone = reader.text("AvailabilityZone")
        if not instance_type:
            if raw_acc and count is not None and count >= 1 and count == int(count):
                rows_for = gpu_rows.setdefault((raw_acc, region), [])
                rows_for.append(GpuPriceRow(zone, int(count), price, spot))
            continue
        if not region:
            raise reader.error("Region", "empty region")
        cpus = reader.number("vCPUs") or 0.0
        memory = reader.number("MemoryGiB") or 0.0
        bundle = None if raw_acc else bundled_gpus(instance_type)
        if bundle is not None:
            hosts.append(
                _HostRow(
                    instance_type, cpus, memory, region, zone, price, spot, reader.line, bundle
                )
            )
            continue
        if price is None:
            continue
        accelerator: str | None = None
        gpus = 0
        if raw_acc:
            if count is None:
                raise reader.error("AcceleratorCount", "missing for an accelerator row")
            if count != int(count):
                continue  # a partial GPU: not representable as a node shape
            accelerator, gpus = canonical_name(raw_acc) or raw_acc, int(count)
        offers.append(
            InstanceOffer(
                instance_type, accelerator, gpus, cpus, memory, region, price, spot, source
            )
        )
    offers.extend(_price_hosts(hosts, gpu_rows, source))
    return offers


def _price_hosts(
    hosts: list[_HostRow], gpu_rows: dict[tuple[str, str], list[GpuPriceRow]], source: str
) -> list[InstanceOffer]:
    offers: list[InstanceOffer] = []
    for host in hosts:
        bundle = host.bundle
        rows = gpu_rows.get((bundle.gpu_row, host.region), [])
        gpu_on_demand = gpu_price(rows, host.zone, bundle.count, spot=False)
        if host.price is None or gpu_on_demand is None:
            continue
        gpu_spot = gpu_price(rows, host.zone, bundle.count, spot=True)
        spot = (
            round(host.spot + gpu_spot, 6)
            if host.spot is not None and gpu_spot is not None
            else None
        )
        offers.append(
            InstanceOffer(
                host.instance_type,
                bundle.accelerator,
                bundle.count,
                host.cpus,
                host.memory_gib,
                host.region,
                round(host.price + gpu_on_demand, 6),
                spot,
                source,
            )
        )
    return offers


def configured_catalog(directory: Path | None) -> CatalogPriceBook | None:
    """The price catalog a setting or option names (``AIPLANE_CATALOG``, ``fleet apply
    --catalog``): the SkyPilot-schema CSVs in ``directory``; None for the shipped one, which
    the specs load only when a pool names an instance type."""
    return CatalogPriceBook.from_dir(directory) if directory is not None else None
