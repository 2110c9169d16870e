"""Endpoints: applying, listing, showing and deleting them, and keeping their replicas.

:class:`EndpointService` is what ``/api/v1/endpoints`` and ``aiplane endpoints`` call (each
method takes the caller and asks the policy first), and what the endpoint loop calls each tick
(:meth:`EndpointService.reconcile`). An endpoint's replicas are jobs of kind serve, one per
replica (decision 0058): the reconciler submits the missing ones and drains and cancels the
surplus; the scheduler places them and the cost engine meters them like any other run.
"""

from __future__ import annotations

import logging
import math
import sys
from collections.abc import Callable, Sequence
from dataclasses import replace

from aiplane.backends.base import Backends
from aiplane.core.auth import Action, Caller, Resource
from aiplane.core.errors import NotFoundError, Problem, SpecError
from aiplane.core.events import Event
from aiplane.core.feasibility import infeasibility
from aiplane.core.registry.refs import parse_ref
from aiplane.core.serving.endpoints import Endpoint, EndpointSpec, Role
from aiplane.core.serving.routes import ReplicaLoad
from aiplane.services.access import Access
from aiplane.services.audit import AuditLog
from aiplane.services.endpoint_reconciler import Caps, EndpointReconciler, site_bounds
from aiplane.services.endpoint_replicas import (
    COMMAND_VERSION,
    Replica,
    cancel,
    drained_at,
    owned,
    replica_workload,
    serving,
)
from aiplane.services.endpoint_types import EndpointView, ReplicaView, SiteRoleView
from aiplane.services.fleet import FleetCache
from aiplane.services.model_access import ModelAccessGuard
from aiplane.services.models import ModelService
from aiplane.services.scope import readable_teams
from aiplane.store.base import Store

log = logging.getLogger("aiplane.endpoints")

EVENTS_SHOWN = 50  # the newest events of an endpoint that ``show`` returns


class EndpointService:
    def __init__(
        self,
        store: Store,
        fleets: FleetCache,
        backends: Backends,
        models: ModelService,
        clock: Callable[[], float],
        *,
        access: Access,
        audit: AuditLog,
        python: str = sys.executable,
        caps: Caps = lambda _endpoint: None,
        wake: Callable[[], None] = lambda: None,
        applied: Callable[[], None] = lambda: None,
        cancel_grace_s: float = 5.0,
    ) -> None:
        self._store = store
        self._fleets = fleets
        self._backends = backends
        self._models = models
        self._clock = clock
        self._access = access
        self._audit = audit
        self._python = python
        self._wake = wake  # the scheduler's: a delete freed capacity
        self._applied = applied  # the endpoint loop's: act on a new spec now, not in 2 s
        self._grace_s = cancel_grace_s
        self._model_access = ModelAccessGuard(store, models, audit, clock)
        self._reconciler = EndpointReconciler(
            store,
            fleets,
            backends,
            models,
            python=python,
            caps=caps,
            wake=wake,
            cancel_grace_s=cancel_grace_s,
            refusals=self._model_access.refusals,
        )

    @property
    def backends(self) -> Backends:
        return self._backends

    def refusals(self, endpoint: Endpoint, replicas: Sequence[Replica]) -> dict[str, str]:
        """Run id -> why the gateway may not route to that replica of ``endpoint``: its
        model version's signature does not verify, or its alias moved around the policy."""
        return self._model_access.refusals(endpoint, replicas)

    # -- the edges' use cases ---------------------------------------------------------------

    def apply(self, caller: Caller, spec: EndpointSpec) -> EndpointView:
        """Create the endpoint, or replace its spec (its generation goes up by one when the
        spec changed; applying the same spec again changes nothing). Checked first: the
        caller may manage the team's endpoints, the fleet knows the team and the sites, the
        model references resolve to versions the caller and the team may read, and a
        replica fits some pool of each site."""
        resource = Resource("endpoint", spec.name, team=spec.team)
        self._access.check(caller, Action.ENDPOINT_APPLY, resource)
        existing = self._store.endpoints.find(spec.name)
        if existing is not None and existing.team != spec.team:
            self._access.check(
                caller,
                Action.ENDPOINT_APPLY,
                Resource("endpoint", spec.name, team=existing.team),
            )
            raise SpecError(
                f"endpoint {spec.name!r} belongs to team {existing.team}",
                [
                    Problem(
                        "team",
                        "an endpoint does not move between teams",
                        spec.team,
                        f"{existing.team}, or another endpoint name",
                    )
                ],
            )
        self._check(caller, spec)
        now = self._clock()
        if existing is not None and existing.spec == spec:
            return self._view(existing)
        if existing is None:
            endpoint = Endpoint(spec, now, now, caller.name)
            expected = None
        else:
            endpoint = replace(
                existing, spec=spec, updated_at=now, generation=existing.generation + 1
            )
            expected = existing.generation
        with self._store.unit_of_work() as uow:
            uow.endpoints.put(endpoint, expected)
            uow.events.add(
                Event(
                    now,
                    "endpoint.applied",
                    f"endpoint {spec.name} applied by {caller.name} "
                    f"(generation {endpoint.generation})",
                    data={"endpoint": spec.name, "generation": endpoint.generation},
                )
            )
            self._audit.record(
                uow,
                caller,
                str(Action.ENDPOINT_APPLY),
                f"endpoint/{spec.name}",
                team=spec.team,
                detail={"generation": endpoint.generation},
            )
        self._applied()
        return self._view(endpoint)

    def listing(self, caller: Caller, team: str | None = None) -> list[EndpointView]:
        teams = readable_teams(self._access, caller, Action.ENDPOINT_READ, team)
        if teams is not None and not teams:
            return []
        by_endpoint = self._replicas_by_endpoint()
        return [
            self._view(e, owned(e, by_endpoint.get(e.name, [])), events=False)
            for e in self._store.endpoints.listing(teams)
        ]

    def show(self, caller: Caller, name: str) -> EndpointView:
        endpoint = self._endpoint(caller, Action.ENDPOINT_READ, name)
        return self._view(endpoint)

    def delete(self, caller: Caller, name: str) -> None:
        """Delete the endpoint and cancel its replicas (its counters stay)."""
        endpoint = self._endpoint(caller, Action.ENDPOINT_DELETE, name)
        now = self._clock()
        with self._store.unit_of_work() as uow:
            uow.endpoints.delete(name)
            uow.events.add(
                Event(
                    now,
                    "endpoint.deleted",
                    f"endpoint {name} deleted by {caller.name}",
                    data={"endpoint": name},
                )
            )
            self._audit.record(
                uow, caller, str(Action.ENDPOINT_DELETE), f"endpoint/{name}", team=endpoint.team
            )
        for replica in owned(endpoint, self._replicas_by_endpoint().get(name, [])):
            cancel(
                self._store,
                self._backends,
                self._fleets.current,
                replica,
                now,
                f"endpoint {name} deleted",
                self._grace_s,
            )
        self._wake()

    def _endpoint(self, caller: Caller, action: Action, name: str) -> Endpoint:
        endpoint = self._store.endpoints.get(name)
        self._access.check(caller, action, Resource("endpoint", name, team=endpoint.team))
        return endpoint

    # -- what apply checks ------------------------------------------------------------------

    def _check(self, caller: Caller, spec: EndpointSpec) -> None:
        fleet = self._fleets.current()
        if fleet is None:
            raise SpecError(
                f"endpoint {spec.name!r} cannot be applied: no fleet is applied yet",
                [
                    Problem(
                        "fleet",
                        "none applied yet, so no site could serve it",
                        None,
                        "a fleet, applied with: aiplane fleet apply FILE",
                    )
                ],
            )
        problems: list[Problem] = []
        if fleet.teams and fleet.team(spec.team) is None:
            known = ", ".join(t.name for t in fleet.teams)
            problems.append(Problem("team", "unknown team", repr(spec.team), known))
        known_sites = ", ".join(s.name for s in fleet.sites) or "none declared"
        for i, named in enumerate(spec.sites):
            if fleet.site(named.site) is None:
                problems.append(
                    Problem(f"sites[{i}].site", "unknown site", repr(named.site), known_sites)
                )
        refs = {
            "model": spec.model,
            "traffic.canary.version": spec.traffic.canary,
            "traffic.shadow.version": spec.traffic.shadow,
        }
        for location, ref in refs.items():
            if ref is not None:
                problems += self._model_problems(caller, spec, location, ref)
        if problems:
            raise SpecError(f"endpoint {spec.name!r} does not fit the fleet", problems)
        endpoint = Endpoint(spec, 0.0, 0.0, caller.name)
        probe = COMMAND_VERSION if spec.command is not None else "x@1"
        if spec.placement is not None and not self._reconciler.placed_sites(endpoint, fleet, None):
            regions = ", ".join(f"{r} {ms:g} ms" for r, ms in spec.latency_slo_ms.items())
            raise SpecError(
                f"endpoint {spec.name!r} has nowhere to serve",
                [
                    Problem(
                        "placement",
                        "no site of the fleet meets the SLO and takes a replica",
                        regions or None,
                        "an SLO some site meets, or named sites",
                    )
                ],
            )
        for i, named in enumerate(spec.sites):
            workload = replica_workload(endpoint, named.site, Role.PRIMARY, probe, self._python)
            found = infeasibility(workload, fleet)
            problems += [
                Problem(f"sites[{i}]", f"{p.location}: {p.message}", p.given, p.allowed)
                for p in found
            ]
        if problems:
            raise SpecError(f"endpoint {spec.name!r} can never run on this fleet", problems)

    def _model_problems(
        self, caller: Caller, spec: EndpointSpec, location: str, ref: str
    ) -> list[Problem]:
        allowed = f"a version of a model team {spec.team} may read"
        try:
            self._models.resolve(caller, ref)
        except NotFoundError as exc:
            return [Problem(location, exc.message, repr(ref), allowed)]
        model = self._store.models.get(parse_ref(ref).name)
        if model.team != spec.team and spec.team not in model.shared_with:
            return [
                Problem(
                    location,
                    f"model of team {model.team}, not shared with {spec.team}",
                    repr(ref),
                    allowed,
                )
            ]
        return []

    # -- reconciling (the endpoint loop's) ------------------------------------------------

    def note_loads(self, loads: Sequence[ReplicaLoad]) -> None:
        """What the gateway saw of each replica (autoscaling reads the newest of each)."""
        self._reconciler.note_loads(loads)

    def reconcile(self, now: float) -> dict[str, int]:
        """One pass of :class:`~aiplane.services.endpoint_reconciler.EndpointReconciler`."""
        return self._reconciler.reconcile(now)

    # -- views ------------------------------------------------------------------------------

    def _replicas_by_endpoint(self) -> dict[str, list[Replica]]:
        return self._reconciler.replicas_by_endpoint()

    def replicas(self) -> dict[str, list[Replica]]:
        """Every live replica, by endpoint (the gateway's table reads them)."""
        return self._replicas_by_endpoint()

    def _view(
        self, endpoint: Endpoint, replicas: list[Replica] | None = None, *, events: bool = True
    ) -> EndpointView:
        if replicas is None:
            replicas = owned(endpoint, self._replicas_by_endpoint().get(endpoint.name, []))
        fleet = self._fleets.current()
        reconciler = self._reconciler
        targets = reconciler.targets(endpoint, fleet, reconciler.cap(endpoint)) if fleet else []
        keys = [(t.site, t.role, t.version) for t in targets]
        seen = {(t.site, t.role) for t in targets}
        keys += sorted({(r.site, r.role, None) for r in replicas if (r.site, r.role) not in seen})
        refused = self.refusals(endpoint, replicas)
        sites = []
        for site, role, version in keys:
            group = [r for r in replicas if (r.site, r.role) == (site, role)]
            bounds = site_bounds(endpoint.spec, site)
            wanted, reason = reconciler.wanted(endpoint.name, site, role) or (
                bounds.min_replicas if version else 0,
                "",
            )
            sites.append(
                SiteRoleView(
                    site,
                    role,
                    version,
                    wanted,
                    tuple(self._replica(r, refused.get(r.run.id)) for r in group),
                    reason,
                )
            )
        problem = ""
        if endpoint.spec.placement is not None and fleet is not None and not targets:
            problem = "no site meets the endpoint's latency SLO and takes a replica"
        shown: tuple[Event, ...] = ()
        if events:
            recent = self._store.events.recent(limit=1000)
            # Oldest first, as the store answers: the newest of them kept.
            shown = tuple(e for e in recent if e.data.get("endpoint") == endpoint.name)[
                -EVENTS_SHOWN:
            ]
        return EndpointView(endpoint, tuple(sites), shown, problem)

    def _replica(self, replica: Replica, refused: str | None = None) -> ReplicaView:
        run = replica.run
        address, ready = serving(self._backends, run)
        draining = drained_at(self._store, replica) is not None
        placement = run.placement
        return ReplicaView(
            job_id=replica.job.id,
            run_id=run.id,
            state=run.state,
            version=replica.version,
            generation=replica.generation,
            pool=placement.pool if placement else None,
            address=address,
            ready=ready and not draining,
            draining=draining,
            usd_per_hour=per_replica_usd(placement.usd_per_hour, len(placement.assignments))
            if placement
            else 0.0,
            refused=refused,
        )


def per_replica_usd(usd_per_hour: float, replicas: int) -> float:
    """A placement's price per replica (a replica's job places one, but a placement may hold
    several)."""
    return usd_per_hour / max(1, replicas) if math.isfinite(usd_per_hour) else 0.0
