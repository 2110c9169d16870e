"""CatalogPriceBook on the shared real catalogs, the shipped default, and broken files."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from aiplane.core.errors import CatalogError
from aiplane.pricing.base import PriceBook
from aiplane.pricing.catalog import CatalogPriceBook
from aiplane.pricing.gcp_hosts import BundledGpus, bundled_gpus

SHARED = Path(__file__).parents[2] / ".." / "shared" / "data" / "catalog"
needs_shared = pytest.mark.skipif(not SHARED.is_dir(), reason="shared catalog data not present")

HEADER = "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Region,Price,SpotPrice\n"


@pytest.fixture(scope="module")
def shared() -> CatalogPriceBook:
    return CatalogPriceBook.from_dir(SHARED)


def _rows(name: str) -> list[dict[str, str]]:
    with open(SHARED / name, newline="") as f:
        return list(csv.DictReader(f))


def _gcp_total(instance_type: str, region: str, gpu: str, count: int) -> tuple[float, float]:
    """VM row + GPU-only row, zone by zone, cheapest zone: computed here without the parser."""
    rows = _rows("gcp.csv")
    totals = []
    for vm in rows:
        if vm["InstanceType"] != instance_type or vm["Region"] != region:
            continue
        gpus = [
            r
            for r in rows
            if r["InstanceType"] == ""
            and r["AcceleratorName"] == gpu
            and r["AcceleratorCount"] == str(count)
            and r["AvailabilityZone"] == vm["AvailabilityZone"]
        ]
        assert len(gpus) == 1
        totals.append(
            (
                float(vm["Price"]) + float(gpus[0]["Price"]),
                float(vm["SpotPrice"]) + float(gpus[0]["SpotPrice"]),
            )
        )
    assert totals
    return min(t[0] for t in totals), min(t[1] for t in totals)


def test_it_is_a_price_book() -> None:
    book: PriceBook = CatalogPriceBook.default()
    assert book.instance_types()


@needs_shared
def test_gcp_host_vm_price_is_vm_row_plus_gpu_rows(shared: CatalogPriceBook) -> None:
    [offer] = shared.offers("a3-highgpu-8g", "us-central1")
    on_demand, spot = _gcp_total("a3-highgpu-8g", "us-central1", "H100", 8)
    assert offer.usd_per_hour == pytest.approx(on_demand)
    assert offer.spot_usd_per_hour == pytest.approx(spot)
    assert on_demand == pytest.approx(9.46006 + 33.60609)  # the figures in gcp.csv
    assert (offer.accelerator, offer.accelerator_count) == ("H100-80GB", 8)
    assert (offer.cpus, offer.memory_gib, offer.source) == (208.0, 1872.0, "gcp.csv")


@needs_shared
@pytest.mark.parametrize(
    ("instance_type", "region", "gpu_row", "accelerator", "count"),
    [
        ("a2-ultragpu-8g", "us-central1", "A100-80GB", "A100-80GB", 8),
        ("a2-highgpu-1g", "us-central1", "A100", "A100-40GB", 1),
        ("a3-megagpu-8g", "us-central1", "H100-MEGA", "H100-80GB", 8),
        ("a3-ultragpu-8g", "europe-west4", "H200", "H200", 8),
        ("g2-standard-8", "europe-west4", "L4", "L4", 1),
        ("g2-standard-24", "us-central1", "L4", "L4", 2),
    ],
)
def test_gcp_families(
    shared: CatalogPriceBook,
    instance_type: str,
    region: str,
    gpu_row: str,
    accelerator: str,
    count: int,
) -> None:
    [offer] = shared.offers(instance_type, region)
    assert (offer.accelerator, offer.accelerator_count) == (accelerator, count)
    assert offer.usd_per_hour == pytest.approx(_gcp_total(instance_type, region, gpu_row, count)[0])


def test_gcp_family_table() -> None:
    assert bundled_gpus("a2-megagpu-16g") == BundledGpus("A100", "A100-40GB", 16)
    assert bundled_gpus("a3-edgegpu-8g-nolssd") == BundledGpus("H100", "H100-80GB", 8)
    counts = {n: bundled_gpus(f"g2-standard-{n}") for n in (4, 8, 12, 16, 32, 24, 48, 96)}
    assert {n: b.count if b else None for n, b in counts.items()} == {
        4: 1, 8: 1, 12: 1, 16: 1, 32: 1, 24: 2, 48: 4, 96: 8,
    }  # fmt: skip
    assert bundled_gpus("n1-standard-8") is None
    assert bundled_gpus("g2-standard-7") is None


@needs_shared
def test_gpu_only_rows_are_not_offers(shared: CatalogPriceBook) -> None:
    assert "" not in shared.instance_types()
    assert not shared.offers("")


@needs_shared
def test_lambda_columns_in_another_order(shared: CatalogPriceBook) -> None:
    [offer] = shared.offers("gpu_8x_h100_sxm5", "us-east-1")
    row = next(
        r
        for r in _rows("lambda.csv")
        if r["InstanceType"] == "gpu_8x_h100_sxm5" and r["Region"] == "us-east-1"
    )
    assert offer.usd_per_hour == float(row["Price"])
    assert (offer.accelerator, offer.accelerator_count) == ("H100-80GB", 8)
    assert offer.cpus == float(row["vCPUs"])
    assert offer.spot_usd_per_hour is None  # Lambda has no spot market


@needs_shared
def test_azure_generation_overflow_and_fractional_gpus(shared: CatalogPriceBook) -> None:
    [offer] = shared.offers("Standard_NC12s_v3", "australiaeast")
    assert (offer.accelerator, offer.accelerator_count) == ("V100", 2)
    assert offer.usd_per_hour == 8.468
    assert offer.spot_usd_per_hour == 1.564886
    partial = {
        r["InstanceType"]
        for r in _rows("azure.csv")
        if r["AcceleratorCount"] and float(r["AcceleratorCount"]) % 1
    }
    assert partial
    assert not any(shared.offers(t) for t in partial)


@needs_shared
def test_vast_zero_spot_means_none(shared: CatalogPriceBook) -> None:
    offers = shared.offers("1x-RTX_5090-32-65536")
    assert offers
    assert all(o.spot_usd_per_hour is None for o in offers)
    assert offers[0].accelerator == "RTX5090"  # unknown to aiplane: kept as given


@needs_shared
def test_zones_collapse_and_cheapest_first(shared: CatalogPriceBook) -> None:
    offers = shared.offers("a3-highgpu-8g")
    regions = [o.region for o in offers]
    assert len(regions) == len(set(regions))
    prices = [o.usd_per_hour for o in offers]
    assert prices == sorted(prices)
    assert shared.instance_types() == sorted(shared.instance_types())
    assert shared.files and all(f.endswith(".csv") for f in shared.files)


@needs_shared
def test_default_catalog_agrees_with_the_snapshot(shared: CatalogPriceBook) -> None:
    default = CatalogPriceBook.default()
    for instance_type, region in [
        ("a3-highgpu-8g", "us-central1"),
        ("a3-highgpu-8g", "europe-west4"),
        ("a2-ultragpu-8g", "us-central1"),
        ("g2-standard-8", "europe-west4"),
        ("gpu_8x_h100_sxm5", "us-east-1"),
    ]:
        [ours] = default.offers(instance_type, region)
        [theirs] = shared.offers(instance_type, region)
        assert ours.usd_per_hour == pytest.approx(theirs.usd_per_hour)
        assert ours.spot_usd_per_hour == pytest.approx(theirs.spot_usd_per_hour)
        assert (ours.accelerator, ours.accelerator_count) == (
            theirs.accelerator,
            theirs.accelerator_count,
        )


def test_default_catalog() -> None:
    book = CatalogPriceBook.default()
    assert book is CatalogPriceBook.default()  # parsed once
    assert 20 <= len(book) <= 40
    for instance_type in book.instance_types():
        for offer in book.offers(instance_type):
            assert offer.accelerator is not None and offer.accelerator_count >= 1
            assert offer.source == "aiplane-default.csv"
    [p5] = book.offers("p5.48xlarge", "us-east-1")
    assert (p5.usd_per_hour, p5.accelerator, p5.accelerator_count) == (55.04, "H100-80GB", 8)
    [p4d] = book.offers("p4d.24xlarge", "us-east-1")
    assert (p4d.usd_per_hour, p4d.accelerator) == (21.96, "A100-40GB")
    us = book.offers("a3-highgpu-8g", "us-central1")[0]
    eu = book.offers("a3-highgpu-8g", "europe-west4")[0]
    assert us.spot_usd_per_hour is not None and us.spot_usd_per_hour < eu.usd_per_hour


def _book(tmp_path: Path, name: str, text: str | bytes) -> CatalogPriceBook:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return CatalogPriceBook.from_dir(tmp_path)


def test_cheapest_zone_and_spot_kept(tmp_path: Path) -> None:
    text = (
        "InstanceType,AcceleratorName,AcceleratorCount,vCPUs,MemoryGiB,Region,"
        "AvailabilityZone,Price,SpotPrice\n"
        "x1,H100,8,100,1000,r1,r1-a,10.0,4.0\n"
        "x1,H100,8,100,1000,r1,r1-b,9.0,5.0\n"
        "x1,H100,8,100,1000,r2,r2-a,8.0,\n"
    )
    book = _book(tmp_path, "c.csv", text)
    assert [(o.region, o.usd_per_hour, o.spot_usd_per_hour) for o in book.offers("x1")] == [
        ("r2", 8.0, None),
        ("r1", 9.0, 4.0),
    ]


def test_host_vm_without_gpu_row_or_price_is_left_out(tmp_path: Path) -> None:
    text = (
        "InstanceType,vCPUs,MemoryGiB,AcceleratorName,AcceleratorCount,Region,"
        "AvailabilityZone,Price,SpotPrice\n"
        "a3-highgpu-8g,208,1872,,,r1,r1-a,9.0,3.0\n"
        "a3-highgpu-8g,208,1872,,,r2,r2-a,9.0,3.0\n"
        ",,,H100,1,r2,r2-b,4.0,\n"
        "g2-standard-8,8,32,,,r2,r2-a,0.0,0.0\n"
        ",,,L4,1,r2,r2-a,0.5,0.2\n"
        "cpu-box,4,16,,,r1,r1-a,0.2,\n"
    )
    book = _book(tmp_path, "gcp.csv", text)
    # r1 has no H100 row: not offered. r2's H100 row is in another zone: scaled per GPU.
    [offer] = book.offers("a3-highgpu-8g")
    assert (offer.region, offer.usd_per_hour, offer.spot_usd_per_hour) == ("r2", 41.0, None)
    assert not book.offers("g2-standard-8")  # the VM row has no price
    [cpu] = book.offers("cpu-box")
    assert (cpu.accelerator, cpu.accelerator_count) == (None, 0)


def test_not_a_price_list_is_skipped(tmp_path: Path) -> None:
    book = _book(tmp_path, "common_accelerators.csv", 'AcceleratorName,Clouds\nA10,"[1]"\n')
    assert len(book) == 0


@pytest.mark.parametrize(
    ("text", "where", "column"),
    [
        (HEADER + "x,H100,8,10,10,r1,1.0,\nx,H100,8,10,10,r2,abc,\n", "bad.csv:3", "Price"),
        (HEADER + "x,H100,8,10,10,r1,-1,\n", "bad.csv:2", "Price"),
        (HEADER + "x,H100,8,ten,10,r1,1.0,\n", "bad.csv:2", "vCPUs"),
        (HEADER + "x,H100,8,10,10\n", "bad.csv:2", "Region"),
        (HEADER + "x,H100,,10,10,r1,1.0,\n", "bad.csv:2", "AcceleratorCount"),
        ("InstanceType,Region\nx,r1\n", "bad.csv:1", "Price"),
    ],
)
def test_bad_csv_names_file_line_and_column(
    tmp_path: Path, text: str, where: str, column: str
) -> None:
    with pytest.raises(CatalogError) as info:
        _book(tmp_path, "bad.csv", text)
    [problem] = info.value.problems
    assert problem.location == f"{tmp_path / where} column {column}"
    assert str(tmp_path / where) in info.value.message


def test_not_utf8_and_empty_files(tmp_path: Path) -> None:
    with pytest.raises(CatalogError) as info:
        _book(tmp_path, "bin.csv", HEADER.encode() + b"x,H\xff100,8,1,1,r,1,\n")
    assert info.value.problems[0].location == f"{tmp_path / 'bin.csv'}:2"
    (tmp_path / "bin.csv").unlink()
    with pytest.raises(CatalogError, match="empty file"):
        _book(tmp_path, "empty.csv", "")


def test_missing_directory() -> None:
    with pytest.raises(CatalogError, match="not found"):
        CatalogPriceBook.from_dir("/nonexistent/catalogs")
