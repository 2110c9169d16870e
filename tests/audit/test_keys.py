"""The audit log's key: replicas on one database share one (``AIPLANE_SIGNING_KEY``), and
keys used before a rotation stay trusted (``AIPLANE_TRUSTED_KEYS``) so that their entries
still verify."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.errors import SpecError
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.signing.ed25519 import Ed25519Signer
from aiplane.store.base import Store
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane


def replica(
    home: Path, store: Store, key: Path | None = None, trusted: Path | None = None
) -> ControlPlane:
    settings = Settings(
        home=home, database_url="memory://", catalog_dir=None, signing_key=key, trusted_keys=trusted
    )
    return ControlPlane(
        settings=settings,
        store=store,
        backends=PoolBackends(home / "work"),
        policy=PriorityBestFit(),
    )


def test_replicas_sharing_a_key_verify_each_others_entries(tmp_path: Path) -> None:
    store = MemoryStore()
    key = tmp_path / "shared" / "audit-key.pem"
    a = replica(tmp_path / "a", store, key)
    b = replica(tmp_path / "b", store, key)
    a.audit.record_now(None, "x", "r/1", outcome="ok")
    b.audit.record_now(None, "x", "r/2", outcome="ok")
    for plane in (a, b):
        result = plane.audit.verify()
        assert result.ok and result.checked == 2, result
    assert key.exists() and not (tmp_path / "a" / "signing-key.pem").exists()


def test_replicas_with_keys_of_their_own_report_the_other_as_forged(tmp_path: Path) -> None:
    store = MemoryStore()
    a, b = replica(tmp_path / "a", store), replica(tmp_path / "b", store)
    a.audit.record_now(None, "x", "r/1", outcome="ok")
    b.audit.record_now(None, "x", "r/2", outcome="ok")
    result = a.audit.verify()
    assert (result.first_bad, result.problem) == (2, "its signature is not the control plane's")


def test_a_rotated_key_trusts_the_old_one(tmp_path: Path) -> None:
    store = MemoryStore()
    old = replica(tmp_path / "old", store)
    old.audit.record_now(None, "x", "r/1", outcome="ok")
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    assert isinstance(old.signer, Ed25519Signer)
    (trusted / "old.pem").write_bytes(old.signer.public_pem)
    new = replica(tmp_path / "new", store, trusted=trusted)
    new.audit.record_now(None, "x", "r/2", outcome="ok")
    entries = list(new.audit.all_entries())
    assert entries[0].key_id != entries[1].key_id
    result = new.audit.verify()
    assert result.ok and result.checked == 2, result
    # Without the old key trusted, its entry is not the control plane's.
    untrusting = replica(tmp_path / "new", store)
    assert untrusting.audit.verify().first_bad == 1


def test_a_trusted_key_that_is_not_one_is_a_located_error(tmp_path: Path) -> None:
    trusted = tmp_path / "trusted"
    trusted.mkdir()
    (trusted / "bad.pem").write_text("not a key")
    with pytest.raises(SpecError) as refused:
        replica(tmp_path / "home", MemoryStore(), trusted=trusted)
    assert refused.value.problems[0].location == str(trusted / "bad.pem")
    with pytest.raises(SpecError) as missing:
        replica(tmp_path / "home", MemoryStore(), trusted=tmp_path / "nowhere")
    assert missing.value.problems[0].location == str(tmp_path / "nowhere")


def test_the_settings_come_from_the_environment(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("AIPLANE_SIGNING_KEY", str(tmp_path / "key.pem"))
    (tmp_path / "trusted").mkdir()  # a directory that must exist (a typo is named at start)
    monkeypatch.setenv("AIPLANE_TRUSTED_KEYS", str(tmp_path / "trusted"))
    settings = Settings.from_env(tmp_path / "home")
    assert settings.signing_key == tmp_path / "key.pem"
    assert settings.trusted_keys == tmp_path / "trusted"
    monkeypatch.delenv("AIPLANE_SIGNING_KEY")
    monkeypatch.delenv("AIPLANE_TRUSTED_KEYS")
    assert Settings.from_env(tmp_path / "home").signing_key is None
