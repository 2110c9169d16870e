"""Imports from another registry (MLflow): models, versions, aliases, metrics and artifacts.

Each source version becomes a version here, in the source's order, with its files uploaded
(and so signed with the team's key at registration like any other), its metrics, parameters
and tags, and tags that say where it came from (``mlflow.name``, ``mlflow.version``,
``mlflow.run_id``). A version imported before is not imported again, so an import can be
rerun after an interruption. Aliases come across on a model this import creates (there is no
history here for a policy to weigh); on a model that was here already they are left where
they are and reported: moving them is a promotion (decision 0046).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from aiplane.core.auth import Caller
from aiplane.core.auth.policy import Action, Resource
from aiplane.core.errors import NotFoundError
from aiplane.core.registry.imports import ImportedModel, ImportedVersion
from aiplane.core.registry.manifest import Manifest
from aiplane.core.registry.records import Alias, AliasMove
from aiplane.importers.base import ModelSource
from aiplane.services.access import Access
from aiplane.services.audit import AuditLog
from aiplane.services.ids import new_id
from aiplane.services.models import ModelService
from aiplane.services.registry_ports import ArtifactFiles, ModelSources
from aiplane.services.registry_types import ModelRegistration
from aiplane.store.base import Store

SOURCE_NAME_TAG = "mlflow.name"
SOURCE_VERSION_TAG = "mlflow.version"
SOURCE_RUN_TAG = "mlflow.run_id"


@dataclass
class ImportReport:
    models: list[str] = field(default_factory=list)
    versions: int = 0
    aliases: int = 0
    skipped: list[str] = field(default_factory=list)


class ImportService:
    def __init__(
        self,
        store: Store,
        models: ModelService,
        sources: ModelSources,
        files: ArtifactFiles,
        clock: Callable[[], float],
        *,
        access: Access,
        audit: AuditLog,
    ) -> None:
        self._store = store
        self._models = models
        self._sources = sources
        self._files = files
        self._clock = clock
        self._access = access
        self._audit = audit

    def from_mlflow(self, caller: Caller, uri: str, team: str) -> ImportReport:
        for action in (Action.MODEL_REGISTER, Action.MODEL_PROMOTE):
            self._access.check(caller, action, Resource("model", team=team))
        source = self._sources.open(uri)
        report = ImportReport()
        for imported in source.models():
            try:
                existing = self._store.models.get(imported.name)
            except NotFoundError:
                existing = None
            if existing is not None and existing.team != team:
                report.skipped.append(
                    f"{imported.source_name}: model {imported.name} belongs to team {existing.team}"
                )
                continue
            before = report.versions
            done = self._versions(caller, source, imported, team, report)
            if report.versions == before and imported.versions:
                report.skipped.append(
                    f"{imported.source_name}: nothing new (its {len(imported.versions)} "
                    f"versions were imported before, as {imported.name})"
                )
            if existing is None:
                self._aliases(caller, imported, team, done, report)
            else:
                self._left(imported, done, report)
            report.models.append(imported.name)
        return report

    def _left(self, imported: ImportedModel, numbers: dict[int, int], report: ImportReport) -> None:
        """Report the source's aliases that a model here already does not hold as the source
        does: moving them is a promotion, left to its policy. One that holds the version
        already (an import run again) is nothing to report."""
        held = {a.name: a.version for a in self._store.models.aliases(imported.name)}
        left = sorted(
            alias
            for alias, source_version in imported.aliases.items()
            if source_version not in numbers or held.get(alias) != numbers[source_version]
        )
        if left:
            report.skipped.append(
                f"{imported.source_name}: aliases {', '.join(left)} not moved: "
                f"{imported.name} was here already (promote them)"
            )

    def _already(self, name: str) -> dict[int, int]:
        """Source version -> version here, of what an earlier import brought."""
        try:
            self._store.models.get(name)
        except NotFoundError:
            return {}
        return {
            int(v.tags[SOURCE_VERSION_TAG]): v.version
            for v in self._models.all_versions(name)
            if v.tags.get(SOURCE_VERSION_TAG, "").isdigit()
        }

    def _versions(
        self,
        caller: Caller,
        source: ModelSource,
        imported: ImportedModel,
        team: str,
        report: ImportReport,
    ) -> dict[int, int]:
        numbers = self._already(imported.name)
        for version in sorted(imported.versions, key=lambda v: v.source_version):
            if version.source_version in numbers:
                continue
            with self._files.scratch() as scratch:
                folder = source.fetch(imported, version, scratch)
                manifest = self._files.upload_directory(folder)
            registered = self._models.register(
                caller, self._request(imported, version, team, manifest)
            )
            numbers[version.source_version] = registered.version
            report.versions += 1
        return numbers

    @staticmethod
    def _request(
        imported: ImportedModel, version: ImportedVersion, team: str, manifest: Manifest
    ) -> ModelRegistration:
        tags = {
            **dict(version.tags),
            SOURCE_NAME_TAG: imported.source_name,
            SOURCE_VERSION_TAG: str(version.source_version),
        }
        if version.run_id:
            tags[SOURCE_RUN_TAG] = version.run_id
        return ModelRegistration(
            name=imported.name,
            team=team,
            manifest=manifest,
            flavor=version.flavor,
            io_signature=version.io_signature,
            metrics=version.metrics,
            params=version.params,
            tags=tags,
            description=version.description or imported.description,
        )

    def _aliases(
        self,
        caller: Caller,
        imported: ImportedModel,
        team: str,
        numbers: dict[int, int],
        report: ImportReport,
    ) -> None:
        now = self._clock()
        move_id = new_id("mv-", now)
        protected = {a for a in imported.aliases if self._models.is_protected(imported.name, a)}
        with self._store.unit_of_work() as uow:
            for alias, source_version in sorted(imported.aliases.items()):
                version = numbers.get(source_version)
                if version is None:
                    report.skipped.append(
                        f"{imported.source_name}: alias {alias} holds version {source_version}, "
                        "which was not imported"
                    )
                    continue
                if alias in protected:
                    report.skipped.append(
                        f"{imported.source_name}: alias {alias} not moved: its policy protects "
                        f"it (approve and promote {imported.name}@{version})"
                    )
                    continue
                uow.models.set_alias(
                    Alias(imported.name, alias, version, now, caller.principal.id), None
                )
                uow.models.add_move(
                    AliasMove(
                        imported.name, alias, version, None, now, caller.principal.id, (), move_id
                    )
                )
                report.aliases += 1
            self._audit.record(
                uow,
                caller,
                "model.import",
                f"model/{imported.name}",
                team=team,
                detail={
                    "source": imported.source_name,
                    "versions": {str(k): v for k, v in sorted(numbers.items())},
                    "aliases": dict(imported.aliases),
                },
            )
