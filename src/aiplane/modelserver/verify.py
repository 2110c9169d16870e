"""The model folder checked against the version's manifest before anything in it is loaded.

Staging writes the manifest of the version it copied (``AIPLANE_MODEL_MANIFEST``: the
registry's ``{"files": [{"path", "sha256", "size"}]}`` with the model, version, flavour and
artifact digest beside it). Loading a pickle runs its code, so a folder that is not those
bytes (a file changed, missing or added, a link) is refused before it is opened.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from pathlib import Path

from aiplane.core.errors import IntegrityError, Problem, SpecError
from aiplane.core.registry.manifest import Manifest, ManifestEntry, differences

MANIFEST_ENV = "AIPLANE_MODEL_MANIFEST"
_CHUNK = 1 << 20


@dataclass(frozen=True)
class StagedVersion:
    """What staging says it copied: the files, and the version they are."""

    manifest: Manifest
    model: str | None = None
    version: int | None = None
    flavor: str | None = None


def read_manifest(path: Path) -> StagedVersion:
    """The manifest file at ``path``; SpecError naming it when it cannot be read, and
    IntegrityError when its files are not the artifact it names."""
    try:
        data = json.loads(path.read_text())
        manifest = Manifest.from_dict(data)
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise SpecError(
            f"cannot read the model's manifest {path}",
            [Problem(MANIFEST_ENV, str(exc), str(path), "a manifest JSON that staging wrote")],
        ) from exc
    artifact = data.get("artifact")
    if artifact is not None and artifact != manifest.digest:
        raise IntegrityError(
            f"the manifest {path} is not the artifact it names",
            [Problem(str(path), "file list changed", manifest.digest, artifact)],
        )
    version = data.get("version")
    return StagedVersion(
        manifest,
        data.get("model"),
        version if isinstance(version, int) else None,
        data.get("flavor"),
    )


def scan(folder: Path) -> tuple[Manifest, list[Problem]]:
    """The files under ``folder`` as a manifest, and every link found (never followed)."""
    entries = []
    links = []
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder).as_posix()
        if path.is_symlink():
            links.append(Problem(relative, "a link, not a file"))
        elif path.is_file():
            digest = hashlib.sha256()
            with path.open("rb") as f:
                while chunk := f.read(_CHUNK):
                    digest.update(chunk)
            entries.append(ManifestEntry(relative, digest.hexdigest(), path.stat().st_size))
    return Manifest.of(entries), links


def verify(folder: Path, staged: StagedVersion) -> None:
    """IntegrityError naming every file of ``folder`` that is not the manifest's."""
    if not folder.is_dir():
        raise SpecError(
            f"the model folder {folder} does not exist",
            [Problem("--model-dir", "not a folder", str(folder), "the staged model's folder")],
        )
    found, problems = scan(folder)
    problems += [
        Problem(d.path, str(d).removeprefix(f"{d.path}: "))
        for d in differences(staged.manifest, found)
    ]
    if problems:
        raise IntegrityError(
            f"the model in {folder} is not the version registered",
            sorted(problems, key=lambda p: p.location),
        )
