"""Registered models: versions with their manifests, signatures and lineage, aliases, files.

Every method takes the caller and asks the policy first. A model of a team the caller is not
in is answered as one that does not exist, unless its owner shares it with one of the caller's
teams: then the versions its protected aliases (``production``) hold may be read, through the
alias, and nothing else. Each registration records its audit entry in the unit of work that
stores it. Alias moves are :mod:`aiplane.services.promotion`'s.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Iterator, Mapping
from dataclasses import replace
from typing import BinaryIO

from aiplane.core.auth import Caller
from aiplane.core.auth.policy import Action, Resource
from aiplane.core.errors import ConflictError, IntegrityError, NotFoundError, Problem, SpecError
from aiplane.core.registry.flavors import detect_flavor
from aiplane.core.registry.manifest import Manifest, differences
from aiplane.core.registry.records import (
    Model,
    ModelVersion,
    RunLineage,
    TeamKey,
)
from aiplane.core.registry.refs import Ref, name_problem, parse_ref
from aiplane.core.secrets_env import secret_reason
from aiplane.services.access import Access
from aiplane.services.artifacts import open_entry
from aiplane.services.audit import AuditLog
from aiplane.services.datasets import pin_inputs
from aiplane.services.policies import policy_in_force
from aiplane.services.registry_ports import Blobs, CodeRefs, PolicyDocuments
from aiplane.services.registry_types import ModelRegistration, ModelView, VersionCheck
from aiplane.signing.base import ManifestSigner
from aiplane.store.base import Store

# Registrations that race for a version number: the loser takes the next one, this many times.
_NUMBER_TRIES = 8
MAX_VERSIONS_PAGE = 1000


class ModelService:
    def __init__(
        self,
        store: Store,
        blobs: Blobs,
        signing: ManifestSigner,
        policies: PolicyDocuments,
        code_refs: CodeRefs,
        clock: Callable[[], float],
        *,
        access: Access,
        audit: AuditLog,
    ) -> None:
        self._store = store
        self._blobs = blobs
        self._signing = signing
        self._policies = policies
        self._code_refs = code_refs
        self._clock = clock
        self._access = access
        self._audit = audit
        self._published: set[str] = set()  # key ids known to be in the store

    # -- reading ------------------------------------------------------------------------------

    def model(self, caller: Caller, name: str, action: Action = Action.MODEL_READ) -> Model:
        """The model once ``action`` is allowed on it (else a refusal, audited)."""
        model = self._store.models.get(name)
        self._access.check(caller, action, Resource("model", model.name, team=model.team))
        return model

    def _shared(self, caller: Caller, model: Model) -> bool:
        return bool(set(caller.teams()) & set(model.shared_with))

    def listing(self, caller: Caller) -> list[Model]:
        """The models of the caller's teams (every model for operators and admins)."""
        teams: Collection[str] | None = self._access.visible_teams(caller)
        return self._store.models.listing(teams)

    def summaries(self, caller: Caller) -> list[ModelView]:
        """:meth:`listing` with each model's aliases and newest version."""
        return [self._view(m) for m in self.listing(caller)]

    def _view(self, model: Model) -> ModelView:
        latest = self._store.models.latest_version(model.name)
        return ModelView(
            model,
            tuple(self._store.models.aliases(model.name)),
            latest,
            latest.version if latest is not None else 0,
        )

    def held_by(self, version: ModelVersion) -> tuple[str, ...]:
        """The aliases that hold ``version`` now (of a version the caller resolved)."""
        return tuple(
            a.name
            for a in self._store.models.aliases(version.model)
            if a.version == version.version
        )

    def is_protected(self, name: str, alias: str) -> bool:
        """Whether the policy in force for the model protects ``alias``."""
        model = self._store.models.get(name)
        return policy_in_force(self._policies, self._store, model).is_protected(alias)

    def names(self, principal_ids: Collection[str]) -> dict[str, str]:
        """Principal ids as names, for showing who did what (an id no longer known as
        itself)."""
        out = {}
        for principal_id in set(principal_ids):
            try:
                out[principal_id] = self._store.principals.get(principal_id).name
            except NotFoundError:
                out[principal_id] = principal_id
        return out

    def show(self, caller: Caller, name: str) -> ModelView:
        return self._view(self.model(caller, name))

    def versions(
        self, caller: Caller, name: str, *, limit: int = 100, before: int | None = None
    ) -> list[ModelVersion]:
        if not 1 <= limit <= MAX_VERSIONS_PAGE:
            raise SpecError(
                "invalid page",
                [Problem("limit", "out of range", str(limit), f"1 to {MAX_VERSIONS_PAGE}")],
            )
        self.model(caller, name)
        return self._store.models.versions(name, limit=limit, before=before)

    def resolve(self, caller: Caller, ref: str | Ref) -> ModelVersion:
        """``name@N``, ``name@alias`` or ``name``/``name@latest`` as the version it means now:
        the gateway's hot path, three keyed reads."""
        parsed = parse_ref(ref, "ref") if isinstance(ref, str) else ref
        model = self._store.models.get(parsed.name)
        decision = self._access.decide(
            caller, Action.MODEL_READ, Resource("model", model.name, team=model.team)
        )
        if not decision.allowed:
            shared_alias = (
                parsed.alias is not None
                and self._shared(caller, model)
                and policy_in_force(self._policies, self._store, model).is_protected(parsed.alias)
            )
            if not shared_alias:
                self._access.check(
                    caller, Action.MODEL_READ, Resource("model", model.name, team=model.team)
                )
        return self.version_of(parsed)

    def version_of(self, ref: Ref) -> ModelVersion:
        """The version ``ref`` means now, with no access check (the control plane's own
        reads: a queued job's model, pinned when it was submitted)."""
        models = self._store.models
        if ref.version is not None:
            return models.get_version(ref.name, ref.version)
        if ref.alias is not None:
            alias = models.get_alias(ref.name, ref.alias)
            if alias is None:
                raise NotFoundError(f"model {ref.name} has no alias {ref.alias!r}")
            return models.get_version(ref.name, alias.version)
        latest = models.latest_version(ref.name)
        if latest is None:
            raise NotFoundError(f"model {ref.name} has no version yet")
        return latest

    def manifest(self, caller: Caller, ref: str) -> tuple[ModelVersion, Manifest]:
        version = self.resolve(caller, ref)
        return version, self._store.artifacts.get_manifest(version.artifact)

    def open_file(
        self, caller: Caller, ref: str, path: str, offset: int = 0
    ) -> tuple[int, str, BinaryIO]:
        """One file of a version: (size, sha256, a stream from ``offset``)."""
        _, manifest = self.manifest(caller, ref)
        return open_entry(self._blobs, manifest, ref, path, offset)

    def verify(self, caller: Caller, ref: str) -> VersionCheck:
        """Re-hash every stored file and check the signature; name what differs."""
        version, manifest = self.manifest(caller, ref)
        return self.check(version, manifest)

    def check(
        self, version: ModelVersion, manifest: Manifest, *, rehash: bool = True
    ) -> VersionCheck:
        """The manifest against the version and its signature; with ``rehash``, every stored
        file against its digest too (reading every byte: a deployment's check, ``verify``)."""
        problems: list[Problem] = []
        if manifest.digest != version.artifact:
            problems.append(
                Problem(
                    "manifest",
                    "the stored manifest is not the one registered",
                    manifest.digest,
                    version.artifact,
                )
            )
        for entry in manifest.entries:
            if self._blobs.size(entry.sha256) is None:
                problems.append(Problem(entry.path, "missing from the artifact store"))
                continue
            if not rehash:
                continue
            found = self._blobs.verify(entry.sha256)
            if found != entry.sha256:
                problems.append(
                    Problem(entry.path, "changed in the artifact store", found, entry.sha256)
                )
        why = self._signature_problem(version, manifest)
        if why is not None:
            problems.append(Problem("signature", why))
        return VersionCheck(version, manifest, why, tuple(problems))

    def _signature_problem(self, version: ModelVersion, manifest: Manifest) -> str | None:
        signature = version.signature
        if signature is None:
            return "the version is not signed"
        try:
            key = self._store.artifacts.get_key(signature.key_id)
        except NotFoundError:
            return f"signed with an unknown key {signature.key_id}"
        if key.revoked_at is not None and key.revoked_at <= signature.signed_at:
            return f"signed with key {key.key_id}, revoked before it signed"
        model = self._store.models.get(version.model)
        if key.team != model.team:
            return f"signed with a key of team {key.team!r}, not of {model.team!r}"
        verdict = self._signing.verify(manifest, signature, key.public_pem)
        return None if verdict.valid else verdict.message

    def files_differ(self, version: ModelVersion, found: Manifest) -> list[Problem]:
        """The files of a copy (a deployment's) that are not the registered ones."""
        registered = self._store.artifacts.get_manifest(version.artifact)
        return [Problem(d.path, str(d)) for d in differences(registered, found)]

    # -- writing ------------------------------------------------------------------------------

    def register(self, caller: Caller, request: ModelRegistration) -> ModelVersion:
        """Store a new version (and the model, the first time): numbered after the newest,
        signed with the team's key, its lineage from ``from_run`` and its inputs pinned."""
        problems = [
            p
            for p in (name_problem(request.name, "name"), name_problem(request.team, "team"))
            if p is not None
        ]
        if problems:
            raise SpecError("invalid model registration", problems)
        self._access.check(
            caller, Action.MODEL_REGISTER, Resource("model", request.name, team=request.team)
        )
        existing = self._existing(request.name)
        if existing is not None and existing.team != request.team:
            raise self._taken(caller, existing, request.team)
        missing = [e.path for e in request.manifest.entries if not self._blobs.has(e.sha256)]
        if missing:
            raise IntegrityError(
                f"{len(missing)} file(s) of the manifest are not in the artifact store: upload "
                "them first",
                [Problem(path, "not uploaded") for path in missing[:50]],
            )
        now = self._clock()
        run = self._lineage(caller, request)
        inputs = pin_inputs(self._store, request.inputs or self._run_inputs(run))
        signature = self._signing.sign(request.team, request.manifest, now)
        key = self._signing.public_key(request.team)
        version = ModelVersion(
            model=request.name,
            version=0,
            artifact=request.manifest.digest,
            flavor=request.flavor or detect_flavor(request.manifest),
            created_at=now,
            created_by=caller.principal.id,
            signature=signature,
            io_signature=dict(request.io_signature),
            metrics=dict(request.metrics),
            params=dict(request.params),
            tags=dict(request.tags),
            run=run,
            inputs=inputs,
            description=request.description,
        )
        model = existing or Model(request.name, request.team, now, caller.principal.id)
        for _ in range(_NUMBER_TRIES):
            try:
                return self._store_version(caller, model, existing is None, version, request, key)
            except ConflictError:
                existing = self._existing(request.name)
                if existing is None:
                    raise
                if existing.team != request.team:
                    raise self._taken(caller, existing, request.team) from None
                model = existing
        raise ConflictError(f"model {request.name}: too many registrations at once; retry")

    def _taken(self, caller: Caller, existing: Model, team: str) -> ConflictError:
        """Model names are global, so the name is refused either way; whose it is, only to
        one who may read that team's models (to others a hidden model is not found, and its
        team is no less hidden here)."""
        resource = Resource("model", existing.name, team=existing.team)
        if self._access.decide(caller, Action.MODEL_READ, resource).allowed:
            return ConflictError(
                f"model {existing.name} belongs to team {existing.team}, not {team}"
            )
        return ConflictError(
            f"model name {existing.name} is taken by a team you are not in: choose another name"
        )

    def _existing(self, name: str) -> Model | None:
        try:
            return self._store.models.get(name)
        except NotFoundError:
            return None

    def _store_version(
        self,
        caller: Caller,
        model: Model,
        new_model: bool,
        version: ModelVersion,
        request: ModelRegistration,
        key: TeamKey,
    ) -> ModelVersion:
        with self._store.unit_of_work() as uow:
            if key.key_id not in self._published:
                try:
                    uow.artifacts.get_key(key.key_id)
                except NotFoundError:
                    uow.artifacts.add_key(key)
            uow.artifacts.put_manifest(request.manifest)
            if new_model:
                uow.models.add(model)
            latest = uow.models.latest_version(model.name)
            numbered = replace(version, version=(latest.version if latest else 0) + 1)
            uow.models.add_version(numbered)
            self._audit.record(
                uow,
                caller,
                str(Action.MODEL_REGISTER),
                f"model/{model.name}",
                team=model.team,
                detail={
                    "version": numbered.version,
                    "artifact": numbered.artifact,
                    "files": request.manifest.file_count,
                    "bytes": request.manifest.size,
                    "key": key.key_id,
                    "run": numbered.run.job_id if numbered.run else None,
                    "inputs": list(numbered.inputs),
                },
            )
        self._published.add(key.key_id)
        return numbered

    def _lineage(self, caller: Caller, request: ModelRegistration) -> RunLineage | None:
        """The run's lineage: the job's code, parameters and inputs. A workload's own token
        names its own job (or none: then its own is taken)."""
        job_id = request.from_run
        if caller.scope is not None:
            if job_id not in (None, caller.scope.job_id):
                raise SpecError(
                    "invalid model registration",
                    [
                        Problem(
                            "from_run",
                            "a workload registers its own run only",
                            job_id,
                            caller.scope.job_id,
                        )
                    ],
                )
            job_id = caller.scope.job_id
        if job_id is None:
            return None
        job = self._store.jobs.get(job_id)
        self._access.check(caller, Action.JOB_READ, Resource("job", job.id, team=job.workload.team))
        workload = job.workload
        parameters = {k: v for k, v in sorted(workload.env.items()) if secret_reason(k) is None}
        return RunLineage(
            job_id=job.id,
            code_ref=self._code_refs.code_ref(workload.workdir),
            parameters=parameters,
            image=workload.labels.get("image"),
        )

    def _run_inputs(self, run: RunLineage | None) -> tuple[str, ...]:
        if run is None:
            return ()
        return self._store.jobs.get(run.job_id).workload.inputs

    def update_version(
        self,
        caller: Caller,
        ref: str,
        *,
        tags: Mapping[str, str | None] | None = None,
        description: str | None = None,
    ) -> ModelVersion:
        """Set (or, with None, remove) tags, and the description. Number, bytes, signature
        and lineage never change."""
        parsed = parse_ref(ref, "ref")
        model = self.model(caller, parsed.name, Action.MODEL_UPDATE)
        version = self.version_of(parsed)
        merged = dict(version.tags)
        for key, value in (tags or {}).items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        updated = replace(
            version,
            tags=merged,
            description=version.description if description is None else description,
        )
        with self._store.unit_of_work() as uow:
            uow.models.update_version(updated)
            self._audit.record(
                uow,
                caller,
                str(Action.MODEL_UPDATE),
                f"model/{model.name}",
                team=model.team,
                detail={
                    "version": version.version,
                    "tags": dict(tags or {}),
                    "description": description,
                },
            )
        return updated

    def share(self, caller: Caller, name: str, teams: Collection[str]) -> Model:
        """Let ``teams`` read the versions the model's protected aliases hold."""
        model = self.model(caller, name, Action.MODEL_SHARE)
        problems = [p for i, t in enumerate(teams) if (p := name_problem(t, f"teams[{i}]"))]
        if problems:
            raise SpecError("invalid sharing", problems)
        shared = replace(model, shared_with=tuple(sorted(set(teams) - {model.team})))
        with self._store.unit_of_work() as uow:
            uow.models.update(shared)
            self._audit.record(
                uow,
                caller,
                str(Action.MODEL_SHARE),
                f"model/{model.name}",
                team=model.team,
                detail={"shared_with": list(shared.shared_with)},
            )
        return shared

    def all_versions(self, name: str) -> Iterator[ModelVersion]:
        """Every version of a model, newest first, a page at a time (lineage, imports)."""
        before: int | None = None
        while True:
            page = self._store.models.versions(name, limit=MAX_VERSIONS_PAGE, before=before)
            yield from page
            if len(page) < MAX_VERSIONS_PAGE:
                return
            before = page[-1].version
