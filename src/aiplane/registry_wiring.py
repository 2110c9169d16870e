"""The registry's part of the composition (``wiring.py`` builds the rest): its blob store,
signing keys, policy documents, import sources, and the services the others are built over."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aiplane.artifacts.base import BlobStore
from aiplane.artifacts.code import WorkdirCodeRefs
from aiplane.artifacts.files import DirectoryTransfers
from aiplane.artifacts.local import LocalBlobStore
from aiplane.config import Settings
from aiplane.core.registry.policy import PromotionPolicy, default_policy
from aiplane.importers.base import ModelSource
from aiplane.services.datasets import DatasetService
from aiplane.services.models import ModelService
from aiplane.services.outputs import OutputRegistrar
from aiplane.services.staging import Pins, Staging
from aiplane.signing.team_keys import TeamKeyring
from aiplane.specs.registry_policy import policy_from_document

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
        )
        return cls(
            blobs=blobs,
            files=files,
            policies=policies,
            models=models,
            datasets=datasets,
            staging=Staging(cp.store, files, models, settings.work_root / "staged", cp.clock),
            pins=Pins(cp.store, models),
            outputs=OutputRegistrar(cp.store, models, files),
        )
