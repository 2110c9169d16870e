"""The fleet: apply a spec, read what is in force and how full it is."""

from __future__ import annotations

from fastapi import APIRouter

from aiplane.api.deps import Authenticated, Svc
from aiplane.api.errors import AUTHENTICATED, responses
from aiplane.api.views import fleet_out
from aiplane.wire.fleet import FleetOut
from aiplane.wire.specs import SpecBody

router = APIRouter(prefix="/fleet", tags=["fleet"], responses=AUTHENTICATED)


@router.put("", response_model=FleetOut, responses=responses(400, 422))
def apply(body: SpecBody, svc: Svc, caller: Authenticated) -> FleetOut:
    return fleet_out(svc.fleet.apply(caller, body.spec, body.source), with_document=False)


@router.get("", response_model=FleetOut, responses=responses(422))
def show(svc: Svc, caller: Authenticated, document: bool = False) -> FleetOut:
    return fleet_out(svc.fleet.show(caller, document=document), with_document=document)
