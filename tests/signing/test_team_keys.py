"""Team keyrings: one P-256 key per team, made once with mode 0600, published as a TeamKey;
a team's signature verifies with its key and with no other team's."""

from __future__ import annotations

import hashlib
import os
import stat
import threading
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from aiplane.core.errors import SpecError
from aiplane.core.registry.manifest import Manifest, ManifestEntry
from aiplane.signing.base import ManifestSigner, VerdictKind
from aiplane.signing.manifests import ALGORITHM
from aiplane.signing.team_keys import TeamKeyring

MANIFEST = Manifest.of([ManifestEntry("model.onnx", hashlib.sha256(b"w").hexdigest(), 1)])


def test_a_key_is_made_on_first_use_readable_by_its_owner_only(tmp_path: Path) -> None:
    ring = TeamKeyring(tmp_path / "keys")
    key = ring.public_key("vision")
    path = tmp_path / "keys" / "vision.pem"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert stat.S_IMODE(path.parent.stat().st_mode) == 0o700
    assert (key.team, key.algorithm) == ("vision", ALGORITHM)
    assert key.created_at == path.stat().st_mtime
    assert key.public_pem.startswith("-----BEGIN PUBLIC KEY-----")
    # Another keyring over the same directory (a restart) has the same key.
    again = TeamKeyring(tmp_path / "keys").public_key("vision")
    assert again.key_id == key.key_id
    assert again.public_pem == key.public_pem


def test_each_team_has_its_own_key_and_another_teams_is_refused(tmp_path: Path) -> None:
    ring = TeamKeyring(tmp_path)
    signed = ring.sign("vision", MANIFEST, 5.0)
    vision, nlp = ring.public_key("vision"), ring.public_key("nlp")
    assert vision.key_id != nlp.key_id
    assert signed.key_id == vision.key_id
    assert ring.verify(MANIFEST, signed, vision.public_pem).valid
    refused = ring.verify(MANIFEST, signed, nlp.public_pem)
    assert refused.kind is VerdictKind.UNKNOWN_KEY


def test_concurrent_first_uses_agree_on_one_key(tmp_path: Path) -> None:
    rings = [TeamKeyring(tmp_path) for _ in range(16)]
    ids: list[str] = []
    start = threading.Barrier(len(rings))

    def first_use(ring: TeamKeyring) -> None:
        start.wait()
        ids.append(ring.public_key("vision").key_id)

    threads = [threading.Thread(target=first_use, args=(r,)) for r in rings]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert len(ids) == len(rings)  # none saw a half-written key file
    assert len(set(ids)) == 1


@pytest.mark.parametrize("team", ["../etc", "a/b", "", "Vision", ".hidden"])
def test_a_team_name_cannot_name_another_path(tmp_path: Path, team: str) -> None:
    with pytest.raises(SpecError) as info:
        TeamKeyring(tmp_path / "keys").public_key(team)
    assert info.value.problems[0].location == "team"
    assert not (tmp_path / "keys").exists()


def test_a_key_file_of_another_kind_is_refused_with_its_path(tmp_path: Path) -> None:
    path = tmp_path / "vision.pem"
    pem = ed25519.Ed25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    path.write_bytes(pem)
    with pytest.raises(SpecError) as info:
        TeamKeyring(tmp_path).public_key("vision")
    assert info.value.problems[0].location == str(path)
    assert info.value.problems[0].message == "not an ECDSA P-256 key"
    path.write_bytes(b"garbage")
    with pytest.raises(SpecError):
        TeamKeyring(tmp_path).public_key("vision")


def test_an_existing_key_is_never_rewritten(tmp_path: Path) -> None:
    ring = TeamKeyring(tmp_path)
    ring.public_key("vision")
    path = tmp_path / "vision.pem"
    before = path.read_bytes()
    os.utime(path, (1.0, 1.0))
    assert TeamKeyring(tmp_path).public_key("vision").created_at == 1.0
    assert path.read_bytes() == before


def test_it_is_a_manifest_signer(tmp_path: Path) -> None:
    signer: ManifestSigner = TeamKeyring(tmp_path)
    signed = signer.sign("vision", MANIFEST, 1.0)
    assert signer.verify(MANIFEST, signed, signer.public_key("vision").public_pem).valid
