"""What every repository of the memory store shares: the data under one lock, and the undo
journal of the unit of work in progress."""

from __future__ import annotations

import json
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any

from aiplane.core.audit import AuditEntry, AuditHead
from aiplane.core.auth import Principal, TokenRecord
from aiplane.core.errors import StoreError
from aiplane.core.idempotency import IdempotencyRecord
from aiplane.core.runs import RunState
from aiplane.core.serving.routes import RequestCount


def freeze(data: Any) -> str:
    # allow_nan=False: PostgreSQL rejects NaN and infinity in JSON, so every member does.
    return json.dumps(data, allow_nan=False)


def thaw(text: str) -> Any:
    return json.loads(text)


@dataclass
class StoredRun:
    # state, updated_at and revision kept decoded for filtering and compare-and-set;
    # ``text`` is the source of truth
    state: RunState
    job_id: str
    updated_at: float
    revision: int
    text: str


@dataclass(frozen=True)
class StoredEvent:
    id: int
    job_id: str | None
    text: str


@dataclass
class Data:
    lock: threading.RLock = field(default_factory=threading.RLock)
    in_unit: bool = False  # read and written only under ``lock``
    # Principals, tokens and audit entries are immutable values: kept as they are.
    principals: dict[str, Principal] = field(default_factory=dict)  # by id
    tokens: dict[str, TokenRecord] = field(default_factory=dict)  # by hash
    audit: list[AuditEntry] = field(default_factory=list)  # entry n at index n - 1
    audit_head: AuditHead | None = None
    fleets: list[tuple[float, str]] = field(default_factory=list)  # version n at index n - 1
    jobs: dict[str, tuple[str, str]] = field(default_factory=dict)  # id -> (team, job JSON)
    job_ids: list[str] = field(default_factory=list)  # ascending, for keyset paging
    runs: dict[str, StoredRun] = field(default_factory=dict)
    run_of_job: dict[str, str] = field(default_factory=dict)
    events: list[StoredEvent] = field(default_factory=list)
    usage: dict[tuple[str, int], str] = field(default_factory=dict)  # (run, attempt) -> JSON
    alerts: dict[str, str] = field(default_factory=dict)  # key -> JSON, in insertion order
    # (principal id, key) -> record; records are immutable values
    idempotency: dict[tuple[str, str], IdempotencyRecord] = field(default_factory=dict)
    # The registry, as ``store/registry_codec.py`` JSON text (see ``registry.py``).
    models: dict[str, str] = field(default_factory=dict)  # name -> JSON
    model_versions: dict[str, dict[int, str]] = field(default_factory=dict)  # model -> n -> JSON
    aliases: dict[tuple[str, str], str] = field(default_factory=dict)  # (model, alias) -> JSON
    moves: list[str] = field(default_factory=list)  # in the order added
    approvals: dict[tuple[str, int, str, str], str] = field(default_factory=dict)  # added order
    policies: dict[tuple[str, str], str] = field(default_factory=dict)  # (scope, name) -> JSON
    deployments: list[str] = field(default_factory=list)  # in the order added
    datasets: dict[str, str] = field(default_factory=dict)
    # dataset -> n -> (version JSON without replicas, site -> replica JSON)
    dataset_versions: dict[str, dict[int, tuple[str, dict[str, str]]]] = field(default_factory=dict)
    manifests: dict[str, str] = field(default_factory=dict)  # digest -> entries JSON
    keys: dict[str, str] = field(default_factory=dict)  # key id -> JSON, in the order added
    # Endpoints, as ``store/serving_codec.py`` JSON text (see ``serving.py``); their counters
    # are immutable values of plain numbers and strings, kept as they are.
    endpoints: dict[str, str] = field(default_factory=dict)  # name -> JSON
    request_counts: dict[tuple[str, str, str, float], RequestCount] = field(default_factory=dict)


# Undo steps of the unit of work in progress; None for a call on the store itself.
Journal = list[Callable[[], object]] | None


class Repository:
    def __init__(self, data: Data, journal: Journal) -> None:
        self._data = data
        self._journal = journal

    @contextmanager
    def _locked(self) -> Iterator[Data]:
        with self._data.lock:
            if self._journal is None and self._data.in_unit:
                # Only the thread running the unit of work can get here (it holds the lock).
                raise StoreError("inside a unit of work, use its repositories, not the store's")
            yield self._data

    def _undo(self, step: Callable[[], object]) -> None:
        if self._journal is not None:
            self._journal.append(step)
