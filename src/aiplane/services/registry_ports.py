"""What the registry services need that is no store: promotion policy documents (whose schema
belongs to ``aiplane.specs``), the content-addressed blobs and the folders moved through them,
what a run's code was, the schemas of tabular files, and where imports come from.
``wiring.py`` hands each an implementation. (Manifest signing is
``signing.base.ManifestSigner``.)"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any, BinaryIO, Protocol

from aiplane.core.registry.manifest import Manifest
from aiplane.core.registry.policy import PromotionPolicy
from aiplane.core.registry.records import TableSummary
from aiplane.importers.base import ModelSource


class PolicyDocuments(Protocol):
    def read(self, document: Mapping[str, Any], source: str) -> PromotionPolicy:
        """A policy from its document: SpecError naming every problem, located in ``source``."""
        ...

    def default(self) -> PromotionPolicy:
        """What a model with no policy of its own or its team's is held to."""
        ...


class Blobs(Protocol):
    """The content-addressed store as the services use it (``artifacts.base.BlobStore``)."""

    def has(self, sha256: str) -> bool: ...

    def size(self, sha256: str) -> int | None: ...

    def open_read(self, sha256: str, offset: int = 0) -> BinaryIO: ...

    def received(self, sha256: str) -> int: ...

    def append(self, sha256: str, chunks: Iterable[bytes], offset: int) -> int: ...

    def commit(self, sha256: str) -> None: ...

    def verify(self, sha256: str) -> str: ...


class CodeRefs(Protocol):
    def code_ref(self, workdir: str | None) -> str | None:
        """``git:<commit>`` of a git working tree, else ``sha256:<content hash>`` of the
        directory; None when there is none to read."""
        ...


class ArtifactFiles(Protocol):
    """Folders of files on the control plane's machine to and from the blob store: what an
    import brings in and what a run is given (``artifacts.transfer``)."""

    def scratch(self) -> AbstractContextManager[Path]:
        """A private empty folder, removed when the block ends."""
        ...

    def upload_directory(self, directory: Path) -> Manifest:
        """Store every file under ``directory`` (only the blobs the store lacks are sent)."""
        ...

    def download(self, manifest: Manifest, dest: Path) -> None:
        """Write the files under ``dest``, each checked against its digest on arrival
        (IntegrityError naming the file); files already there and right are kept."""
        ...

    def scan(self, directory: Path) -> Manifest:
        """The manifest of the files under ``directory`` as they are."""
        ...


class TableSummaries(Protocol):
    """The schema summaries of a manifest's tabular files, read from the blob store
    (``tabular.summary`` over the stored bytes)."""

    def summarize(self, manifest: Manifest) -> tuple[TableSummary, ...]:
        """One summary per Parquet or CSV file of ``manifest``, in its order; a file that
        claims to be tabular and cannot be read is a SpecError naming it. No file is held
        in memory whole."""
        ...


class ModelSources(Protocol):
    def open(self, uri: str) -> ModelSource:
        """The registry at ``uri`` (an MLflow tracking server or folder), to import from."""
        ...
