"""The fleet: apply a spec, read what is in force and how full it is."""

from __future__ import annotations

from fastapi import APIRouter

from aiplane.api.deps import Operator, Svc, Viewer
from aiplane.api.errors import AUTHENTICATED
from aiplane.api.views import fleet_out
from aiplane.wire.fleet import FleetOut
from aiplane.wire.specs import SpecBody

router = APIRouter(prefix="/fleet", tags=["fleet"], responses=AUTHENTICATED)


@router.put("", response_model=FleetOut)
def apply(body: SpecBody, svc: Svc, _: Operator) -> FleetOut:
    return fleet_out(svc.fleet.apply(body.spec, body.source), with_document=False)


@router.get("", response_model=FleetOut)
def show(svc: Svc, _: Viewer, document: bool = False) -> FleetOut:
    return fleet_out(svc.fleet.show(), with_document=document)
