"""Registering, reading and verifying model versions through the services, on a real control
plane over SQLite with the default blob store under its home."""

from __future__ import annotations

import hashlib
import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import update

from aiplane.artifacts.code import WorkdirCodeRefs
from aiplane.artifacts.local import LocalBlobStore
from aiplane.core.errors import (
    ConflictError,
    IntegrityError,
    NotFoundError,
    PermissionDeniedError,
)
from aiplane.core.registry.manifest import Manifest, ManifestEntry
from aiplane.core.registry.records import Flavor
from aiplane.registry_wiring import ARTIFACTS_DIR
from aiplane.services.registry_types import DatasetRegistration, ModelRegistration
from aiplane.store.sql import SqlStore
from aiplane.store.sql.registry_tables import ArtifactManifestRow, TeamKeyRow
from aiplane.store.sql.tables import table_of
from tests.services.registry_fixtures import (
    Team,
    control_plane,
    git_repo,
    principal,
    register_folder,
    sqlite_store,
    submit_run,
    team,
    upload_folder,
    write_files,
)

MANIFESTS = table_of(ArtifactManifestRow)
KEYS = table_of(TeamKeyRow)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    store = sqlite_store(tmp_path / "home")
    yield store
    store.close()


@pytest.fixture
def t(tmp_path: Path, store: SqlStore) -> Team:
    return team(control_plane(tmp_path / "home", store))


def blob_files(home: Path) -> list[Path]:
    """The committed blobs of the default store under the home."""
    root = home / "artifacts"
    return [p for p in root.rglob("*") if p.is_file() and len(p.name) == 64]


def test_versions_are_numbered_and_identical_files_stored_once(t: Team, tmp_path: Path) -> None:
    folder = write_files(tmp_path / "m", {"model.onnx": b"graph-1", "README": b"same words"})
    v1 = register_folder(t.services, t.author, "churn", "t", folder)
    write_files(folder, {"model.onnx": b"graph-2"})
    v2 = register_folder(t.services, t.author, "churn", "t", folder)
    v3 = register_folder(t.services, t.author, "churn", "t", folder)
    assert [v1.version, v2.version, v3.version] == [1, 2, 3]
    assert v2.artifact == v3.artifact != v1.artifact
    # Three files' worth of distinct bytes: graph-1, graph-2, and the README held by all three.
    names = sorted(p.name for p in blob_files(tmp_path / "home"))
    wanted = sorted(hashlib.sha256(b).hexdigest() for b in (b"graph-1", b"graph-2", b"same words"))
    assert names == wanted
    assert v1.flavor is Flavor.ONNX
    assert v1.signature is not None
    assert t.services.models.resolve(t.author, "churn").version == 3
    assert t.services.models.resolve(t.author, "churn@2").artifact == v2.artifact


@pytest.mark.parametrize(
    ("files", "flavor"),
    [
        ({"model.pkl": b"x"}, Flavor.SKLEARN),
        ({"weights.pt": b"x"}, Flavor.PYTORCH),
        ({"config.json": b"{}", "model.safetensors": b"x"}, Flavor.HUGGINGFACE),
        ({"notes.txt": b"x"}, Flavor.GENERIC),
    ],
)
def test_flavour_is_detected(
    t: Team, tmp_path: Path, files: dict[str, bytes], flavor: Flavor
) -> None:
    folder = write_files(tmp_path / "m", files)
    assert register_folder(t.services, t.author, "m", "t", folder).flavor is flavor


def test_a_file_not_uploaded_is_an_integrity_error_naming_it(t: Team, tmp_path: Path) -> None:
    folder = write_files(tmp_path / "m", {"a.bin": b"a"})
    manifest = upload_folder(t.services, t.author, folder)
    ghost = hashlib.sha256(b"never sent").hexdigest()
    both = Manifest.of([*manifest.entries, ManifestEntry("ghost.bin", ghost, 10)])
    with pytest.raises(IntegrityError) as raised:
        t.services.models.register(t.author, ModelRegistration("m", "t", both))
    assert [p.location for p in raised.value.problems] == ["ghost.bin"]
    with pytest.raises(NotFoundError):
        t.services.models.resolve(t.author, "m")


def test_a_model_of_another_team_is_refused(t: Team, tmp_path: Path) -> None:
    folder = write_files(tmp_path / "m", {"a.bin": b"a"})
    register_folder(t.services, t.author, "m", "t", folder)
    manifest = upload_folder(t.services, t.outsider, folder)
    # Team u's owner may register in u, not a new version of t's model under u's name; the
    # name is taken, and the team that holds it is not told to one who may not see it.
    with pytest.raises(ConflictError) as taken:
        t.services.models.register(t.outsider, ModelRegistration("m", "u", manifest))
    assert "taken" in str(taken.value)
    assert "team t" not in str(taken.value)
    # One who sees both teams is told whose it is.
    both = principal(t.services, "bea", {"t": "member", "u": "member"})
    with pytest.raises(ConflictError, match="belongs to team t"):
        t.services.models.register(both, ModelRegistration("m", "u", manifest))
    # ...nor in team t, which it is not in (hidden: answered as a team it cannot see).
    with pytest.raises((NotFoundError, PermissionDeniedError)):
        t.services.models.register(t.outsider, ModelRegistration("m", "t", manifest))
    assert t.services.models.resolve(t.author, "m").version == 1


def test_lineage_from_a_run_in_a_git_repository(t: Team, tmp_path: Path) -> None:
    data = write_files(tmp_path / "d", {"part-0.csv": b"a,b\n1,2\n"})
    manifest = upload_folder(t.services, t.author, data)
    t.services.datasets.register(t.author, DatasetRegistration("clicks", "t", manifest, "here"))
    # A new dataset version does not invalidate the fleet cache (reported to datasets.py's
    # owner): without this the fake clock never lets its TTL pass and placement never sees it.
    t.cp.fleets.invalidate()
    repo = tmp_path / "repo"
    commit = git_repo(repo, {"train.py": b"print('fit')\n"})
    job = submit_run(
        t.services, t.author, repo, inputs=["clicks"], env={"LR": "0.1", "API_TOKEN": "s3cret"}
    )
    out = write_files(tmp_path / "out", {"model.pkl": b"fitted"})
    version = register_folder(t.services, t.author, "m", "t", out, from_run=job)
    assert version.run is not None
    assert version.run.job_id == job
    assert version.run.code_ref == f"git:{commit}"
    assert version.run.parameters == {"LR": "0.1"}  # a secret is no lineage
    assert version.inputs == ("clicks@1",)  # the run's inputs, pinned to the version then


def test_lineage_from_a_run_in_a_plain_folder(t: Team, tmp_path: Path) -> None:
    work = write_files(tmp_path / "work", {"train.py": b"print('fit')\n"})
    job = submit_run(t.services, t.author, work)
    out = write_files(tmp_path / "out", {"model.pkl": b"fitted"})
    version = register_folder(t.services, t.author, "m", "t", out, from_run=job)
    assert version.run is not None
    assert version.run.code_ref == WorkdirCodeRefs().code_ref(str(work))
    assert version.run.code_ref is not None and version.run.code_ref.startswith("sha256:")


def test_another_teams_run_is_no_lineage(t: Team, tmp_path: Path) -> None:
    work = write_files(tmp_path / "work", {"train.py": b"x"})
    job = submit_run(t.services, t.author, work)
    out = write_files(tmp_path / "out", {"model.pkl": b"fitted"})
    with pytest.raises((NotFoundError, PermissionDeniedError)):
        register_folder(t.services, t.outsider, "theirs", "u", out, from_run=job)


# -- tampering ----------------------------------------------------------------------------------


def registered(t: Team, tmp_path: Path) -> tuple[str, dict[str, Path]]:
    folder = write_files(tmp_path / "m", {"a.bin": b"A" * 64, "b.bin": b"B" * 64})
    version = register_folder(t.services, t.author, "m", "t", folder)
    assert t.services.models.verify(t.author, version.ref).ok
    blobs = LocalBlobStore(t.cp.settings.home / ARTIFACTS_DIR)  # the default store's folder
    paths = {
        name: blobs.blob_path(hashlib.sha256(data).hexdigest())
        for name, data in (("a.bin", b"A" * 64), ("b.bin", b"B" * 64))
    }
    return version.ref, paths


def writable(path: Path) -> Path:
    os.chmod(path, 0o644)
    return path


def test_a_flipped_bit_in_a_stored_blob_is_named(t: Team, tmp_path: Path) -> None:
    ref, paths = registered(t, tmp_path)
    data = bytearray(paths["b.bin"].read_bytes())
    data[10] ^= 0x01
    writable(paths["b.bin"]).write_bytes(bytes(data))
    check = t.services.models.verify(t.author, ref)
    assert not check.ok
    assert [p.location for p in check.problems] == ["b.bin"]
    assert check.signature is None  # the manifest and its signature still hold


def test_two_swapped_files_are_both_named(t: Team, tmp_path: Path) -> None:
    ref, paths = registered(t, tmp_path)
    a, b = paths["a.bin"].read_bytes(), paths["b.bin"].read_bytes()
    writable(paths["a.bin"]).write_bytes(b)
    writable(paths["b.bin"]).write_bytes(a)
    check = t.services.models.verify(t.author, ref)
    assert sorted(p.location for p in check.problems) == ["a.bin", "b.bin"]


def test_a_removed_blob_is_named(t: Team, tmp_path: Path) -> None:
    ref, paths = registered(t, tmp_path)
    paths["a.bin"].unlink()
    check = t.services.models.verify(t.author, ref)
    assert [(p.location, p.message) for p in check.problems] == [
        ("a.bin", "missing from the artifact store")
    ]


def test_an_edited_manifest_row_is_detected(t: Team, store: SqlStore, tmp_path: Path) -> None:
    ref, _ = registered(t, tmp_path)
    version = t.services.models.resolve(t.author, ref)
    evil = write_files(tmp_path / "evil", {"b.bin": b"evil bytes"})
    swapped = upload_folder(t.services, t.author, evil).entries[0]
    a_sha = hashlib.sha256(b"A" * 64).hexdigest()
    # The attacker points b.bin at bytes of its own, in the row the version names.
    with store.engine.begin() as connection:
        connection.execute(
            update(MANIFESTS)
            .where(MANIFESTS.c.digest == version.artifact)
            .values(entries=[["a.bin", a_sha, 64], ["b.bin", swapped.sha256, swapped.size]])
        )
    check = t.services.models.verify(t.author, ref)
    locations = [p.location for p in check.problems]
    assert "manifest" in locations
    assert "signature" in locations
    assert check.signature is not None


def test_a_copy_with_a_file_added_removed_or_changed_is_named(t: Team, tmp_path: Path) -> None:
    ref, _ = registered(t, tmp_path)
    version = t.services.models.resolve(t.author, ref)
    _, manifest = t.services.models.manifest(t.author, ref)
    a, _ = manifest.entries
    other = hashlib.sha256(b"other").hexdigest()
    copy = Manifest.of([ManifestEntry(a.path, other, a.size), ManifestEntry("extra.py", other, 5)])
    found = {
        (p.location, p.message.split(": ")[1].split(" ")[0])
        for p in t.services.models.files_differ(version, copy)
    }
    assert found == {("a.bin", "changed"), ("b.bin", "missing"), ("extra.py", "added")}
    assert t.services.models.files_differ(version, manifest) == []


def test_a_replaced_public_key_fails_the_signature(
    t: Team, store: SqlStore, tmp_path: Path
) -> None:
    ref, _ = registered(t, tmp_path)
    # Team u's key, published by registering there, put in place of team t's.
    folder = write_files(tmp_path / "u", {"x.bin": b"u's"})
    register_folder(t.services, t.outsider, "theirs", "u", folder)
    [u_key] = store.artifacts.keys("u")
    with store.engine.begin() as connection:
        connection.execute(
            update(KEYS).where(KEYS.c.team == "t").values(public_pem=u_key.public_pem)
        )
    check = t.services.models.verify(t.author, ref)
    assert [p.location for p in check.problems] == ["signature"]
