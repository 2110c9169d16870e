"""The registry's part of the composition (``wiring.py`` builds the rest): its blob store,
signing keys, policy documents, import sources, and the services the others are built over."""

from __future__ import annotations

import shutil
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path, PurePosixPath
from typing import TYPE_CHECKING, Any

from aiplane.artifacts.base import BlobStore
from aiplane.artifacts.code import WorkdirCodeRefs
from aiplane.artifacts.files import DirectoryTransfers
from aiplane.artifacts.local import LocalBlobStore
from aiplane.config import Settings
from aiplane.core.registry.manifest import Manifest
from aiplane.core.registry.policy import PromotionPolicy, default_policy
from aiplane.core.registry.records import TableSummary
from aiplane.importers.base import ModelSource
from aiplane.services.datasets import DatasetService
from aiplane.services.models import ModelService
from aiplane.services.outputs import OutputRegistrar
from aiplane.services.staging import Pins, Staging
from aiplane.signing.team_keys import TeamKeyring
from aiplane.specs.registry_policy import policy_from_document
from aiplane.tabular.summary import is_tabular, summarize_as

if TYPE_CHECKING:
    from aiplane.wiring import ControlPlane


class SpecPolicyDocuments:
    """The registry's policy-document port (``services.registry_ports.PolicyDocuments``)
    over ``aiplane.specs``."""

    def read(self, document: Mapping[str, Any], source: str) -> PromotionPolicy:
        return policy_from_document(document, source)

    def default(self) -> PromotionPolicy:
        return default_policy()


class MlflowSources:
    """Where imports come from (``services.registry_ports.ModelSources``): MLflow, imported
    when an import is asked for (it is in no default install)."""

    def open(self, uri: str) -> ModelSource:
        from aiplane.importers.mlflow import MlflowSource

        return MlflowSource(uri)


# Bytes per read when a blob is copied to a scratch file to be summarized.
COPY_CHUNK = 1 << 20


class BlobTableSummaries:
    """The schema summaries of a manifest's tabular files
    (``services.registry_ports.TableSummaries``), read from the blob store: a local store's
    blob is read where it lies (a Parquet file's footer only); any other's is streamed in
    chunks to a scratch file first (Parquet needs to seek), one file at a time, removed
    after."""

    def __init__(self, blobs: BlobStore, files: DirectoryTransfers) -> None:
        self._blobs = blobs
        self._files = files

    def summarize(self, manifest: Manifest) -> tuple[TableSummary, ...]:
        out = []
        for entry in manifest.entries:
            if not is_tabular(entry.path):
                continue
            found = self._summary(entry.path, entry.sha256)
            if found is not None:
                out.append(found)
        return tuple(out)

    def _summary(self, name: str, sha256: str) -> TableSummary | None:
        if isinstance(self._blobs, LocalBlobStore):
            return summarize_as(self._blobs.blob_path(sha256), name)
        with self._files.scratch() as folder:
            copy = folder / ("table" + PurePosixPath(name).suffix.lower())
            with self._blobs.open_read(sha256) as source, copy.open("wb") as sink:
                shutil.copyfileobj(source, sink, COPY_CHUNK)
            return summarize_as(copy, name)


def blob_store(settings: Settings) -> BlobStore:
    """The registry's content-addressed store: ``artifacts/`` under the home, or the fsspec
    URL of ``AIPLANE_ARTIFACTS_URL`` with the storage options of
    ``AIPLANE_ARTIFACTS_OPTIONS``."""
    if settings.artifacts_url is None:
        return LocalBlobStore(settings.home / ARTIFACTS_DIR)
    from aiplane.artifacts.fsspec import FsspecBlobStore

    return FsspecBlobStore(settings.artifacts_url, settings.artifacts_options)


ARTIFACTS_DIR = "artifacts"
TEAM_KEYS_DIR = Path("keys") / "teams"


@dataclass(frozen=True)
class RegistryParts:
    """The registry's adapters and the services the others are built over."""

    blobs: BlobStore
    files: DirectoryTransfers
    policies: SpecPolicyDocuments
    models: ModelService
    datasets: DatasetService
    staging: Staging
    pins: Pins
    outputs: OutputRegistrar

    @classmethod
    def build(cls, cp: ControlPlane) -> RegistryParts:
        settings = cp.settings
        blobs = cp.blobs or blob_store(settings)
        files = DirectoryTransfers(blobs, settings.home / "scratch")
        keys = cp.team_keys or TeamKeyring(settings.home / TEAM_KEYS_DIR)
        policies = SpecPolicyDocuments()
        models = ModelService(
            cp.store,
            blobs,
            keys,
            policies,
            WorkdirCodeRefs(),
            cp.clock,
            access=cp.access,
            audit=cp.audit,
        )
        datasets = DatasetService(
            cp.store,
            blobs,
            cp.clock,
            access=cp.access,
            audit=cp.audit,
            artifact_url=blobs.url,
            on_change=cp.fleets.invalidate,
            tables=BlobTableSummaries(blobs, files),
        )
        return cls(
            blobs=blobs,
            files=files,
            policies=policies,
            models=models,
            datasets=datasets,
            staging=Staging(cp.store, files, models, settings.work_root / "staged", cp.clock),
            pins=Pins(cp.store, models),
            outputs=OutputRegistrar(cp.store, models, files, private=(settings.home,)),
        )
