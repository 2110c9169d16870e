"""Capacity planning: candidate syntax, fleet edits, the frontier and the recommendation."""

from __future__ import annotations

from typing import Any

import pytest

from aiplane.core.errors import SpecError
from aiplane.core.fleet import PricingModel
from aiplane.pricing.catalog import CatalogPriceBook
from aiplane.sim.plan import (
    Candidate,
    FleetEditor,
    Outcome,
    frontier,
    parse_candidate,
    parse_change,
    recommend,
)
from aiplane.specs import fleet_from_document

BASE: dict[str, Any] = {
    "sites": [{
        "name": "dc", "kind": "onprem", "region": "eu", "jurisdiction": "EU",
        "pools": [{"name": "v100", "backend": "emulated", "nodes": 4,
                   "node": {"accelerator": "V100", "gpus": 8, "cpus": 64, "memory_gib": 512},
                   "pricing": {"model": "owned", "usd_per_gpu_hour": 0.5}}],
    }]
}  # fmt: skip


def test_change_syntax() -> None:
    c = parse_change("add-owned:H100:8:nodes=4,usd_per_gpu_hour=1.35")
    assert (c.kind, c.accelerator, c.gpus_per_node) == ("add-owned", "H100-80GB", 8)
    assert c.params == {"nodes": "4", "usd_per_gpu_hour": "1.35"}
    c = parse_change("reserve:A100-80GB:gpus=64:term_months=12")
    assert c.params == {"gpus": "64", "term_months": "12"} and c.gpus_per_node is None
    both = parse_candidate("add-owned:V100:8:nodes=2 + spot-burst:H100:gpus=16,label=mix")
    assert both.name == "mix" and len(both.changes) == 2
    for bad in ("buy:H100:nodes=1", "add-owned", "add-owned:H100:eight"):
        with pytest.raises(SpecError):
            parse_change(bad)


def editor() -> FleetEditor:
    return FleetEditor(BASE, CatalogPriceBook.default)


def test_add_owned_takes_the_fleets_price_for_a_known_accelerator() -> None:
    doc, notes = editor().apply(parse_candidate("add-owned:V100:8:nodes=2"))
    fleet = fleet_from_document(doc, "plan")
    pools = {p.key: p for p in fleet.pools()}
    added = pools["dc/plan-0-add-owned-v100"]
    assert added.nodes_max == 2 and added.pricing.usd_per_node_hour == pytest.approx(4.0)
    assert "2 owned nodes" in notes[0]
    assert len(BASE["sites"][0]["pools"]) == 1  # the base document is not touched


def test_add_owned_of_a_new_accelerator_needs_a_price() -> None:
    with pytest.raises(SpecError, match="usd_per_gpu_hour"):
        editor().apply(parse_candidate("add-owned:H100:8:nodes=2"))


def test_cloud_changes_go_to_a_new_cloud_site_priced_from_the_catalog() -> None:
    doc, notes = editor().apply(
        parse_candidate("spot-burst:H100:gpus=20 + reserve:H100:gpus=16:term_months=36")
    )
    fleet = fleet_from_document(doc, "plan")
    cloud = fleet.site("plan-cloud")
    assert cloud is not None and cloud.jurisdiction == "EU"
    spot, reserved = cloud.pools
    assert (spot.nodes_min, spot.nodes_max) == (0, 3)  # 20 GPUs on 8-GPU instances
    assert spot.pricing.model is PricingModel.SPOT and spot.pricing.interruption_rate_per_hour
    assert reserved.pricing.model is PricingModel.RESERVED
    assert reserved.pricing.reserved_gpu_hours_per_month == pytest.approx(16 * 730)
    on_demand = reserved.pricing.usd_per_node_hour / 8
    assert reserved.pricing.reserved_usd_per_gpu_hour == pytest.approx(on_demand * 0.45)
    assert "36 months" in notes[1]


def outcome(name: str, cost: float, jct: float, **extra: Any) -> Outcome:
    figures = {"capacity_cost_usd": cost, "avg_jct_s": jct, "p99_jct_s": jct * 3, "jobs": 100,
               "violations": 0, "partial_gangs": 0, "unfinished": 0, **extra}  # fmt: skip
    return Outcome(Candidate(name), (), figures)


def test_frontier_and_recommendation() -> None:
    base = outcome("current fleet", 1000, 36_000)
    cheap_fast = outcome("more owned", 1500, 7200)
    dominated = outcome("reserve", 2000, 9000)
    luxury = outcome("burst", 5000, 3600)
    broken = outcome("bad", 100, 100, violations=1)
    outcomes = [base, cheap_fast, dominated, luxury, broken]
    assert [o.candidate.name for o in frontier(outcomes)] == [
        "current fleet",
        "more owned",
        "burst",
    ]
    best, reasons = recommend(outcomes, value_usd_per_job_hour=1.0)
    assert best is cheap_fast
    text = " ".join(reasons)
    assert "reserve: dominated" in text and "bad: left out" in text and "-80%" in text
    best, reasons = recommend(outcomes, value_usd_per_job_hour=0.001)
    assert best is base and "keep the current fleet" in reasons[0]
