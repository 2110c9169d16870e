"""The importer protocol: a source registry's models, versions and aliases, and their files.

The import service (``services``) sees this protocol only: it maps what a source lists onto
registry records and registers each version's files, which the source writes under a folder
that the service gives it. A new source (another registry) is a new member.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Protocol

from aiplane.core.registry.imports import ImportedModel, ImportedVersion


class ModelSource(Protocol):
    @property
    def uri(self) -> str:
        """Where the source is, as errors and the audit name it."""
        ...

    def models(self) -> Iterator[ImportedModel]:
        """Every registered model of the source with its versions and aliases, read page by
        page. Raises a located error (naming :attr:`uri`) when the source cannot be read."""
        ...

    def fetch(self, model: ImportedModel, version: ImportedVersion, dest: Path) -> Path:
        """Writes the version's artifact files under ``dest`` (created if absent), streamed
        file by file, never whole in memory; returns the folder that holds them."""
        ...
