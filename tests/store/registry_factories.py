"""Factories for what the registry keeps. As in ``factories.py``, defaults fill every optional
field, so a round trip proves each field is persisted; free-form mappings hold only what JSON
keeps (lists, not tuples)."""

from __future__ import annotations

import hashlib
from dataclasses import replace
from typing import Any

from aiplane.core.registry.manifest import Manifest, ManifestEntry
from aiplane.core.registry.records import (
    Alias,
    AliasMove,
    Approval,
    ArtifactSignature,
    ColumnSummary,
    Dataset,
    DatasetVersion,
    Deployment,
    Flavor,
    Model,
    ModelVersion,
    PolicyRecord,
    PolicyScope,
    Replica,
    RunLineage,
    TableSummary,
    TeamKey,
)

from .factories import T0


def sha(text: str) -> str:
    return hashlib.sha256(text.encode()).hexdigest()


def manifest(n: int = 1) -> Manifest:
    return Manifest.of(
        [
            ManifestEntry("model.onnx", sha(f"weights {n}"), 5_000_000_000 + n),
            ManifestEntry("config/über.json", sha(f"config {n}"), 0),
        ]
    )


def model(name: str = "churn", team: str = "research", **changes: Any) -> Model:
    full = Model(
        name=name,
        team=team,
        created_at=T0,
        created_by="p-alice",
        description="Churn prediction ✓",
        shared_with=("vis", "ops"),
    )
    return replace(full, **changes)


def version(model: str = "churn", n: int = 1, **changes: Any) -> ModelVersion:
    full = ModelVersion(
        model=model,
        version=n,
        artifact=manifest(n).digest,
        flavor=Flavor.ONNX,
        created_at=T0 + n,
        created_by="p-alice",
        signature=ArtifactSignature("k-research-1", "ecdsa-p256-sha256", "ab" * 32, T0 + n),
        io_signature={
            "inputs": [{"name": "x", "type": "float32", "shape": [-1, 4]}],
            "outputs": [{"name": "y", "type": "int64"}],
        },
        metrics={"auc": 0.91, "loss": 0.25, "rows": 1e6},
        params={"lr": "0.01", "depth": "6"},
        tags={"stage": "candidate", "owner": "Grüße"},
        run=RunLineage(
            job_id=f"j{n:010d}",
            code_ref="git:" + "c" * 40,
            parameters={"epochs": "3"},
            image="ghcr.io/acme/train:1.2",
        ),
        inputs=("clicks-eu@3", "dedup-eu@1"),
        description=f"version {n}",
    )
    return replace(full, **changes)


def alias(model: str = "churn", name: str = "production", n: int = 1, **changes: Any) -> Alias:
    return replace(Alias(model, name, n, T0 + 100 + n, "p-bob"), **changes)


def move(
    model: str = "churn",
    alias: str = "production",
    n: int | None = 1,
    previous: int | None = None,
    at: float = T0 + 100,
    **changes: Any,
) -> AliasMove:
    full = AliasMove(
        model=model,
        alias=alias,
        version=n,
        previous=previous,
        at=at,
        by="p-bob",
        approvals=("p-carol", "p-dave"),
        move_id="m-1",
    )
    return replace(full, **changes)


def approval(
    by: str = "p-carol", n: int = 1, alias: str = "production", **changes: Any
) -> Approval:
    full = Approval("churn", n, alias, by, T0 + 50, comment="looks good ✓")
    return replace(full, **changes)


def policy(
    scope: PolicyScope = PolicyScope.MODEL, name: str = "churn", revision: int = 1
) -> PolicyRecord:
    return PolicyRecord(
        scope=scope,
        name=name,
        document={
            "aliases": {"production": {"approvals": 2, "metrics": [{"auc": ">= 0.9"}]}},
            "jurisdictions": ["EU"],
        },
        revision=revision,
        updated_at=T0 + revision,
        updated_by="p-admin",
    )


def deployment(n: int = 1, target: str = "job/j1", at: float = T0 + 200) -> Deployment:
    return Deployment("churn", n, target, at, "p-bob", verified=True)


def dataset(name: str = "clicks-eu", team: str = "research", **changes: Any) -> Dataset:
    full = Dataset(
        name=name,
        team=team,
        created_at=T0,
        created_by="p-alice",
        jurisdiction="EU",
        description="Clicks, EU users",
    )
    return replace(full, **changes)


def replica(site: str = "onprem-fra", uri: str | None = None, at: float = T0) -> Replica:
    return Replica(site, uri or f"s3://data-{site}/clicks", at)


def dataset_version(dataset: str = "clicks-eu", n: int = 1, **changes: Any) -> DatasetVersion:
    full = DatasetVersion(
        dataset=dataset,
        version=n,
        artifact=manifest(100 + n).digest,
        size=12_000_000_000 + n,
        file_count=2,
        created_at=T0 + n,
        created_by="p-alice",
        jurisdiction="EU",
        tables=(
            TableSummary(
                "part-0.parquet",
                (ColumnSummary("user", "string"), ColumnSummary("ts", "timestamp[us]")),
                1_000_000,
            ),
            TableSummary("labels.csv", (ColumnSummary("label", "int64"),), 12),
        ),
        # By site: the order every member returns them in.
        replicas=(replica("gcp-eu-west4"), replica("onprem-fra")),
    )
    return replace(full, **changes)


def key(team: str = "research", n: int = 1, **changes: Any) -> TeamKey:
    full = TeamKey(
        team=team,
        key_id=f"k-{team}-{n}",
        algorithm="ecdsa-p256-sha256",
        public_pem="-----BEGIN PUBLIC KEY-----\nMFkw...\n-----END PUBLIC KEY-----\n",
        created_at=T0 + n,
        revoked_at=T0 + 1000 + n,
    )
    return replace(full, **changes)
