"""The fleet: apply a spec, read what is in force and how full it is."""

from __future__ import annotations

from fastapi import APIRouter

from aiplane.api.deps import CP, Operator, Viewer
from aiplane.services import fleet as fleet_service
from aiplane.wire.fleet import FleetOut, PoolOut
from aiplane.wire.specs import SpecBody
from aiplane.wiring import local_resolver

router = APIRouter(prefix="/fleet", tags=["fleet"])


def _fleet_out(cp: CP, with_document: bool) -> FleetOut:
    stored = cp.store.fleets.current()
    fleet = cp.fleet_cache.get(cp.store)
    if stored is None or fleet is None:
        return FleetOut(version=None, applied_at=None, pools=[])
    usage = fleet_service.pool_usage(cp.store, fleet)
    pools = []
    for site in fleet.sites:
        for pool in site.pools:
            u = usage[pool.key]
            pools.append(
                PoolOut(
                    site=site.name,
                    site_kind=str(site.kind),
                    jurisdiction=site.jurisdiction,
                    pool=pool.name,
                    backend=pool.backend,
                    emulated=pool.emulated,
                    accelerator=pool.node.accelerator,
                    gpus_per_node=pool.node.gpus,
                    nodes_min=pool.nodes_min,
                    nodes_max=pool.nodes_max,
                    pricing=str(pool.pricing.model),
                    usd_per_node_hour=pool.pricing.usd_per_node_hour,
                    price_source=pool.pricing.source,
                    gpus_used=u.gpus_used,
                    gpus_total=u.gpus_total,
                    active_runs=u.active_runs,
                )
            )
    return FleetOut(
        version=stored.version,
        applied_at=stored.applied_at,
        pools=pools,
        document=dict(stored.document) if with_document else None,
    )


@router.put("", response_model=FleetOut)
def apply(body: SpecBody, cp: CP, _: Operator) -> FleetOut:
    fleet_service.apply_fleet(
        cp.store, body.spec, body.source, cp.clock(), local_resolver(cp.backends)
    )
    cp.fleet_cache.invalidate()
    cp.scheduler.wake()
    return _fleet_out(cp, with_document=False)


@router.get("", response_model=FleetOut)
def show(cp: CP, _: Viewer, document: bool = False) -> FleetOut:
    return _fleet_out(cp, with_document=document)
