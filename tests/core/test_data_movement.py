"""Input data moved to the site a job runs at: from the cheapest replica, priced once for
placement and metering alike, and named in the explanation."""

from __future__ import annotations

import pytest

from aiplane.core.cost.attempts import attempt_interval, egress
from aiplane.core.data_movement import (
    TRANSFER_GB_PER_HOUR,
    Transfer,
    cheapest_source,
    data_movement,
)
from aiplane.core.fleet import Dataset, Fleet
from aiplane.core.placement import evaluate_offers
from aiplane.core.runs import Job, Placement, ReplicaAssignment, Run, RunState
from aiplane.core.scheduling.explain import why
from aiplane.core.workloads import Constraints, Workload
from tests.builders import fleet, site, workload

# eu holds the primary copy and charges the most to send it; us holds a replica cheaply.
CLICKS_3 = Dataset("clicks", "eu", 100.0, version=3, replicas=("us",))


def three_sites(*datasets: Dataset) -> Fleet:
    return fleet(
        site("eu", egress_usd_per_gb=0.09),
        site("us", egress_usd_per_gb=0.02),
        site("ap", egress_usd_per_gb=0.05),
        datasets=datasets or (CLICKS_3,),
    )


def at(site_name: str, inputs: tuple[str, ...] = ("clicks@3",)) -> Workload:
    return workload(inputs=inputs, constraints=Constraints(sites=(site_name,)))


def test_the_primary_site_is_always_a_replica_and_listed_first() -> None:
    assert Dataset("c", "eu", 1.0).replicas == ("eu",)
    assert Dataset("c", "eu", 1.0, replicas=("us", "eu", "us", "ap")).replicas == (
        "eu",
        "us",
        "ap",
    )


@pytest.mark.parametrize("site_name", ["eu", "us"])
def test_a_job_at_a_site_holding_a_replica_pays_no_egress(site_name: str) -> None:
    offers, _ = evaluate_offers(at(site_name), three_sites())
    [offer] = offers
    assert (offer.cost.egress_usd, offer.cost.transfer_hours) == (0.0, 0.0)
    assert offer.data.transfers == ()
    assert "data_moved" not in offer.describe()


def test_elsewhere_the_cheapest_replica_is_the_source_and_is_named() -> None:
    offers, rejected = evaluate_offers(at("ap"), three_sites())
    [offer] = offers
    # From us at $0.02/GB, not from the primary copy in eu at $0.09/GB.
    assert offer.cost.egress_usd == pytest.approx(100 * 0.02)
    assert offer.cost.transfer_hours == pytest.approx(100 / TRANSFER_GB_PER_HOUR)
    [moved] = offer.data.transfers
    assert (moved.dataset, moved.source, moved.gb) == ("clicks@3", "us", 100.0)
    assert moved.usd == pytest.approx(2.0)
    assert offer.describe()["data_moved"] == [
        {"dataset": "clicks@3", "from": "us", "gb": 100.0, "usd": 2.0}
    ]
    assert "copying clicks@3 from us" in why(offer, rejected, ())


def test_without_the_replica_the_primary_copy_is_the_source() -> None:
    alone = Dataset("clicks", "eu", 100.0, version=3)
    [offer], _ = evaluate_offers(at("ap"), three_sites(alone))
    assert offer.cost.egress_usd == pytest.approx(100 * 0.09)
    assert offer.data.summary() == "clicks@3 from eu"


def test_placement_prefers_a_site_that_holds_a_replica() -> None:
    # Equal compute everywhere: the egress decides, and ap is the only site that pays it.
    offers, _ = evaluate_offers(workload(inputs=("clicks",)), three_sites())
    assert {o.site.name for o in offers[:2]} == {"eu", "us"}
    assert offers[-1].site.name == "ap" and offers[-1].cost.egress_usd > 0


def test_equal_prices_go_to_the_primary_copy_then_the_site_name() -> None:
    f = fleet(
        site("b", egress_usd_per_gb=0.01),
        site("a", egress_usd_per_gb=0.01),
        site("p", egress_usd_per_gb=0.01),
    )
    assert cheapest_source(Dataset("d", "p", 1.0, replicas=("b", "a")), f) == ("p", 0.01)
    g = fleet(
        site("b", egress_usd_per_gb=0.01),
        site("a", egress_usd_per_gb=0.01),
        site("p", egress_usd_per_gb=0.05),
    )
    assert cheapest_source(Dataset("d", "p", 1.0, replicas=("b", "a")), g) == ("a", 0.01)


def test_replicas_at_sites_the_fleet_lacks_are_passed_over() -> None:
    f = fleet(site("eu", egress_usd_per_gb=0.09), site("ap"))
    gone = Dataset("clicks", "eu", 10.0, replicas=("mars",))
    assert cheapest_source(gone, f) == ("eu", 0.09)
    # A dataset with no replica at a known site moves at no price the fleet can name.
    lost = Dataset("clicks", "mars", 10.0)
    assert cheapest_source(lost, f) == ("mars", 0.0)
    assert data_movement(["clicks"], "ap", Fleet(f.sites, datasets=(lost,))).gb == 10.0


def test_inputs_name_versions_and_the_newest_by_default() -> None:
    old = Dataset("clicks", "us", 40.0, version=2)
    f = three_sites(old, CLICKS_3)
    # clicks@2 lies only in us; the bare name and @latest are clicks@3, which ap copies too.
    [moved] = data_movement(["clicks@2"], "eu", f).transfers
    assert moved == Transfer("clicks@2", "us", 40.0, moved.usd)
    assert moved.usd == pytest.approx(40 * 0.02)
    assert data_movement(["clicks@2"], "us", f).transfers == ()
    for ref in ("clicks", "clicks@latest"):
        assert data_movement([ref], "us", f).transfers == ()
        assert data_movement([ref], "ap", f).summary() == "clicks@3 from us"


def test_fleet_dataset_resolves_references() -> None:
    plain = Dataset("clicks", "eu", 1.0)
    two = Dataset("clicks", "eu", 2.0, version=2)
    three = Dataset("clicks", "eu", 3.0, version=3)
    f = Fleet(datasets=(two, plain, three))
    assert f.dataset("clicks@2") is two
    assert f.dataset("clicks") is three
    assert f.dataset("clicks@latest") is three
    assert f.dataset("clicks@4") is None
    assert f.dataset("clicks@gold") is None  # no aliases for fleet datasets
    assert f.dataset("Not A Ref") is None
    assert f.dataset("other") is None
    # Declared without versions, a dataset is found by its name as before.
    assert Fleet(datasets=(plain,)).dataset("clicks") is plain


def test_jurisdiction_follows_the_version_named() -> None:
    eu_only = Dataset("clicks", "eu", 1.0, jurisdiction="EU", version=2)
    anywhere = Dataset("clicks", "eu", 1.0, version=3)
    f = fleet(site("eu", jurisdiction="EU"), site("us"), datasets=(eu_only, anywhere))
    offers, _ = evaluate_offers(workload(inputs=("clicks@2",)), f)
    assert {o.site.name for o in offers} == {"eu"}
    offers, _ = evaluate_offers(workload(inputs=("clicks",)), f)
    assert {o.site.name for o in offers} == {"eu", "us"}


def test_the_estimate_and_the_meter_agree() -> None:
    f = three_sites(CLICKS_3, Dataset("logs", "ap", 30.0))
    w = at("eu", ("clicks@3", "logs"))
    [offer], _ = evaluate_offers(w, f)
    # What placement quoted is what the attempt is billed: logs from ap, clicks already in eu.
    gb, usd = egress(w, "eu", f)
    assert gb == 30.0 and usd == pytest.approx(offer.cost.egress_usd)
    assert offer.data.summary() == "logs from ap"
    placement = Placement(
        pool=offer.pool.key,
        site="eu",
        backend="emulated",
        accelerator="H100-80GB",
        assignments=(ReplicaAssignment(0, f"{offer.pool.key}/0", 8.0),),
        usd_per_hour=offer.cost.usd_per_hour,
        emulated=True,
    )
    run = Run("r", "j", RunState.RUNNING, 0.0, 0.0, placement=placement, started_at=0.0)
    interval = attempt_interval(Job("j", w, 0.0, "u"), run, 3600.0, "succeeded", f)
    assert interval is not None
    assert interval.egress_gb == 30.0 and interval.egress_usd == pytest.approx(30 * 0.05)
    assert interval.egress_usd == pytest.approx(offer.cost.egress_usd)
