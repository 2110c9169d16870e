"""The registry in memory: models (versions, aliases, moves, approvals, policies,
deployments), datasets (versions, replicas) and artifacts (manifests, team keys).

Records are kept as JSON text of ``store/registry_codec.py`` dictionaries and decoded afresh on
every read, as the jobs are, so a value that the SQL member could not keep fails here too.
"""

from __future__ import annotations

from collections.abc import Collection
from typing import Any

from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.core.registry.manifest import Manifest
from aiplane.core.registry.records import (
    Alias,
    AliasMove,
    Approval,
    Dataset,
    DatasetVersion,
    Deployment,
    Model,
    ModelVersion,
    PolicyRecord,
    PolicyScope,
    Replica,
    TeamKey,
)
from aiplane.store import registry_codec as rc
from aiplane.store.memory.data import Data, Repository, freeze, thaw


def _version(text: str) -> ModelVersion:
    return rc.version_from(thaw(text))


def _model_known(d: Data, name: str) -> None:
    if name not in d.models:
        raise NotFoundError(f"model {name} not found")


class Models(Repository):
    def add(self, model: Model) -> None:
        text = freeze(rc.model_to(model))
        with self._locked() as d:
            if model.name in d.models:
                raise ConflictError(f"model {model.name} exists already")
            d.models[model.name] = text
            d.model_versions[model.name] = {}

            def undo() -> None:
                del d.models[model.name], d.model_versions[model.name]

            self._undo(undo)

    def get(self, name: str) -> Model:
        with self._locked() as d:
            text = d.models.get(name)
        if text is None:
            raise NotFoundError(f"model {name} not found")
        return rc.model_from(thaw(text))

    def update(self, model: Model) -> None:
        text = freeze(rc.model_to(model))
        with self._locked() as d:
            old = d.models.get(model.name)
            if old is None:
                raise NotFoundError(f"model {model.name} not found")
            d.models[model.name] = text
            self._undo(lambda: d.models.__setitem__(model.name, old))

    def listing(self, teams: Collection[str] | None = None) -> list[Model]:
        with self._locked() as d:
            texts = [d.models[name] for name in sorted(d.models)]
        models = [rc.model_from(thaw(t)) for t in texts]
        if teams is not None:
            among = frozenset(teams)
            models = [m for m in models if m.team in among]
        return models

    def add_version(self, version: ModelVersion) -> None:
        text = freeze(rc.version_to(version))
        with self._locked() as d:
            _model_known(d, version.model)
            versions = d.model_versions[version.model]
            if version.version in versions:
                raise ConflictError(f"{version.ref} exists already")
            versions[version.version] = text
            self._undo(lambda: versions.pop(version.version))

    def get_version(self, model: str, version: int) -> ModelVersion:
        with self._locked() as d:
            text = d.model_versions.get(model, {}).get(version)
        if text is None:
            raise NotFoundError(f"model version {model}@{version} not found")
        return _version(text)

    def latest_version(self, model: str) -> ModelVersion | None:
        with self._locked() as d:
            versions = d.model_versions.get(model, {})
            text = versions[max(versions)] if versions else None
        return _version(text) if text is not None else None

    def versions(
        self, model: str, *, limit: int = 100, before: int | None = None
    ) -> list[ModelVersion]:
        with self._locked() as d:
            versions = d.model_versions.get(model, {})
            numbers = sorted((n for n in versions if before is None or n < before), reverse=True)
            texts = [versions[n] for n in numbers[: max(limit, 0)]]
        return [_version(t) for t in texts]

    def update_version(self, version: ModelVersion) -> None:
        with self._locked() as d:
            versions = d.model_versions.get(version.model, {})
            old = versions.get(version.version)
            if old is None:
                raise NotFoundError(f"model version {version.ref} not found")
            data = thaw(old)
            # Only what may change; the number, artifact, signature and lineage stay.
            data["tags"] = dict(version.tags)
            data["metrics"] = dict(version.metrics)
            data["description"] = version.description
            versions[version.version] = freeze(data)
            self._undo(lambda: versions.__setitem__(version.version, old))

    def version_count(self) -> int:
        with self._locked() as d:
            return sum(len(v) for v in d.model_versions.values())

    def trained_on(self, dataset_ref: str) -> list[ModelVersion]:
        with self._locked() as d:
            texts = [
                versions[n]
                for model in sorted(d.model_versions)
                for versions in (d.model_versions[model],)
                for n in sorted(versions)
            ]
        found = [_version(t) for t in texts]
        return [v for v in found if dataset_ref in v.inputs]

    def aliases(self, model: str) -> list[Alias]:
        with self._locked() as d:
            texts = [t for (m, _), t in sorted(d.aliases.items()) if m == model]
        return [rc.alias_from(thaw(t)) for t in texts]

    def get_alias(self, model: str, name: str) -> Alias | None:
        with self._locked() as d:
            text = d.aliases.get((model, name))
        return rc.alias_from(thaw(text)) if text is not None else None

    def set_alias(self, alias: Alias, expected: int | None) -> None:
        key = (alias.model, alias.name)
        text = freeze(rc.alias_to(alias))
        with self._locked() as d:
            old = d.aliases.get(key)
            held = thaw(old)["version"] if old is not None else None
            if held != expected:
                raise ConflictError(rc.alias_conflict(alias.model, alias.name, expected, held))
            d.aliases[key] = text
            if old is None:
                self._undo(lambda: d.aliases.pop(key))
            else:
                self._undo(lambda: d.aliases.__setitem__(key, old))

    def delete_alias(self, model: str, name: str, expected: int) -> None:
        key = (model, name)
        with self._locked() as d:
            old = d.aliases.get(key)
            held = thaw(old)["version"] if old is not None else None
            if old is None or held != expected:
                raise ConflictError(rc.alias_conflict(model, name, expected, held))
            del d.aliases[key]
            self._undo(lambda: d.aliases.__setitem__(key, old))

    def add_move(self, move: AliasMove) -> None:
        text = freeze(rc.move_to(move))
        with self._locked() as d:
            d.moves.append(text)
            self._undo(d.moves.pop)

    def moves(
        self, model: str, *, alias: str | None = None, until: float | None = None
    ) -> list[AliasMove]:
        with self._locked() as d:
            texts = list(d.moves)
        found = [
            m
            for m in (rc.move_from(thaw(t)) for t in texts)
            if m.model == model
            and (alias is None or m.alias == alias)
            and (until is None or m.at <= until)
        ]
        return sorted(found, key=lambda m: m.at)  # stable: moves at one time in added order

    def add_approval(self, approval: Approval) -> None:
        key = (approval.model, approval.version, approval.alias, approval.by)
        text = freeze(rc.approval_to(approval))
        with self._locked() as d:
            if key in d.approvals:
                raise ConflictError(
                    f"{approval.by} approved {approval.model}@{approval.version} for "
                    f"{approval.alias} already"
                )
            d.approvals[key] = text
            self._undo(lambda: d.approvals.pop(key))

    def approvals(self, model: str, version: int, alias: str | None = None) -> list[Approval]:
        with self._locked() as d:
            texts = [
                t
                for (m, v, a, _), t in d.approvals.items()
                if m == model and v == version and alias in (None, a)
            ]
        return sorted((rc.approval_from(thaw(t)) for t in texts), key=lambda a: a.at)

    def put_policy(self, policy: PolicyRecord, expected_revision: int | None) -> None:
        key = (str(policy.scope), policy.name)
        text = freeze(rc.policy_to(policy))
        with self._locked() as d:
            old = d.policies.get(key)
            held = thaw(old)["revision"] if old is not None else None
            if held != expected_revision:
                raise ConflictError(
                    rc.policy_conflict(policy.scope, policy.name, expected_revision, held)
                )
            d.policies[key] = text
            if old is None:
                self._undo(lambda: d.policies.pop(key))
            else:
                self._undo(lambda: d.policies.__setitem__(key, old))

    def get_policy(self, scope: PolicyScope, name: str) -> PolicyRecord | None:
        with self._locked() as d:
            text = d.policies.get((str(scope), name))
        return rc.policy_from(thaw(text)) if text is not None else None

    def add_deployment(self, deployment: Deployment) -> None:
        text = freeze(rc.deployment_to(deployment))
        with self._locked() as d:
            d.deployments.append(text)
            self._undo(d.deployments.pop)

    def deployments(self, model: str, version: int | None = None) -> list[Deployment]:
        with self._locked() as d:
            texts = list(d.deployments)
        found = [
            x
            for x in (rc.deployment_from(thaw(t)) for t in texts)
            if x.model == model and version in (None, x.version)
        ]
        return sorted(found, key=lambda x: x.at)


def _dataset_version(entry: tuple[str, dict[str, str]]) -> DatasetVersion:
    text, replicas = entry
    return rc.dataset_version_from(
        thaw(text), [rc.replica_from(thaw(r)) for r in replicas.values()]
    )


class Datasets(Repository):
    def add(self, dataset: Dataset) -> None:
        text = freeze(rc.dataset_to(dataset))
        with self._locked() as d:
            if dataset.name in d.datasets:
                raise ConflictError(f"dataset {dataset.name} exists already")
            d.datasets[dataset.name] = text
            d.dataset_versions[dataset.name] = {}

            def undo() -> None:
                del d.datasets[dataset.name], d.dataset_versions[dataset.name]

            self._undo(undo)

    def get(self, name: str) -> Dataset:
        with self._locked() as d:
            text = d.datasets.get(name)
        if text is None:
            raise NotFoundError(f"dataset {name} not found")
        return rc.dataset_from(thaw(text))

    def listing(self, teams: Collection[str] | None = None) -> list[Dataset]:
        with self._locked() as d:
            texts = [d.datasets[name] for name in sorted(d.datasets)]
        found = [rc.dataset_from(thaw(t)) for t in texts]
        if teams is not None:
            among = frozenset(teams)
            found = [x for x in found if x.team in among]
        return found

    def add_version(self, version: DatasetVersion) -> None:
        text = freeze(rc.dataset_version_to(version))
        replicas = {r.site: freeze(rc.replica_to(r)) for r in version.replicas}
        with self._locked() as d:
            if version.dataset not in d.datasets:
                raise NotFoundError(f"dataset {version.dataset} not found")
            versions = d.dataset_versions[version.dataset]
            if version.version in versions:
                raise ConflictError(f"{version.ref} exists already")
            versions[version.version] = (text, replicas)
            self._undo(lambda: versions.pop(version.version))

    def get_version(self, dataset: str, version: int) -> DatasetVersion:
        with self._locked() as d:
            entry = d.dataset_versions.get(dataset, {}).get(version)
            copied = (entry[0], dict(entry[1])) if entry is not None else None
        if copied is None:
            raise NotFoundError(f"dataset version {dataset}@{version} not found")
        return _dataset_version(copied)

    def latest_version(self, dataset: str) -> DatasetVersion | None:
        found = self.versions(dataset, limit=1)
        return found[0] if found else None

    def versions(
        self, dataset: str, *, limit: int = 100, before: int | None = None
    ) -> list[DatasetVersion]:
        with self._locked() as d:
            versions = d.dataset_versions.get(dataset, {})
            numbers = sorted((n for n in versions if before is None or n < before), reverse=True)
            entries = [(versions[n][0], dict(versions[n][1])) for n in numbers[: max(limit, 0)]]
        return [_dataset_version(e) for e in entries]

    def by_artifact(self, dataset: str, artifact: str) -> DatasetVersion | None:
        with self._locked() as d:
            versions = d.dataset_versions.get(dataset, {})
            entries = [(versions[n][0], dict(versions[n][1])) for n in sorted(versions)]
        matching = [v for v in map(_dataset_version, entries) if v.artifact == artifact]
        return matching[-1] if matching else None

    def add_replica(self, dataset: str, version: int, replica: Replica) -> None:
        text = freeze(rc.replica_to(replica))
        with self._locked() as d:
            entry = d.dataset_versions.get(dataset, {}).get(version)
            if entry is None:
                raise NotFoundError(f"dataset version {dataset}@{version} not found")
            replicas = entry[1]
            old = replicas.get(replica.site)
            replicas[replica.site] = text
            if old is None:
                self._undo(lambda: replicas.pop(replica.site))
            else:
                self._undo(lambda: replicas.__setitem__(replica.site, old))

    def all_latest(self) -> list[DatasetVersion]:
        with self._locked() as d:
            entries = [
                (versions[max(versions)][0], dict(versions[max(versions)][1]))
                for name in sorted(d.dataset_versions)
                for versions in (d.dataset_versions[name],)
                if versions
            ]
        return [_dataset_version(e) for e in entries]


class Artifacts(Repository):
    def put_manifest(self, manifest: Manifest) -> bool:
        digest = manifest.digest
        text = freeze(rc.entries_to(manifest))
        with self._locked() as d:
            if digest in d.manifests:
                return False
            d.manifests[digest] = text
            self._undo(lambda: d.manifests.pop(digest))
        return True

    def get_manifest(self, digest: str) -> Manifest:
        with self._locked() as d:
            text = d.manifests.get(digest)
        if text is None:
            raise NotFoundError(f"artifact {digest} not found")
        entries: list[Any] = thaw(text)
        return rc.entries_from(entries)

    def add_key(self, key: TeamKey) -> None:
        text = freeze(rc.key_to(key))
        with self._locked() as d:
            if key.key_id in d.keys:
                raise ConflictError(f"signing key {key.key_id} exists already")
            d.keys[key.key_id] = text
            self._undo(lambda: d.keys.pop(key.key_id))

    def keys(self, team: str | None = None) -> list[TeamKey]:
        with self._locked() as d:
            texts = list(d.keys.values())
        found = [k for k in (rc.key_from(thaw(t)) for t in texts) if team in (None, k.team)]
        return sorted(found, key=lambda k: (k.created_at, k.key_id))

    def get_key(self, key_id: str) -> TeamKey:
        with self._locked() as d:
            text = d.keys.get(key_id)
        if text is None:
            raise NotFoundError(f"signing key {key_id} not found")
        return rc.key_from(thaw(text))
