"""A real control plane for the registry's run tests: SQLite, the local backend running real
processes, the loops stepped by hand; teams' principals, files uploaded through the artifact
service, datasets and models registered as a client would."""

from __future__ import annotations

import hashlib
import time
from pathlib import Path
from typing import Any

from aiplane.artifacts.base import BlobStore
from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.auth import Caller, GlobalRole, TeamRole
from aiplane.core.registry.manifest import Manifest, ManifestEntry
from aiplane.core.registry.records import DatasetVersion
from aiplane.core.runs import Run, RunState
from aiplane.core.scheduling.engine import Engine
from aiplane.services.registry_types import (
    DatasetRegistration,
    ModelRegistration,
    MoveRequest,
)
from aiplane.services.scheduling import run_cycle
from aiplane.specs import workload_from_document
from aiplane.wiring import ControlPlane, open_store
from tests.identities import grant_principal

TEAM = "t"


def site(
    name: str, usd_per_node_hour: float, egress_usd_per_gb: float = 0.0, jurisdiction: str = "EU"
) -> dict[str, Any]:
    return {
        "name": name,
        "kind": "onprem",
        "region": "local",
        "jurisdiction": jurisdiction,
        "egress_usd_per_gb": egress_usd_per_gb,
        "pools": [
            {
                "name": "cpu",
                "backend": "local",
                "nodes": 1,
                "node": {"cpus": 2, "memory_gib": 4},
                "pricing": {"model": "owned", "usd_per_node_hour": usd_per_node_hour},
            }
        ],
    }


def fleet(*sites: dict[str, Any], **extra: Any) -> dict[str, Any]:
    return {"sites": list(sites or (site("here", 0.5),)), "teams": [{"name": TEAM}], **extra}


class Plane:
    def __init__(self, tmp: Path, blobs: BlobStore | None = None) -> None:
        settings = Settings(
            home=tmp / "home", database_url=f"sqlite:///{tmp}/cp.db", catalog_dir=None
        )
        self.cp = ControlPlane(
            settings=settings,
            store=open_store(settings.database_url),
            backends=PoolBackends(tmp / "work"),
            policy=Engine(),
            blobs=blobs,
        )
        self.store = self.cp.store
        self.services = self.cp.services
        principal, _ = grant_principal(self.services, "alice", teams={TEAM: TeamRole.MEMBER})
        self.alice = Caller(principal)
        approver, _ = grant_principal(self.services, "bob", teams={TEAM: TeamRole.APPROVER})
        self.bob = Caller(approver)
        admin, _ = grant_principal(self.services, "root", global_role=GlobalRole.ADMIN)
        self.admin = Caller(admin)

    def apply(self, document: dict[str, Any]) -> None:
        self.services.fleet.apply(self.admin, document, "fleet.yaml")

    def upload(self, files: dict[str, bytes]) -> Manifest:
        """Every file's bytes through the artifact service; the manifest naming them."""
        entries = []
        for path, data in files.items():
            sha = hashlib.sha256(data).hexdigest()
            self.services.artifacts.append(self.alice, sha, [data], 0)
            self.services.artifacts.commit(self.alice, sha)
            entries.append(ManifestEntry(path, sha, len(data)))
        return Manifest.of(entries)

    def dataset(self, name: str, files: dict[str, bytes], *sites: str) -> int:
        numbers = {self.register(name, files, where).version for where in sites}
        (number,) = numbers  # the same bytes at another site: a replica, not a version
        return number

    def register(
        self,
        name: str,
        files: dict[str, bytes],
        where: str = "here",
        jurisdiction: str | None = None,
    ) -> DatasetVersion:
        manifest = self.upload(files)
        registration = DatasetRegistration(name, TEAM, manifest, where, jurisdiction=jurisdiction)
        return self.services.datasets.register(self.alice, registration)

    def production_model(self, name: str, files: dict[str, bytes]) -> int:
        """``name@production``: registered by alice, approved by bob, promoted."""
        version = self.services.models.register(
            self.alice, ModelRegistration(name, TEAM, self.upload(files))
        )
        self.services.promotion.approve(self.bob, version.ref, "production")
        self.services.promotion.promote(self.bob, [MoveRequest(version.ref, "production")])
        return version.version

    def submit(self, **spec: Any) -> str:
        document = {"name": "w", "team": TEAM, "kind": "batch", **spec}
        workload = workload_from_document(document, "w.yaml")
        return self.services.jobs.submit(self.alice, workload).job.id

    def step(self) -> None:
        fleet = self.cp.fleets.current()
        assert fleet is not None
        run_cycle(self.store, fleet, self.cp.policy, time.time())
        self.cp.executor.launch_admitted(time.time())
        self.cp.executor.reconcile(time.time())

    def wait(self, job_id: str, timeout: float = 30) -> Run:
        """The job's run once it ended."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            self.step()
            run = self.store.jobs.run_for_job(job_id)
            if run.state in (RunState.SUCCEEDED, RunState.FAILED, RunState.CANCELLED):
                return run
            time.sleep(0.1)
        raise AssertionError(f"{job_id} stuck in {self.store.jobs.run_for_job(job_id).state}")
