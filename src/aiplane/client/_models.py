from __future__ import annotations

import builtins
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

from aiplane.client._artifacts import Progress, Transfers
from aiplane.client._http import Http
from aiplane.wire.registry import (
    ApprovalOut,
    HistoryOut,
    ImportOut,
    LineageOut,
    ManifestOut,
    ModelList,
    ModelOut,
    ModelVersionOut,
    MoveList,
    MoveOut,
    PolicyOut,
    VerifyOut,
    VersionList,
)


def split_ref(ref: str) -> tuple[str, str]:
    """``name@selector`` (a version number, an alias, ``latest``); a bare name is latest."""
    name, _, selector = ref.partition("@")
    return quote(name, safe=""), quote(selector or "latest", safe="")


class Models:
    """``/models``: registered models, their versions, files, aliases and policies."""

    def __init__(self, http: Http, transfers: Transfers) -> None:
        self._http = http
        self._transfers = transfers

    def register(
        self,
        name: str,
        path: Path,
        *,
        team: str,
        flavor: str | None = None,
        metrics: Mapping[str, float] | None = None,
        params: Mapping[str, str] | None = None,
        tags: Mapping[str, str] | None = None,
        io_signature: Mapping[str, Any] | None = None,
        description: str = "",
        from_run: str | None = None,
        inputs: Sequence[str] = (),
        progress: Progress | None = None,
        hashing: Progress | None = None,
    ) -> ModelVersionOut:
        """Upload the files under ``path`` (only those the server lacks) and register them as
        the next version of ``name``."""
        manifest = self._transfers.upload_directory(path, progress, hashing)
        body = {
            "team": team,
            "manifest": manifest.model_dump(),
            "flavor": flavor,
            "metrics": dict(metrics or {}),
            "params": dict(params or {}),
            "tags": dict(tags or {}),
            "io_signature": dict(io_signature or {}),
            "description": description,
            "from_run": from_run,
            "inputs": list(inputs),
        }
        return self._http.call(
            ModelVersionOut, "POST", f"/models/{quote(name, safe='')}/versions", body=body
        )

    def list(self) -> ModelList:
        return self._http.call(ModelList, "GET", "/models")

    def show(self, name: str) -> ModelOut:
        return self._http.call(ModelOut, "GET", f"/models/{quote(name, safe='')}")

    def versions(self, name: str, limit: int = 100, before: int | None = None) -> VersionList:
        params = {"limit": limit, "before": before}
        return self._http.call(
            VersionList, "GET", f"/models/{quote(name, safe='')}/versions", params=params
        )

    def get(self, ref: str) -> ModelVersionOut:
        """The version ``name@N``, ``name@alias`` or ``name`` means now."""
        name, selector = split_ref(ref)
        return self._http.call(ModelVersionOut, "GET", f"/models/{name}/versions/{selector}")

    def update(
        self, ref: str, tags: Mapping[str, str | None], description: str | None = None
    ) -> ModelVersionOut:
        name, selector = split_ref(ref)
        body = {"tags": dict(tags), "description": description}
        return self._http.call(
            ModelVersionOut, "PATCH", f"/models/{name}/versions/{selector}", body=body
        )

    def manifest(self, ref: str) -> ManifestOut:
        name, selector = split_ref(ref)
        return self._http.call(ManifestOut, "GET", f"/models/{name}/versions/{selector}/manifest")

    def download(self, ref: str, dest: Path, progress: Progress | None = None) -> ManifestOut:
        """Every file of the version into ``dest``, each checked against its digest. The
        version is pinned first, so an alias that moves meanwhile does not mix two."""
        version = self.get(ref)
        pinned = f"{version.model}@{version.version}"
        manifest = self.manifest(pinned)
        name, selector = split_ref(pinned)
        self._transfers.download(
            f"/models/{name}/versions/{selector}/files", manifest, dest, progress
        )
        return manifest

    def verify(self, ref: str) -> VerifyOut:
        name, selector = split_ref(ref)
        return self._http.call(VerifyOut, "GET", f"/models/{name}/versions/{selector}/verify")

    def lineage(self, ref: str) -> LineageOut:
        name, selector = split_ref(ref)
        return self._http.call(LineageOut, "GET", f"/models/{name}/versions/{selector}/lineage")

    def approve(self, ref: str, alias: str, comment: str = "") -> ApprovalOut:
        name, selector = split_ref(ref)
        body = {"alias": alias, "comment": comment}
        return self._http.call(
            ApprovalOut, "POST", f"/models/{name}/versions/{selector}/approvals", body=body
        )

    def approvals(self, ref: str) -> builtins.list[ApprovalOut]:
        name, selector = split_ref(ref)
        return self._http.call_list(
            ApprovalOut, "GET", f"/models/{name}/versions/{selector}/approvals"
        )

    def promote(self, moves: Sequence[tuple[str, str]]) -> builtins.list[MoveOut]:
        """Move each (``name@N``, alias), all or none (an ApiError naming every failed
        rule)."""
        body = {"moves": [{"ref": ref, "alias": alias} for ref, alias in moves]}
        return self._http.call(MoveList, "POST", "/models:promote", body=body).items

    def history(self, name: str, alias: str | None = None, at: float | None = None) -> HistoryOut:
        """Each alias's periods (what it held, since when, moved by whom with which
        approvals); with ``at``, the periods in force then."""
        params = {"alias": alias, "at": at}
        path = f"/models/{quote(name, safe='')}/history"
        return self._http.call(HistoryOut, "GET", path, params=params)

    def policy(self, name: str) -> PolicyOut:
        return self._http.call(PolicyOut, "GET", f"/models/{quote(name, safe='')}/policy")

    def set_policy(
        self, name: str, document: Mapping[str, Any], source: str = "request body"
    ) -> PolicyOut:
        body = {"spec": dict(document), "source": source}
        return self._http.call(
            PolicyOut, "PUT", f"/models/{quote(name, safe='')}/policy", body=body
        )

    def team_policy(self, team: str) -> PolicyOut:
        return self._http.call(PolicyOut, "GET", f"/teams/{quote(team, safe='')}/model-policy")

    def set_team_policy(
        self, team: str, document: Mapping[str, Any], source: str = "request body"
    ) -> PolicyOut:
        body = {"spec": dict(document), "source": source}
        path = f"/teams/{quote(team, safe='')}/model-policy"
        return self._http.call(PolicyOut, "PUT", path, body=body)

    def share(self, name: str, teams: Sequence[str]) -> ModelOut:
        body = {"teams": list(teams)}
        return self._http.call(
            ModelOut, "PUT", f"/models/{quote(name, safe='')}/sharing", body=body
        )

    def import_mlflow(self, uri: str, team: str) -> ImportOut:
        body = {"mlflow_uri": uri, "team": team}
        return self._http.call(ImportOut, "POST", "/models:import", body=body)
