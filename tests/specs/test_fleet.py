"""Valid fleet specs: the example fleet, catalog resolution, pricing, auto nodes, round trips."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from aiplane.core.fleet import NodeShape, PricingModel, SiteKind
from aiplane.pricing.base import InstanceOffer
from aiplane.pricing.catalog import CatalogPriceBook
from aiplane.specs import (
    fleet_from_document,
    fleet_to_document,
    is_auto_node,
    load_fleet,
)

from .conftest import EXAMPLES, SHARED_CATALOG, example


class NoBook:
    """A price book that must not be asked: resolved documents carry their own prices."""

    def offers(self, instance_type: str, region: str | None = None) -> list[InstanceOffer]:
        raise AssertionError(f"catalog consulted for {instance_type} in {region}")

    def instance_types(self) -> list[str]:
        raise AssertionError("catalog consulted")


def _one_pool(node: dict[str, Any], pricing: dict[str, Any] | None = None, **site: Any) -> Any:
    pool: dict[str, Any] = {"name": "p", "backend": "emulated", "node": node}
    if pricing is not None:
        pool["pricing"] = pricing
    doc = {
        "sites": [
            {
                "name": "s",
                "kind": site.get("kind", "cloud"),
                "region": site.get("region", "us-central1"),
                "jurisdiction": "US",
                "pools": [pool],
            }
        ]
    }
    [p] = fleet_from_document(doc, "fleet.yaml", site.get("book")).pools()
    return p


def test_example_fleet_loads() -> None:
    spec = load_fleet(EXAMPLES / "fleet-hybrid.yaml")
    fleet = spec.fleet
    assert spec.source.endswith("fleet-hybrid.yaml")
    assert [s.name for s in fleet.sites] == [
        "onprem-local",
        "gcp-europe-west4",
        "gcp-us-central1",
        "edge-retail-berlin",
    ]
    assert [s.kind for s in fleet.sites] == [
        SiteKind.ONPREM,
        SiteKind.CLOUD,
        SiteKind.CLOUD,
        SiteKind.EDGE,
    ]
    workstation = fleet.pool("onprem-local/workstation")
    assert workstation is not None and workstation.backend == "local"
    assert workstation.node == NodeShape(None, 0, 2.0, 4.0, auto_detect=True)
    assert is_auto_node(workstation.node)
    dgx = fleet.pool("onprem-local/dgx-h100-emulated")
    assert dgx is not None and dgx.emulated
    assert dgx.node == NodeShape("H100-80GB", 8, 208.0, 2048.0)
    assert dgx.pricing.model is PricingModel.OWNED
    assert dgx.pricing.usd_per_node_hour == pytest.approx(1.35 * 8)
    eu = fleet.pool("gcp-europe-west4/a3-on-demand")
    us = fleet.pool("gcp-us-central1/a3-spot")
    assert eu is not None and us is not None
    assert (eu.nodes_min, eu.nodes_max, us.nodes_min, us.nodes_max) == (0, 4, 0, 8)
    assert eu.instance_type == us.instance_type == "a3-highgpu-8g"
    assert eu.node == us.node == NodeShape("H100-80GB", 8, 208.0, 1872.0)
    assert eu.pricing.model is PricingModel.ON_DEMAND
    assert eu.pricing.usd_per_node_hour == pytest.approx(111.81719)
    assert us.pricing.model is PricingModel.SPOT
    assert us.pricing.usd_per_node_hour == pytest.approx(35.87358)
    assert us.pricing.interruption_rate_per_hour == 0.05
    assert us.pricing.source == "catalog:aiplane-default.csv"
    assert us.pricing.usd_per_node_hour < eu.pricing.usd_per_node_hour
    edge = fleet.site("edge-retail-berlin")
    assert edge is not None and edge.latency_ms["eu-users"] == 5
    research = fleet.team("research")
    assert research is not None and research.quota == {"H100-80GB": 16, "L4": 1}
    assert research.cohort == "ml" and research.budget_usd_per_month == 50000
    clicks = fleet.dataset("clicks-eu")
    assert clicks is not None and (clicks.site, clicks.size_gb, clicks.jurisdiction) == (
        "onprem-local",
        1200,
        "EU",
    )
    public = fleet.dataset("web-text-public")
    assert public is not None and public.jurisdiction is None


def test_resolved_document_round_trips_without_the_catalog() -> None:
    fleet = load_fleet(EXAMPLES / "fleet-hybrid.yaml").fleet
    document = fleet_to_document(fleet)
    assert json.loads(json.dumps(document)) == document
    assert fleet_from_document(document, "stored fleet", NoBook()) == fleet
    pool = document["sites"][2]["pools"][0]
    assert pool["node"] == {
        "instance_type": "a3-highgpu-8g",
        "accelerator": "H100-80GB",
        "gpus": 8,
        "cpus": 208.0,
        "memory_gib": 1872.0,
    }
    assert pool["pricing"]["source"] == "catalog:aiplane-default.csv"
    assert document["sites"][0]["pools"][0]["node"] == {
        "accelerator": "auto",
        "cpus": 2.0,
        "memory_gib": 4.0,
    }


def test_fleet_spec_is_accepted_by_fleet_to_document() -> None:
    spec = load_fleet(EXAMPLES / "fleet-hybrid.yaml")
    assert fleet_to_document(spec) == fleet_to_document(spec.fleet)


@pytest.mark.skipif(not SHARED_CATALOG.is_dir(), reason="shared catalog data not present")
def test_instance_type_from_the_shared_catalog() -> None:
    book = CatalogPriceBook.from_dir(SHARED_CATALOG)
    pool = _one_pool(
        {"instance_type": "a3-megagpu-8g"}, {"model": "spot"}, region="us-east4", book=book
    )
    [offer] = book.offers("a3-megagpu-8g", "us-east4")
    assert pool.node == NodeShape("H100-80GB", 8, 208.0, 1872.0)
    assert pool.pricing.usd_per_node_hour == offer.spot_usd_per_hour
    assert pool.pricing.source == "catalog:gcp.csv"
    lam = _one_pool({"instance_type": "gpu_8x_h100_sxm5"}, region="us-east-1", book=book)
    assert lam.pricing.model is PricingModel.ON_DEMAND
    assert lam.pricing.usd_per_node_hour == 31.92


def test_catalog_shape_fields_and_price_can_be_overridden() -> None:
    pool = _one_pool(
        {"instance_type": "a3-highgpu-8g", "cpus": 100},
        {"model": "reserved", "usd_per_gpu_hour": 2.0},
    )
    assert pool.node == NodeShape("H100-80GB", 8, 100.0, 1872.0)
    assert pool.pricing.model is PricingModel.RESERVED
    assert pool.pricing.usd_per_node_hour == 16.0
    assert pool.pricing.source == "spec"


def test_reserved_without_price_takes_the_on_demand_rate() -> None:
    pool = _one_pool({"instance_type": "a3-highgpu-8g"}, {"model": "reserved"})
    assert pool.pricing.usd_per_node_hour == pytest.approx(43.06615)


def test_defaults() -> None:
    onprem = _one_pool(
        {"accelerator": "a100", "gpus": 4, "cpus": 64, "memory_gib": 512}, kind="onprem"
    )
    assert onprem.node.accelerator == "A100-40GB"
    assert (onprem.pricing.model, onprem.pricing.usd_per_node_hour) == (PricingModel.OWNED, 0.0)
    assert (onprem.nodes_min, onprem.nodes_max) == (1, 1)
    cpu = _one_pool({"cpus": 4, "memory_gib": 8}, {"usd_per_node_hour": 0.2})
    assert cpu.node == NodeShape(None, 0, 4.0, 8.0)
    assert cpu.pricing.model is PricingModel.OWNED


def test_team_names_are_normalised() -> None:
    doc = {"teams": [{"name": "t", "quota": {"h100": 8, "a100-80gb": 4}, "lending_limit": {}}]}
    [team] = fleet_from_document(doc, "fleet.yaml").teams
    assert team.quota == {"H100-80GB": 8, "A100-80GB": 4}


def test_empty_fleet_is_valid() -> None:
    fleet = fleet_from_document({}, "fleet.yaml")
    assert (fleet.sites, fleet.teams, fleet.datasets) == ((), (), ())
    assert example("fleet-hybrid.yaml")["sites"]


def test_a_resolved_auto_pool_round_trips_even_with_a_gpu_aiplane_does_not_know() -> None:
    fleet = load_fleet(EXAMPLES / "fleet-hybrid.yaml").fleet
    for detected in ["L4", "NVIDIA GeForce RTX 4090", None]:
        gpus = 0 if detected is None else 2
        site = replace(
            fleet.sites[0],
            pools=(
                replace(fleet.sites[0].pools[0], node=NodeShape(detected, gpus, 2.0, 4.0)),
                *fleet.sites[0].pools[1:],
            ),
        )
        resolved = replace(fleet, sites=(site, *fleet.sites[1:]))
        document = fleet_to_document(resolved)
        node = document["sites"][0]["pools"][0]["node"]
        assert node.get("custom_accelerator", False) is (detected == "NVIDIA GeForce RTX 4090")
        assert fleet_from_document(document, "stored fleet", NoBook()) == resolved


def test_custom_accelerator_by_hand() -> None:
    pool = _one_pool(
        {
            "accelerator": "RTX-6000-Ada",
            "gpus": 4,
            "cpus": 32,
            "memory_gib": 256,
            "custom_accelerator": True,
        },
        kind="onprem",
    )
    assert pool.node.accelerator == "RTX-6000-Ada"


def test_a_pool_carries_its_backend_config_through_a_round_trip() -> None:
    config = {"partition": "gpu", "nodes": ["a", "b"], "limits": {"hours": 4.5, "exclusive": True}}
    document = example("fleet-hybrid.yaml")
    document["sites"][1]["pools"][0]["backend_config"] = config
    fleet = fleet_from_document(document, "fleet.yaml")
    configured = fleet.sites[1].pools[0]
    assert configured.backend_config == config
    assert all(p.backend_config == {} for p in fleet.pools() if p is not configured)
    stored = fleet_to_document(fleet)
    assert stored["sites"][1]["pools"][0]["backend_config"] == config
    assert fleet_from_document(json.loads(json.dumps(stored)), "stored fleet") == fleet


def test_a_fleet_without_backend_config_documents_as_before() -> None:
    fleet = load_fleet(EXAMPLES / "fleet-hybrid.yaml").fleet
    pools = [p for s in fleet_to_document(fleet)["sites"] for p in s["pools"]]
    assert pools and all("backend_config" not in p for p in pools)
