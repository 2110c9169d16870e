"""What the registry services take and answer with: the request and result types the edges
build and render (like ``services/types.py``, and allowed to the edges like it)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiplane.core.errors import Problem
from aiplane.core.registry.manifest import Manifest
from aiplane.core.registry.policy import PromotionPolicy
from aiplane.core.registry.records import (
    Alias,
    Dataset,
    DatasetVersion,
    Flavor,
    Model,
    ModelVersion,
    PolicyRecord,
    TableSummary,
)


@dataclass(frozen=True)
class ModelRegistration:
    """What ``register`` is asked to store; the files are in the blob store already."""

    name: str
    team: str
    manifest: Manifest
    flavor: Flavor | None = None  # None: told from the files
    io_signature: Mapping[str, Any] = field(default_factory=dict)
    metrics: Mapping[str, float] = field(default_factory=dict)
    params: Mapping[str, str] = field(default_factory=dict)
    tags: Mapping[str, str] = field(default_factory=dict)
    description: str = ""
    from_run: str | None = None  # a job id: its run's lineage is recorded
    inputs: tuple[str, ...] = ()  # dataset references, pinned to versions at registration


@dataclass(frozen=True)
class ModelView:
    model: Model
    aliases: tuple[Alias, ...]
    latest: ModelVersion | None
    version_count: int


@dataclass(frozen=True)
class VersionCheck:
    """What ``verify`` found: the stored bytes against the manifest, the manifest against its
    signature. ``problems`` empty: the bytes are the bytes registered and signed."""

    version: ModelVersion
    manifest: Manifest
    signature: str | None  # why the signature does not hold; None when it does
    problems: tuple[Problem, ...]

    @property
    def ok(self) -> bool:
        return not self.problems


@dataclass(frozen=True)
class MoveRequest:
    ref: str  # the version to point at: name@N, or name@alias (the version it holds now)
    alias: str


@dataclass(frozen=True)
class PolicyInForce:
    policy: PromotionPolicy
    record: PolicyRecord | None  # None: the default policy


@dataclass(frozen=True)
class DatasetRegistration:
    name: str
    team: str
    manifest: Manifest
    site: str
    uri: str | None = None  # None: the artifact store holds the bytes
    tables: tuple[TableSummary, ...] = ()
    jurisdiction: str | None = None
    description: str = ""


@dataclass(frozen=True)
class DatasetView:
    dataset: Dataset
    latest: DatasetVersion | None


@dataclass(frozen=True)
class UploadState:
    sha256: str
    received: int
    complete: bool
