"""A control plane for the endpoint tests: the memory store, the fake backend at two sites
(an edge site and a cloud one), teams "t" and "u", a model "fraud" of team "t" with two
versions and an alias, and the loops stepped by hand on a clock the test moves. The store: memory or
SQLite."""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Any

from aiplane.backends.fake import FakeCluster
from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.auth import Caller, GlobalRole, TeamRole
from aiplane.core.registry.manifest import Manifest, ManifestEntry
from aiplane.core.registry.records import Alias
from aiplane.core.runs import Run, RunState
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.core.serving.endpoints import LABEL_ENDPOINT, LABEL_SITE
from aiplane.services.registry_types import ModelRegistration
from aiplane.services.scheduling import run_cycle
from aiplane.specs.endpoint import endpoint_from_document
from aiplane.wiring import ControlPlane, open_store
from tests.identities import grant_principal

NOW = 1_800_000_000.0


def pool(name: str, usd: float) -> dict[str, Any]:
    return {
        "name": name,
        "backend": "fake",
        "nodes": 4,
        "node": {"cpus": 8, "memory_gib": 32},
        "pricing": {"model": "owned", "usd_per_node_hour": usd},
    }


FLEET: dict[str, Any] = {
    "sites": [
        {
            "name": "edge",
            "kind": "edge",
            "region": "eu-central",
            "jurisdiction": "EU",
            "latency_ms": {"eu-users": 5, "us-users": 120},
            "pools": [pool("boxes", 0.8)],
        },
        {
            "name": "cloud",
            "kind": "cloud",
            "region": "europe-west4",
            "jurisdiction": "EU",
            "latency_ms": {"eu-users": 30, "us-users": 90},
            "pools": [pool("vms", 0.4)],
        },
    ],
    "teams": [{"name": "t"}, {"name": "u"}],
}


def endpoint_doc(**extra: Any) -> dict[str, Any]:
    return {
        "name": "fraud",
        "team": "t",
        "model": "fraud@production",
        "sites": [{"site": "edge", "min": 1, "max": 3}, {"site": "cloud", "min": 1, "max": 1}],
        "latency_slo_ms": {"eu-users": 20},
        **extra,
    }


class Plane:
    def __init__(self, tmp: Path, database: str = "memory") -> None:
        self.now = NOW
        self.cluster = FakeCluster()
        url = "memory://" if database == "memory" else f"sqlite:///{tmp}/cp.db"
        settings = Settings(home=tmp / "home", database_url=url, catalog_dir=None)
        self.cp = ControlPlane(
            settings=settings,
            store=open_store(url),
            backends=PoolBackends(tmp / "work", factories={"fake": self.cluster.factory()}),
            policy=PriorityBestFit(),
            clock=lambda: self.now,
        )
        self.store = self.cp.store
        self.services = self.cp.services
        self.endpoints = self.services.endpoints
        member, _ = grant_principal(self.services, "alice", teams={"t": TeamRole.MEMBER})
        self.alice = Caller(member)
        viewer, _ = grant_principal(self.services, "vera", teams={"t": TeamRole.VIEWER})
        self.vera = Caller(viewer)
        other, _ = grant_principal(self.services, "bob", teams={"u": TeamRole.MEMBER})
        self.bob = Caller(other)
        admin, _ = grant_principal(self.services, "root", global_role=GlobalRole.ADMIN)
        self.admin = Caller(admin)
        self.services.fleet.apply(self.admin, FLEET, "fleet.yaml")
        self.register(b"version one")
        self.register(b"version two")
        self.alias("production", 1)

    def register(self, blob: bytes) -> None:
        sha = hashlib.sha256(blob).hexdigest()
        self.services.artifacts.append(self.alice, sha, [blob], 0)
        self.services.artifacts.commit(self.alice, sha)
        manifest = Manifest.of([ManifestEntry("model.bin", sha, len(blob))])
        self.services.models.register(self.alice, ModelRegistration("fraud", "t", manifest))

    def alias(self, name: str, version: int) -> None:
        held = self.store.models.get_alias("fraud", name)
        alias = Alias("fraud", name, version, self.now, "alice")
        self.store.models.set_alias(alias, held.version if held else None)

    def apply(self, caller: Caller | None = None, **extra: Any) -> Any:
        spec = endpoint_from_document(endpoint_doc(**extra), "endpoint.yaml")
        return self.endpoints.apply(caller or self.alice, spec)

    def step(self, *, ready: bool = True) -> dict[str, int]:
        """One reconcile, one scheduling cycle, launches, and the fake replicas started
        (and ready, unless told otherwise); then the executor's reconcile."""
        done = self.endpoints.reconcile(self.now)
        fleet = self.cp.fleets.current()
        assert fleet is not None
        run_cycle(self.store, fleet, self.cp.policy, self.now, backends=self.cp.backends)
        self.cp.executor.launch_admitted(self.now)
        for replica in list(self.cluster.replicas.values()):
            if replica.status.value == "starting":
                self.cluster.start(replica.handle)
                if ready:
                    self.cluster.serve(replica.handle)
        self.cp.executor.reconcile(self.now)
        return done

    def live(self, site: str | None = None) -> list[tuple[Any, Run]]:
        """(job, run) of the endpoint's live replicas, optionally at one site."""
        out = []
        for run in self.store.jobs.runs_in_states([s for s in RunState if not s.terminal]):
            job = self.store.jobs.get(run.job_id)
            labels = job.workload.labels
            if LABEL_ENDPOINT in labels and (site is None or labels[LABEL_SITE] == site):
                out.append((job, run))
        return out
