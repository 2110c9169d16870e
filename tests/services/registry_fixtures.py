"""A control plane on SQLite (or a PostgreSQL database of its own) with the registry's default
blob store under its home, principals with roles, a fake clock, and folders of files uploaded
through ``services.artifacts`` and registered through ``services.models``."""

from __future__ import annotations

import hashlib
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.auth import Caller, GlobalRole, TeamRole
from aiplane.core.registry.manifest import Manifest, ManifestEntry
from aiplane.core.registry.records import ModelVersion
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.services.container import Services
from aiplane.services.registry_types import ModelRegistration
from aiplane.specs import workload_from_document
from aiplane.store.base import Store
from aiplane.store.sql import SqlStore
from aiplane.wiring import ControlPlane
from tests.builders import local_fleet_document
from tests.identities import admin_caller, grant_principal

T0 = 1_800_000_000.0
ADMIN = admin_caller("root")


@dataclass
class FakeClock:
    """The control plane's clock: what ``now`` says, moved by the test."""

    now: float = T0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> float:
        self.now += seconds
        return self.now


def sqlite_store(home: Path) -> SqlStore:
    home.mkdir(parents=True, exist_ok=True)
    return SqlStore.open(f"sqlite:///{home / 'aiplane.db'}")


def control_plane(home: Path, store: Store, clock: FakeClock | None = None) -> ControlPlane:
    """A control plane whose registry keeps its blobs in ``artifacts/`` under ``home`` (the
    default store) and its team keys under the home's keyring."""
    settings = Settings(home=home, database_url="sqlite://", catalog_dir=None, artifacts_url=None)
    return ControlPlane(
        settings=settings,
        store=store,
        backends=PoolBackends(home / "work"),
        policy=PriorityBestFit(),
        clock=clock or FakeClock(),
    )


def principal(
    services: Services,
    name: str,
    teams: Mapping[str, TeamRole | str] | None = None,
    global_role: GlobalRole | str | None = None,
) -> Caller:
    """A stored principal with these roles, as a caller of the services."""
    created, _ = grant_principal(services, name, teams=teams, global_role=global_role)
    return Caller(created)


def write_files(folder: Path, files: Mapping[str, bytes]) -> Path:
    for path, data in files.items():
        target = folder / path
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_bytes(data)
    return folder


def upload_folder(services: Services, caller: Caller, folder: Path) -> Manifest:
    """Every file under ``folder`` through ``services.artifacts`` (append, then commit); the
    folder's manifest."""
    entries = []
    for path in sorted(p for p in folder.rglob("*") if p.is_file()):
        data = path.read_bytes()
        sha = hashlib.sha256(data).hexdigest()
        state = services.artifacts.state(caller, sha)
        if not state.complete:
            services.artifacts.append(caller, sha, [data], state.received)
            services.artifacts.commit(caller, sha)
        entries.append(ManifestEntry(path.relative_to(folder).as_posix(), sha, len(data)))
    return Manifest.of(entries)


def register_folder(
    services: Services,
    caller: Caller,
    name: str,
    team: str,
    folder: Path,
    **fields: Any,
) -> ModelVersion:
    """Upload ``folder``'s files and register them as a new version of ``name``."""
    manifest = upload_folder(services, caller, folder)
    return services.models.register(caller, ModelRegistration(name, team, manifest, **fields))


def git_repo(folder: Path, files: Mapping[str, bytes]) -> str:
    """A git repository at ``folder`` with ``files`` committed; its commit."""
    write_files(folder, files)
    env = {
        "GIT_AUTHOR_NAME": "t",
        "GIT_AUTHOR_EMAIL": "t@example.org",
        "GIT_COMMITTER_NAME": "t",
        "GIT_COMMITTER_EMAIL": "t@example.org",
        "HOME": str(folder),
        "PATH": "/usr/bin:/bin",
    }

    def git(*args: str) -> str:
        done = subprocess.run(
            ["git", *args], cwd=folder, env=env, check=True, capture_output=True, text=True
        )
        return done.stdout.strip()

    git("init", "-q")
    git("add", "-A")
    git("commit", "-q", "-m", "train")
    return git("rev-parse", "HEAD")


@dataclass
class Team:
    """Team "t"'s people: an owner, two approvers, two members (authors); a member of
    team "u"; an admin."""

    cp: ControlPlane
    owner: Caller
    approver: Caller
    approver2: Caller
    author: Caller
    member2: Caller
    outsider: Caller
    admin: Caller
    extra: dict[str, Caller] = field(default_factory=dict)

    @property
    def services(self) -> Services:
        return self.cp.services


def team(cp: ControlPlane) -> Team:
    services = cp.services
    services.fleet.apply(ADMIN, local_fleet_document(), "fleet.yaml")
    return Team(
        cp,
        owner=principal(services, "olga", {"t": "owner"}),
        approver=principal(services, "ann", {"t": "approver"}),
        approver2=principal(services, "abe", {"t": "approver"}),
        author=principal(services, "max", {"t": "member"}),
        member2=principal(services, "mia", {"t": "member"}),
        outsider=principal(services, "ugo", {"u": "owner"}),
        admin=principal(services, "ada", global_role="admin"),
    )


def submit_run(services: Services, caller: Caller, workdir: Path, **document: Any) -> str:
    """A job of team "t" submitted through ``services.jobs`` with ``workdir``; its id."""
    spec = {"name": "train", "team": "t", "kind": "batch", "run": "true", **document}
    workload = workload_from_document(spec, "train.yaml", workdir=str(workdir))
    return services.jobs.submit(caller, workload).job.id
