"""Datasets: versions with a content hash, size, file count, table schemas, an owner team, a
jurisdiction and replicas at sites.

Registering the same bytes again gives back the version they are (adding the replica where
it is new). The fleet's ``datasets:`` are a shorthand: ``declare`` registers them at fleet
apply, owned by no team (``FLEET_TEAM``): every principal reads them, as it reads the fleet,
and only a fleet apply changes them.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterable
from dataclasses import replace
from typing import BinaryIO

from aiplane.core.auth import Caller
from aiplane.core.auth.policy import Action, Resource
from aiplane.core.errors import IntegrityError, NotFoundError, Problem, SpecError
from aiplane.core.fleet import Dataset as FleetDataset
from aiplane.core.fleet import Fleet
from aiplane.core.registry.manifest import Manifest
from aiplane.core.registry.records import (
    Dataset,
    DatasetVersion,
    ModelVersion,
    Replica,
)
from aiplane.core.registry.refs import Ref, name_problem, parse_ref
from aiplane.services.access import Access
from aiplane.services.artifacts import open_entry
from aiplane.services.audit import AuditLog
from aiplane.services.registry_ports import Blobs, TableSummaries
from aiplane.services.registry_types import DatasetRegistration, DatasetView
from aiplane.store.base import Repositories, Store

# The owner of the datasets a fleet declares: no team (a name no team may take: not a valid
# name).
FLEET_TEAM = ""
# Where a declared dataset's bytes are: the fleet says where, not what they are.
DECLARED_URI = "declared:"
GB = 1_000_000_000


def resolve_version(repos: Repositories, ref: Ref) -> DatasetVersion:
    if ref.alias is not None:
        raise SpecError(
            "invalid dataset reference",
            [
                Problem(
                    str(ref), "datasets have no aliases", ref.alias, "name, name@N or name@latest"
                )
            ],
        )
    if ref.version is not None:
        return repos.datasets.get_version(ref.name, ref.version)
    latest = repos.datasets.latest_version(ref.name)
    if latest is None:
        raise NotFoundError(f"dataset {ref.name} has no version")
    return latest


def pin_inputs(repos: Repositories, refs: Iterable[str]) -> tuple[str, ...]:
    """Each reference as the version it means now (``name@N``): what lineage records."""
    pinned = []
    problems = []
    for i, text in enumerate(refs):
        try:
            pinned.append(resolve_version(repos, parse_ref(text, f"inputs[{i}]")).ref)
        except NotFoundError as exc:
            problems.append(Problem(f"inputs[{i}]", exc.message, repr(text)))
    if problems:
        raise SpecError("unknown input datasets", problems)
    return tuple(pinned)


def pinned(repos: Repositories, refs: Iterable[str]) -> tuple[str, ...]:
    """Each reference to a registered dataset as the version it means now (``name@N``): a
    queued job keeps the version it was submitted with. Others (of a fleet applied before
    the registry held its datasets) are kept as they are."""
    out = []
    for text in refs:
        try:
            out.append(resolve_version(repos, parse_ref(text, "inputs")).ref)
        except (NotFoundError, SpecError):
            out.append(text)
    return tuple(out)


# The newest versions of each dataset that placement weighs: a job pinned to an older one is
# placed as if it moved nothing (and refused at submission).
PLACEABLE_VERSIONS = 100


def placeable(repos: Repositories) -> list[FleetDataset]:
    """The registry's dataset versions as placement weighs them: size, jurisdiction and the
    sites that hold a replica (those with none are left out: nowhere to read them)."""
    out = []
    for dataset in repos.datasets.listing():
        for version in repos.datasets.versions(dataset.name, limit=PLACEABLE_VERSIONS):
            sites = tuple(dict.fromkeys(r.site for r in version.replicas))
            if not sites:
                continue
            out.append(
                FleetDataset(
                    name=version.dataset,
                    site=sites[0],
                    size_gb=version.size / GB,
                    jurisdiction=version.jurisdiction,
                    content_hash=version.artifact or None,
                    version=version.version,
                    replicas=sites,
                )
            )
    return out


class DatasetService:
    def __init__(
        self,
        store: Store,
        blobs: Blobs,
        clock: Callable[[], float],
        *,
        access: Access,
        audit: AuditLog,
        artifact_url: str = "",
        on_change: Callable[[], None] = lambda: None,
        tables: TableSummaries | None = None,
    ) -> None:
        # The schemas of a version's tabular files, read from the stored bytes when the
        # registration brings none (None: recorded as given).
        self._tables = tables
        # A version or replica added: the fleet view that placement reads is stale.
        self._on_change = on_change
        self._store = store
        self._blobs = blobs
        self._clock = clock
        self._access = access
        self._audit = audit
        self._artifact_url = artifact_url

    def _resource(self, dataset: Dataset) -> Resource:
        return Resource("dataset", dataset.name, team=dataset.team or None)

    def dataset(self, caller: Caller, name: str, action: Action = Action.DATASET_READ) -> Dataset:
        dataset = self._store.datasets.get(name)
        if dataset.team == FLEET_TEAM:
            if action is not Action.DATASET_READ:
                raise SpecError(
                    f"dataset {name} is declared by the fleet",
                    [Problem("name", "changed by a fleet apply only", name)],
                )
            return dataset
        self._access.check(caller, action, self._resource(dataset))
        return dataset

    def listing(self, caller: Caller) -> list[Dataset]:
        teams: Collection[str] | None = self._access.visible_teams(caller)
        every = self._store.datasets.listing()
        return [d for d in every if teams is None or d.team == FLEET_TEAM or d.team in teams]

    def show(self, caller: Caller, name: str) -> DatasetView:
        dataset = self.dataset(caller, name)
        return DatasetView(dataset, self._store.datasets.latest_version(name))

    def versions(
        self, caller: Caller, name: str, *, limit: int = 100, before: int | None = None
    ) -> list[DatasetVersion]:
        self.dataset(caller, name)
        return self._store.datasets.versions(name, limit=limit, before=before)

    def resolve(self, caller: Caller, ref: str) -> DatasetVersion:
        parsed = parse_ref(ref, "ref")
        self.dataset(caller, parsed.name)
        return resolve_version(self._store, parsed)

    def manifest(self, caller: Caller, ref: str) -> tuple[DatasetVersion, Manifest]:
        version = self.resolve(caller, ref)
        if not version.artifact:
            raise NotFoundError(f"dataset {version.ref} is declared by the fleet: no files")
        return version, self._store.artifacts.get_manifest(version.artifact)

    def open_file(
        self, caller: Caller, ref: str, path: str, offset: int = 0
    ) -> tuple[int, str, BinaryIO]:
        """One file of a version: (size, sha256, a stream from ``offset``)."""
        _, manifest = self.manifest(caller, ref)
        return open_entry(self._blobs, manifest, ref, path, offset)

    def register(self, caller: Caller, request: DatasetRegistration) -> DatasetVersion:
        problems = [
            p
            for p in (
                name_problem(request.name, "name"),
                name_problem(request.team, "team"),
                name_problem(request.site, "site"),
            )
            if p is not None
        ]
        if problems:
            raise SpecError("invalid dataset registration", problems)
        self._access.check(
            caller, Action.DATASET_REGISTER, Resource("dataset", request.name, team=request.team)
        )
        try:
            existing: Dataset | None = self._store.datasets.get(request.name)
        except NotFoundError:
            existing = None
        if existing is not None and existing.team != request.team:
            raise SpecError(
                "invalid dataset registration",
                [
                    Problem(
                        "team",
                        f"dataset {request.name} belongs to another team",
                        request.team,
                        existing.team or "the fleet",
                    )
                ],
            )
        uri = request.uri
        if uri is None:
            missing = [e.path for e in request.manifest.entries if not self._blobs.has(e.sha256)]
            if missing:
                raise IntegrityError(
                    f"{len(missing)} file(s) of the manifest are not in the artifact store",
                    [Problem(p, "not uploaded") for p in missing[:50]],
                )
            uri = self._artifact_url or "artifacts:"
        request = self._with_tables(request)
        now = self._clock()
        replica = Replica(request.site, uri, now)
        version = self._store_version(caller, request, existing, replica)
        # After the commit: the next reader of the fleet finds the version or replica that
        # placement weighs (told inside the unit, it could cache the fleet without it).
        self._on_change()
        return version

    def _with_tables(self, request: DatasetRegistration) -> DatasetRegistration:
        """``request`` with the schemas of its tabular files when it brings none and the
        artifact store holds its bytes (before the unit of work: reading them takes a while).
        Not for bytes registered already: that version keeps what it was registered with."""
        if request.tables or request.uri is not None or self._tables is None:
            return request
        if self._store.datasets.by_artifact(request.name, request.manifest.digest) is not None:
            return request
        return replace(request, tables=self._tables.summarize(request.manifest))

    def _store_version(
        self,
        caller: Caller,
        request: DatasetRegistration,
        existing: Dataset | None,
        replica: Replica,
    ) -> DatasetVersion:
        now = replica.added_at
        with self._store.unit_of_work() as uow:
            same = uow.datasets.by_artifact(request.name, request.manifest.digest)
            if same is not None:
                if all(r.site != replica.site for r in same.replicas):
                    uow.datasets.add_replica(request.name, same.version, replica)
                    same = replace(same, replicas=(*same.replicas, replica))
                return same
            if existing is None:
                uow.datasets.add(
                    Dataset(
                        request.name,
                        request.team,
                        now,
                        caller.principal.id,
                        request.jurisdiction,
                        request.description,
                    )
                )
            latest = uow.datasets.latest_version(request.name)
            version = DatasetVersion(
                dataset=request.name,
                version=(latest.version if latest else 0) + 1,
                artifact=request.manifest.digest,
                size=request.manifest.size,
                file_count=request.manifest.file_count,
                created_at=now,
                created_by=caller.principal.id,
                jurisdiction=request.jurisdiction,
                tables=request.tables,
                replicas=(replica,),
            )
            uow.artifacts.put_manifest(request.manifest)
            uow.datasets.add_version(version)
            self._audit.record(
                uow,
                caller,
                str(Action.DATASET_REGISTER),
                f"dataset/{request.name}",
                team=request.team,
                detail={
                    "version": version.version,
                    "artifact": version.artifact,
                    "bytes": version.size,
                    "site": request.site,
                },
            )
        return version

    def add_replica(self, caller: Caller, ref: str, site: str, uri: str) -> DatasetVersion:
        parsed = parse_ref(ref, "ref")
        dataset = self.dataset(caller, parsed.name, Action.DATASET_REGISTER)
        version = resolve_version(self._store, parsed)
        replica = Replica(site, uri, self._clock())
        with self._store.unit_of_work() as uow:
            uow.datasets.add_replica(dataset.name, version.version, replica)
            self._audit.record(
                uow,
                caller,
                "dataset.replica",
                f"dataset/{dataset.name}",
                team=dataset.team,
                detail={"version": version.version, "site": site, "uri": uri},
            )
        self._on_change()
        return self._store.datasets.get_version(dataset.name, version.version)

    def used_by(self, caller: Caller, ref: str) -> list[ModelVersion]:
        """The model versions trained on the dataset version, of the models the caller may
        read."""
        version = self.resolve(caller, ref)
        teams = self._access.visible_teams(caller)
        out = []
        for model_version in self._store.models.trained_on(version.ref):
            model = self._store.models.get(model_version.model)
            if teams is None or model.team in teams:
                out.append(model_version)
        return out

    def declare(self, repos: Repositories, fleet: Fleet, now: float) -> None:
        """Register the fleet's datasets (in the fleet apply's unit of work): a new version
        when the size, sites, jurisdiction or content hash changed; the fleet's own number
        when it gives one."""
        taken = []
        for i, item in enumerate(fleet.datasets):
            try:
                owner = repos.datasets.get(item.name).team
            except NotFoundError:
                repos.datasets.add(Dataset(item.name, FLEET_TEAM, now, "fleet", item.jurisdiction))
                owner = FLEET_TEAM
            if owner != FLEET_TEAM:
                # A team's dataset is changed by its team: the fleet would add versions to it
                # (of bytes aiplane does not hold) that its jobs then read.
                taken.append(
                    Problem(
                        f"datasets[{i}].name",
                        f"dataset {item.name} is registered by team {owner}",
                        item.name,
                        "a name no team has registered",
                    )
                )
                continue
            artifact = item.content_hash or ""
            size = round(item.size_gb * GB)
            sites = item.replicas or (item.site,)
            latest = repos.datasets.latest_version(item.name)
            if item.version is not None:
                try:
                    repos.datasets.get_version(item.name, item.version)
                    continue  # a version is what it was registered as
                except NotFoundError:
                    number = item.version
            elif latest is not None and (
                latest.artifact,
                latest.size,
                latest.jurisdiction,
                tuple(r.site for r in latest.replicas),
            ) == (artifact, size, item.jurisdiction, sites):
                continue
            else:
                number = (latest.version if latest else 0) + 1
            repos.datasets.add_version(
                DatasetVersion(
                    dataset=item.name,
                    version=number,
                    artifact=artifact,
                    size=size,
                    file_count=0,
                    created_at=now,
                    created_by="fleet",
                    jurisdiction=item.jurisdiction,
                    replicas=tuple(Replica(site, DECLARED_URI, now) for site in sites),
                )
            )
        if taken:
            raise SpecError("the fleet declares datasets that teams registered", taken)
