"""Folders on this machine to and from a blob store, as the registry services use them
(``services.registry_ports.ArtifactFiles``)."""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from aiplane.artifacts import transfer
from aiplane.artifacts.base import BlobStore
from aiplane.core.registry.manifest import Manifest


class DirectoryTransfers:
    def __init__(self, store: BlobStore, scratch_root: Path) -> None:
        self._store = store
        self._scratch_root = scratch_root

    @contextmanager
    def scratch(self) -> Iterator[Path]:
        self._scratch_root.mkdir(parents=True, exist_ok=True, mode=0o700)
        folder = Path(tempfile.mkdtemp(dir=self._scratch_root))
        try:
            yield folder
        finally:
            shutil.rmtree(folder, ignore_errors=True)

    def upload_directory(self, directory: Path) -> Manifest:
        return transfer.upload_directory(self._store, directory)

    def download(self, manifest: Manifest, dest: Path) -> None:
        transfer.download(self._store, manifest, dest)

    def scan(self, directory: Path) -> Manifest:
        return transfer.scan(directory)
