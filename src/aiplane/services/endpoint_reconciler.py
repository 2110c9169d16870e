"""The endpoint reconciler: each pass, every endpoint's replicas brought to what its spec,
its load and its budget ask, site by site and role by role (decision 0058).

Everything it acts on is read from the store each pass (the replicas from their jobs' labels,
drains from their events): only the gateway's loads, autoscaling's ``low_since`` and the last
counts wanted (for showing) are kept in memory, and losing them loses nothing but a scale-down
already under way.
"""

from __future__ import annotations

import hashlib
import json
import logging
import threading
from collections.abc import Callable, Collection, Sequence
from dataclasses import dataclass, replace

from aiplane.backends.base import Backends
from aiplane.core.errors import NotFoundError
from aiplane.core.fleet import Fleet
from aiplane.core.placement import evaluate_offers
from aiplane.core.registry.refs import parse_ref
from aiplane.core.runs import RunState
from aiplane.core.serving.autoscale import bounds, desired
from aiplane.core.serving.caps import ReplicaCap
from aiplane.core.serving.endpoints import (
    LABEL_GENERATION,
    Endpoint,
    EndpointSpec,
    Role,
    SiteReplicas,
)
from aiplane.core.serving.routes import ReplicaLoad
from aiplane.core.workloads import Constraints
from aiplane.services.endpoint_index import ReplicaIndex
from aiplane.services.endpoint_replicas import (
    COMMAND_VERSION,
    Replica,
    cancel,
    drain,
    drained_at,
    newest_first,
    owned,
    replica_workload,
    serving,
    submit,
)
from aiplane.services.fleet import FleetCache
from aiplane.services.models import ModelService
from aiplane.store.base import Store

log = logging.getLogger("aiplane.endpoints")

LABEL_TEMPLATE = "aiplane.endpoint.template"
# A load report older than this is not acted on (the gateway reports every few seconds).
LOAD_TTL_S = 30.0
# After a replica that ended on its own, the next is submitted this long after (doubling).
BACKOFF_FIRST_S = 5.0
BACKOFF_MAX_S = 300.0

Caps = Callable[[Endpoint], ReplicaCap | None]
# Run id -> why the gateway may not route to that replica (``services.model_access``).
Refusals = Callable[[Endpoint, Sequence[Replica]], dict[str, str]]


def site_bounds(spec: EndpointSpec, site: str) -> SiteReplicas:
    """The site's bounds as autoscaling reads them (none where the endpoint does not serve)."""
    found = bounds(spec, site)
    return SiteReplicas(site, *found) if found is not None else SiteReplicas(site, 0, 0)


def template_key(endpoint: Endpoint, site: str, role: Role, version: str, python: str) -> str:
    """A digest of what a replica runs: its workload less its bookkeeping labels."""
    w = replica_workload(endpoint, site, role, version, python)
    labels = {k: v for k, v in w.labels.items() if k != LABEL_GENERATION}
    shape = [
        w.run,
        [(o.name, o.count, o.mig_profile) for o in w.accelerators],
        w.cpus,
        w.memory_gib,
        w.model,
        sorted(w.env.items()),
        sorted(labels.items()),
        w.service.readiness_path if w.service else None,
    ]
    return hashlib.sha256(json.dumps(shape, sort_keys=True).encode()).hexdigest()[:16]


@dataclass(frozen=True)
class Target:
    """One site and role an endpoint should serve from, with the version it serves."""

    site: str
    role: Role
    version: str | None  # None: the reference resolves to nothing now


class EndpointReconciler:
    def __init__(
        self,
        store: Store,
        fleets: FleetCache,
        backends: Backends,
        models: ModelService,
        *,
        python: str,
        caps: Caps,
        wake: Callable[[], None],
        cancel_grace_s: float,
        refusals: Refusals = lambda _endpoint, _replicas: {},
    ) -> None:
        self._store = store
        self._fleets = fleets
        self._backends = backends
        self._models = models
        self._python = python
        self._caps = caps
        self._wake = wake  # the scheduler's: replicas were queued or freed capacity
        self._grace_s = cancel_grace_s
        self._refusals = refusals
        self._index = ReplicaIndex(store)
        self._lock = threading.Lock()
        self._loads: dict[str, ReplicaLoad] = {}  # run id -> the newest load
        self._low_since: dict[tuple[str, str, Role], float | None] = {}
        self._wanted: dict[tuple[str, str, Role], tuple[int, str]] = {}
        # Replicas that ended on their own (a model that fails to stage, a server that
        # exits): (how many in a row, when the last did), so that a broken replica is retried
        # with back-off rather than every pass. Lost on a restart: it is a rate, not state.
        self._failures: dict[tuple[str, str, Role], tuple[int, float]] = {}
        self._tick = threading.Lock()

    def cap(self, endpoint: Endpoint) -> ReplicaCap | None:
        return self._caps(endpoint)

    def wanted(self, endpoint: str, site: str, role: Role) -> tuple[int, str] | None:
        """The count the last pass wanted there, and why (None: no pass yet)."""
        return self._wanted.get((endpoint, site, role))

    def replicas_by_endpoint(self) -> dict[str, list[Replica]]:
        out: dict[str, list[Replica]] = {}
        for replica in self._index.live():
            out.setdefault(replica.endpoint, []).append(replica)
        return out

    # -- reconciling --------------------------------------------------------------------------

    def note_loads(self, loads: Sequence[ReplicaLoad]) -> None:
        """What the gateway saw of each replica (autoscaling reads the newest of each)."""
        with self._lock:
            for load in loads:
                seen = self._loads.get(load.run_id)
                if seen is None or load.at >= seen.at:
                    self._loads[load.run_id] = load

    def reconcile(self, now: float) -> dict[str, int]:
        """One pass over every endpoint: submit the missing replicas, drain the surplus and
        those of an older template or version once their replacements are ready, cancel the
        drained whose grace is over and the replicas of deleted endpoints. Idempotent: each
        pass reads what is there; counts of what it did."""
        with self._tick:
            return self._reconcile(now)

    def _reconcile(self, now: float) -> dict[str, int]:
        done = {"submitted": 0, "drained": 0, "cancelled": 0}
        fleet = self._fleets.current()
        by_endpoint = self.replicas_by_endpoint()
        self._note_failures(now)
        endpoints = {e.name: e for e in self._store.endpoints.listing()}
        for name in set(by_endpoint) - set(endpoints):
            for replica in by_endpoint[name]:
                done["cancelled"] += self.cancel(replica, now, f"endpoint {name} deleted")
        if fleet is not None:
            for endpoint in endpoints.values():
                replicas = owned(endpoint, by_endpoint.get(endpoint.name, []))
                try:
                    self._reconcile_endpoint(endpoint, fleet, replicas, now, done)
                except Exception:  # one endpoint's trouble must not stall the others
                    log.exception("endpoint %s: reconcile failed", endpoint.name)
        self._forget_loads(now, {r.run.id for rs in by_endpoint.values() for r in rs})
        if done["submitted"] or done["cancelled"]:
            self._wake()
        return done

    def _reconcile_endpoint(
        self,
        endpoint: Endpoint,
        fleet: Fleet,
        replicas: list[Replica],
        now: float,
        done: dict[str, int],
    ) -> None:
        cap = self._caps(endpoint)
        targets = self.targets(endpoint, fleet, cap)
        wanted_keys = {(t.site, t.role) for t in targets}
        groups: dict[tuple[str, Role], list[Replica]] = {}
        for replica in replicas:
            groups.setdefault((replica.site, replica.role), []).append(replica)
        for target in targets:
            group = groups.get((target.site, target.role), [])
            self._reconcile_group(endpoint, target, cap, group, now, done)
        for key, group in groups.items():
            if key not in wanted_keys:
                drained = self._finish_drains(endpoint, group, now, done)
                why = f"endpoint {endpoint.name} no longer serves {key[1]} at {key[0]}"
                rest = [r for r in group if r.run.id not in drained]
                self._retire(endpoint, rest, now, why, done)

    def _reconcile_group(
        self,
        endpoint: Endpoint,
        target: Target,
        cap: ReplicaCap | None,
        group: list[Replica],
        now: float,
        done: dict[str, int],
    ) -> None:
        key = (endpoint.name, target.site, target.role)
        drained_ids = self._finish_drains(endpoint, group, now, done)
        serving_now = [r for r in group if r.run.id not in drained_ids]
        if target.version is None:
            # The reference resolves to nothing (its alias removed): keep what serves.
            return
        template = template_key(endpoint, target.site, target.role, target.version, self._python)
        fresh = [r for r in serving_now if r.labels.get(LABEL_TEMPLATE) == template]
        stale = [r for r in serving_now if r.labels.get(LABEL_TEMPLATE) != template]
        wanted, reason = self._wanted_count(endpoint, target, fresh, cap, now)
        self._wanted[key] = (wanted, reason)
        waiting = self._backing_off(key, fresh, now)
        if len(fresh) < wanted and waiting is not None:
            self._wanted[key] = (wanted, waiting)
        elif len(fresh) < wanted:
            workload = replica_workload(
                endpoint, target.site, target.role, target.version, self._python
            )
            workload = replace(workload, labels={**workload.labels, LABEL_TEMPLATE: template})
            for _ in range(wanted - len(fresh)):
                self._index.track(submit(self._store, workload, endpoint.created_by, now, reason))
                done["submitted"] += 1
        elif len(fresh) > wanted:
            surplus = newest_first(fresh)[: len(fresh) - wanted]
            self._retire(endpoint, surplus, now, f"scaled to {wanted}: {reason}", done)
        if stale:
            # A new replica the gateway refuses (its version's alias moved around the policy,
            # its signature broken) takes no traffic: it replaces no old one that still
            # serves (decision 0069). Old ones refused as well are no reason to wait.
            refused = self._refusals(endpoint, [*fresh, *stale])
            if all(r.run.id in refused for r in stale):
                refused = {}
            ready = sum(serving(self._backends, r.run)[1] for r in fresh if r.run.id not in refused)
            # New ones first: the old go once as many new ones are ready as are wanted.
            if ready >= min(wanted, len(fresh)) and len(fresh) >= wanted:
                why = f"replaced by {target.version} (generation {endpoint.generation})"
                self._retire(endpoint, stale, now, why, done)

    def _finish_drains(
        self, endpoint: Endpoint, group: list[Replica], now: float, done: dict[str, int]
    ) -> set[str]:
        """Cancel the drained replicas whose grace is over; the run ids of every drained one."""
        drained = set()
        for replica in group:
            at = drained_at(self._store, replica)
            if at is None:
                continue
            drained.add(replica.run.id)
            if now - at >= endpoint.spec.drain_s:
                done["cancelled"] += self.cancel(replica, now, "drained")
        return drained

    def _note_failures(self, now: float) -> None:
        for job in self._index.ended():
            run = self._store.jobs.run_for_job(job.id)
            if run.state is RunState.CANCELLED:
                continue  # stopped on purpose (by us, or by a person)
            replica = Replica(job, run)
            key = (replica.endpoint, replica.site, replica.role)
            count, _ = self._failures.get(key, (0, now))
            self._failures[key] = (count + 1, now)
            log.warning(
                "replica %s of endpoint %s at %s ended %s (%s)",
                run.id,
                replica.endpoint,
                replica.site,
                run.state,
                run.reason,
            )

    def _backing_off(
        self, key: tuple[str, str, Role], fresh: list[Replica], now: float
    ) -> str | None:
        """Why no replica is submitted now (None: go ahead): after failed replicas, wait
        5 s doubling to 5 min; a fresh replica that is ready clears the count."""
        failed = self._failures.get(key)
        if failed is None:
            return None
        if any(serving(self._backends, r.run)[1] for r in fresh):
            del self._failures[key]
            return None
        count, at = failed
        wait = min(BACKOFF_MAX_S, BACKOFF_FIRST_S * 2 ** (count - 1))
        if now - at >= wait:
            return None
        return f"{count} replica(s) ended on their own: the next in {wait - (now - at):.0f} s"

    def _wanted_count(
        self,
        endpoint: Endpoint,
        target: Target,
        fresh: list[Replica],
        cap: ReplicaCap | None,
        now: float,
    ) -> tuple[int, str]:
        spec = endpoint.spec
        key = (endpoint.name, target.site, target.role)
        with self._lock:
            loads = [self._loads[r.run.id] for r in fresh if r.run.id in self._loads]
            low_since = self._low_since.get(key)
        scale = desired(spec, target.site, len(fresh), loads, now, low_since)
        with self._lock:
            self._low_since[key] = scale.low_since
        wanted, reason = scale.replicas, scale.reason
        bounds = site_bounds(spec, target.site)
        if target.role is not Role.PRIMARY:
            # A second version needs one replica to take its share; autoscaling may add more.
            wanted = max(min(1, bounds.max_replicas), min(wanted, bounds.max_replicas))
        if cap is not None and cap.max_replicas_per_site is not None and wanted > 0:
            capped = max(1, cap.max_replicas_per_site)
            if wanted > capped:
                wanted, reason = capped, cap.reason
        return wanted, reason

    def _retire(
        self,
        endpoint: Endpoint,
        replicas: Sequence[Replica],
        now: float,
        why: str,
        done: dict[str, int],
    ) -> None:
        """Drain each (cancelled when its grace is over, on a later pass); one that never
        started serves nothing and is cancelled at once."""
        for replica in replicas:
            if not replica.run.handles or replica.run.state in (
                RunState.PENDING,
                RunState.PREEMPTED,
            ):
                done["cancelled"] += self.cancel(replica, now, why)
            elif drained_at(self._store, replica) is None:
                drain(self._store, self._backends, replica, now, why)
                done["drained"] += 1
                if endpoint.spec.drain_s <= 0:
                    done["cancelled"] += self.cancel(replica, now, why)

    def cancel(self, replica: Replica, now: float, why: str) -> int:
        return int(
            cancel(
                self._store,
                self._backends,
                self._fleets.current,
                replica,
                now,
                why,
                self._grace_s,
            )
        )

    def _forget_loads(self, now: float, live: Collection[str]) -> None:
        with self._lock:
            for run_id, load in list(self._loads.items()):
                if run_id not in live or now - load.at > LOAD_TTL_S:
                    del self._loads[run_id]

    # -- where and what -------------------------------------------------------------------

    def targets(self, endpoint: Endpoint, fleet: Fleet, cap: ReplicaCap | None) -> list[Target]:
        spec = endpoint.spec
        sites = [s.site for s in spec.sites] or self.placed_sites(endpoint, fleet, cap)
        roles: list[tuple[Role, str | None]] = [(Role.PRIMARY, spec.model)]
        if spec.traffic.canary is not None and spec.traffic.canary_weight > 0:
            roles.append((Role.CANARY, spec.traffic.canary))
        if spec.traffic.shadow is not None and spec.traffic.shadow_weight > 0:
            roles.append((Role.SHADOW, spec.traffic.shadow))
        out = []
        for role, ref in roles:
            version = COMMAND_VERSION if spec.command is not None else self._resolved(ref)
            out += [Target(site, role, version) for site in sites if fleet.site(site)]
        return out

    def _resolved(self, ref: str | None) -> str | None:
        if ref is None:
            return None
        try:
            return self._models.version_of(parse_ref(ref)).ref
        except NotFoundError as exc:
            log.warning("model reference %s: %s", ref, exc.message)
            return None

    def placed_sites(self, endpoint: Endpoint, fleet: Fleet, cap: ReplicaCap | None) -> list[str]:
        """The cheapest sites that meet the SLO for every region the endpoint names and can
        take a replica, as placement ranks their offers; a budget's cap may put some kinds
        of site first."""
        spec = endpoint.spec
        if spec.placement is None:
            return []
        probe = COMMAND_VERSION if spec.command is not None else "x@1"
        workload = replica_workload(endpoint, "", Role.PRIMARY, probe, self._python)
        workload = replace(
            workload, constraints=Constraints(latency_slo_ms=dict(spec.latency_slo_ms))
        )
        offers, _ = evaluate_offers(workload, fleet)
        ranked = list(dict.fromkeys(o.site.name for o in offers))
        if cap is not None and cap.prefer_site_kinds:
            kinds = {s.name: str(s.kind) for s in fleet.sites}
            ranked.sort(key=lambda s: kinds[s] not in cap.prefer_site_kinds)
        return ranked[: spec.placement.sites]
