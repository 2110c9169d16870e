from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiplane.client._artifacts import Progress, Transfers
from aiplane.client._http import Http
from aiplane.client._models import split_ref
from aiplane.wire.registry import (
    DatasetList,
    DatasetOut,
    DatasetVersionList,
    DatasetVersionOut,
    LineageOut,
    ManifestOut,
    UsedByOut,
)


class Datasets:
    """``/datasets``: dataset versions, their files, replicas and the models made from them."""

    def __init__(self, http: Http, transfers: Transfers) -> None:
        self._http = http
        self._transfers = transfers

    def register(
        self,
        name: str,
        path: Path,
        *,
        team: str,
        site: str,
        tables: Sequence[dict[str, Any]] = (),
        jurisdiction: str | None = None,
        description: str = "",
        progress: Progress | None = None,
        hashing: Progress | None = None,
    ) -> DatasetVersionOut:
        """Upload the files under ``path`` and register them as a version of ``name`` with a
        replica at ``site`` (the same bytes again: the version they are)."""
        manifest = self._transfers.upload_directory(path, progress, hashing)
        body = {
            "team": team,
            "site": site,
            "manifest": manifest.model_dump(),
            "tables": list(tables),
            "jurisdiction": jurisdiction,
            "description": description,
        }
        return self._http.call(
            DatasetVersionOut, "POST", f"/datasets/{quote(name, safe='')}/versions", body=body
        )

    def list(self) -> DatasetList:
        return self._http.call(DatasetList, "GET", "/datasets")

    def show(self, name: str) -> DatasetOut:
        return self._http.call(DatasetOut, "GET", f"/datasets/{quote(name, safe='')}")

    def versions(self, name: str, limit: int = 100) -> DatasetVersionList:
        path = f"/datasets/{quote(name, safe='')}/versions"
        return self._http.call(DatasetVersionList, "GET", path, params={"limit": limit})

    def get(self, ref: str) -> DatasetVersionOut:
        name, selector = split_ref(ref)
        return self._http.call(DatasetVersionOut, "GET", f"/datasets/{name}/versions/{selector}")

    def manifest(self, ref: str) -> ManifestOut:
        name, selector = split_ref(ref)
        path = f"/datasets/{name}/versions/{selector}/manifest"
        return self._http.call(ManifestOut, "GET", path)

    def download(self, ref: str, dest: Path, progress: Progress | None = None) -> ManifestOut:
        version = self.get(ref)
        pinned = f"{version.dataset}@{version.version}"
        manifest = self.manifest(pinned)
        name, selector = split_ref(pinned)
        self._transfers.download(
            f"/datasets/{name}/versions/{selector}/files", manifest, dest, progress
        )
        return manifest

    def add_replica(self, ref: str, site: str, uri: str) -> DatasetVersionOut:
        name, selector = split_ref(ref)
        path = f"/datasets/{name}/versions/{selector}/replicas"
        return self._http.call(DatasetVersionOut, "POST", path, body={"site": site, "uri": uri})

    def used_by(self, ref: str, alias: str | None = None) -> UsedByOut:
        name, selector = split_ref(ref)
        path = f"/datasets/{name}/versions/{selector}/used-by"
        return self._http.call(UsedByOut, "GET", path, params={"alias": alias})

    def lineage(self, ref: str) -> LineageOut:
        name, selector = split_ref(ref)
        path = f"/datasets/{name}/versions/{selector}/lineage"
        return self._http.call(LineageOut, "GET", path)
