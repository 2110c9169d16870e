"""Over HTTP on PostgreSQL: a path holding a NUL (which PostgreSQL text cannot hold) is
answered 404, not 503, and the failed call is still one entry of the log, escaped."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from aiplane.config import Settings
from aiplane.core.auth import GlobalRole, PrincipalKind, TeamRole
from aiplane.server import EmbeddedServer
from tests.store.conftest import PostgresServer


@pytest.fixture
def server(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[EmbeddedServer]:
    url = postgres_server.create_database()
    settings = Settings(home=tmp_path / "home", database_url=url, catalog_dir=None)
    with EmbeddedServer(settings) as running:
        yield running


def client(server: EmbeddedServer, name: str, **kwargs: object) -> httpx.Client:
    identity = server.cp.services.identity
    principal = identity.create_principal(None, name, PrincipalKind.USER, **kwargs)  # type: ignore[arg-type]
    _, token = identity.issue_token(None, principal, "t")
    return httpx.Client(
        base_url=server.url + "/api/v1", headers={"Authorization": f"Bearer {token}"}
    )


@pytest.mark.parametrize(
    ("method", "path", "resource"),
    [
        ("DELETE", "/tokens/%00x", "/api/v1/tokens/\\x00x"),
        ("POST", "/jobs/%00x/cancel", "/api/v1/jobs/\\x00x/cancel"),
    ],
)
def test_a_nul_in_a_path_is_not_found_and_audited(
    server: EmbeddedServer, method: str, path: str, resource: str
) -> None:
    audit = server.cp.store.audit
    with client(server, "bob", teams={"b": TeamRole.MEMBER}) as bob:
        before = audit.head()
        assert before is not None
        answer = bob.request(method, path)
        assert answer.status_code == 404, answer.text
        after = audit.head()
        assert after is not None and after.seq == before.seq + 1
        (entry,) = audit.entries(after_seq=before.seq)
        assert entry.record.actor == "bob"
        assert entry.record.resource == resource
        assert entry.record.outcome == "not_found"
    assert server.cp.services.audit.verify().ok


def test_an_admin_search_for_a_nul_is_refused_as_invalid(server: EmbeddedServer) -> None:
    with client(server, "root", global_role=GlobalRole.ADMIN) as admin:
        answer = admin.get("/audit", params={"actor": "\x00"})
        assert answer.status_code == 422, answer.text
        assert answer.json()["error"]["problems"][0]["location"] == "actor"
