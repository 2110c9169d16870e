"""Builders for core objects, so tests state only what matters to them."""

from __future__ import annotations

from typing import Any

from aiplane.core.fleet import (
    Dataset,
    Fleet,
    NodeShape,
    Pool,
    Pricing,
    PricingModel,
    Site,
    SiteKind,
    Team,
)
from aiplane.core.workloads import AcceleratorOption, Constraints, Workload, WorkloadKind


def pool(
    site: str = "s1",
    name: str = "p1",
    accelerator: str | None = "H100-80GB",
    gpus: int = 8,
    nodes: int = 2,
    usd_per_node_hour: float = 8.0,
    model: PricingModel = PricingModel.ON_DEMAND,
    backend: str = "emulated",
    cpus: float = 96,
    memory_gib: float = 1024,
) -> Pool:
    return Pool(
        site=site,
        name=name,
        backend=backend,
        node=NodeShape(accelerator, gpus, cpus, memory_gib),
        nodes_min=nodes,
        nodes_max=nodes,
        pricing=Pricing(model, usd_per_node_hour),
    )


def site(
    name: str = "s1",
    kind: SiteKind = SiteKind.CLOUD,
    jurisdiction: str = "US",
    pools: tuple[Pool, ...] | None = None,
    egress_usd_per_gb: float = 0.0,
    **kwargs: Any,
) -> Site:
    return Site(
        name=name,
        kind=kind,
        region=f"{name}-region",
        jurisdiction=jurisdiction,
        pools=pools if pools is not None else (pool(site=name),),
        egress_usd_per_gb=egress_usd_per_gb,
        **kwargs,
    )


def fleet(*sites: Site, datasets: tuple[Dataset, ...] = (), teams: tuple[Team, ...] = ()) -> Fleet:
    return Fleet(sites=sites or (site(),), teams=teams, datasets=datasets)


def workload(
    name: str = "w",
    gpus: float = 8,
    accelerator: str | None = "H100-80GB",
    replicas: int = 1,
    priority: int = 500,
    team: str = "t",
    **kwargs: Any,
) -> Workload:
    accelerators = (AcceleratorOption(accelerator, gpus),) if accelerator else ()
    constraints = kwargs.pop("constraints", Constraints())
    return Workload(
        name=name,
        team=team,
        kind=kwargs.pop("kind", WorkloadKind.TRAIN),
        run=kwargs.pop("run", "true"),
        replicas=replicas,
        accelerators=kwargs.pop("accelerators", accelerators),
        priority=priority,
        constraints=constraints,
        cpus=kwargs.pop("cpus", 1.0),
        memory_gib=kwargs.pop("memory_gib", 1.0),
        **kwargs,
    )


def local_fleet_document(**extra: Any) -> dict[str, Any]:
    """A fleet document of one small on-prem pool on this machine's local backend (for tests
    that run real work through a control plane); ``extra`` adds top-level keys (budgets...)."""
    return {
        "sites": [
            {
                "name": "here",
                "kind": "onprem",
                "region": "local",
                "jurisdiction": "EU",
                "pools": [
                    {
                        "name": "cpu",
                        "backend": "local",
                        "nodes": 1,
                        "node": {"cpus": 2, "memory_gib": 4},
                        "pricing": {"model": "owned", "usd_per_node_hour": 0.5},
                    }
                ],
            }
        ],
        **extra,
    }
