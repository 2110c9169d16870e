"""The token cache never outlives a change made while a request was reading the store."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.auth import Principal
from aiplane.core.errors import AuthenticationError
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane
from tests.identities import grant_principal


def test_a_disable_racing_a_cache_fill_is_not_undone(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    settings = Settings(home=tmp_path, database_url="memory://", catalog_dir=None)
    store = MemoryStore()
    cp = ControlPlane(
        settings=settings,
        store=store,
        backends=PoolBackends(tmp_path / "w"),
        policy=PriorityBestFit(),
    )
    svc = cp.services
    _, admin_headers = grant_principal(svc, "root", global_role="admin")
    root = svc.access.authenticate(admin_headers["Authorization"].split()[1])
    _, headers = grant_principal(svc, "eve", teams={"t": "member"})
    token = headers["Authorization"].split()[1]
    real_get = store.principals.get
    raced: list[str] = []

    def get(principal_id: str) -> Principal:
        found = real_get(principal_id)
        if found.name == "eve" and not raced:
            raced.append(found.name)
            # Another request disables eve after this one read her, before it caches her.
            svc.identity.update_principal(root, "eve", disabled=True)
        return found

    monkeypatch.setattr(store.principals, "get", get)
    assert svc.access.authenticate(token).name == "eve"  # read before the disable
    monkeypatch.setattr(store.principals, "get", real_get)
    with pytest.raises(AuthenticationError, match="disabled"):
        svc.access.authenticate(token)
