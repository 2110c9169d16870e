"""What the registry keeps: models and their versions, aliases and their moves, approvals,
policies, datasets and their versions and replicas, deployments, and team signing keys.

Frozen records, as every core type; the store keeps them, the services make them. Principals
are named by id (``*_by``), as jobs name their submitter.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum
from typing import Any


class Flavor(StrEnum):
    SKLEARN = "sklearn"  # a pickled estimator (joblib or pickle)
    ONNX = "onnx"  # an .onnx graph
    PYTORCH = "pytorch"  # a state dict (.pt, .pth, .bin)
    HUGGINGFACE = "huggingface"  # a directory with config.json and weights
    GENERIC = "generic"  # files aiplane does not interpret


@dataclass(frozen=True)
class RunLineage:
    """The run that made a version: its job, the code (``git:<commit>`` or
    ``sha256:<workdir content hash>``), parameters and image."""

    job_id: str
    code_ref: str | None = None
    parameters: Mapping[str, str] = field(default_factory=dict)
    image: str | None = None


@dataclass(frozen=True)
class ArtifactSignature:
    """A signature over a manifest's canonical bytes (``Manifest.canonical``)."""

    key_id: str
    algorithm: str  # e.g. "ecdsa-p256-sha256"
    signature: str  # hex
    signed_at: float


@dataclass(frozen=True)
class Model:
    name: str
    team: str
    created_at: float
    created_by: str
    description: str = ""
    # Teams that may read this model's protected aliases (``production``) and their versions.
    shared_with: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelVersion:
    model: str
    version: int
    artifact: str  # the manifest's digest, "sha256:<hex>"
    flavor: Flavor
    created_at: float
    created_by: str  # the author: never an approver of its own promotion
    signature: ArtifactSignature | None = None
    io_signature: Mapping[str, Any] = field(default_factory=dict)  # inputs/outputs schema
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    run: RunLineage | None = None
    inputs: tuple[str, ...] = ()  # dataset versions it was made from, "name@N"
    description: str = ""

    @property
    def ref(self) -> str:
        return f"{self.model}@{self.version}"


@dataclass(frozen=True)
class Alias:
    model: str
    name: str
    version: int
    moved_at: float
    moved_by: str


@dataclass(frozen=True)
class AliasMove:
    """One move of an alias: the registry's production history. ``version`` None: removed."""

    model: str
    alias: str
    version: int | None
    previous: int | None
    at: float
    by: str
    approvals: tuple[str, ...] = ()  # approvers' principal ids
    move_id: str = ""  # moves made in one call share it


@dataclass(frozen=True)
class Approval:
    model: str
    version: int
    alias: str  # the alias it approves the version for
    by: str
    at: float
    comment: str = ""


class PolicyScope(StrEnum):
    MODEL = "model"
    TEAM = "team"


@dataclass(frozen=True)
class PolicyRecord:
    """A promotion policy document (``specs/registry_policy.py`` reads it) for one model, or
    for every model of a team; a model's own replaces its team's."""

    scope: PolicyScope
    name: str  # the model's or the team's
    document: Mapping[str, Any]
    revision: int
    updated_at: float
    updated_by: str


@dataclass(frozen=True)
class ColumnSummary:
    name: str
    type: str  # pyarrow's name for it: int64, double, string, timestamp[us], ...


@dataclass(frozen=True)
class TableSummary:
    """The schema of one tabular file of a dataset version."""

    path: str
    columns: tuple[ColumnSummary, ...]
    rows: int


@dataclass(frozen=True)
class Dataset:
    name: str
    team: str
    created_at: float
    created_by: str
    jurisdiction: str | None = None
    description: str = ""


@dataclass(frozen=True)
class Replica:
    """Where a copy of a dataset version's bytes lies: at a site, under a URI (the artifact
    store's, or the URL the data was registered from)."""

    site: str
    uri: str
    added_at: float


@dataclass(frozen=True)
class DatasetVersion:
    dataset: str
    version: int
    artifact: str  # the manifest's digest
    size: int  # bytes
    file_count: int
    created_at: float
    created_by: str
    jurisdiction: str | None = None
    tables: tuple[TableSummary, ...] = ()
    replicas: tuple[Replica, ...] = ()

    @property
    def ref(self) -> str:
        return f"{self.dataset}@{self.version}"


@dataclass(frozen=True)
class Deployment:
    """A model version put into service: by a job now, by an endpoint once serving lands."""

    model: str
    version: int
    target: str  # "job/<id>", "endpoint/<name>"
    at: float
    by: str
    verified: bool  # the signature and the bytes were checked at deployment


@dataclass(frozen=True)
class TeamKey:
    """A team's public signing key, as the registry publishes it."""

    team: str
    key_id: str
    algorithm: str
    public_pem: str
    created_at: float
    revoked_at: float | None = None
