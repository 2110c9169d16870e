"""The model access guard on a real store (SQLite) with real signing: the gateway's table
refuses the replicas of a version whose signature does not verify, or that an alias reaches
after a move around the promotion policy; each change of verdict is recorded once (an audit
entry and an event); a proper promotion serves the version again; once checked, a table build
verifies nothing."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import select, update

from aiplane.core.auth import Caller, TeamRole
from aiplane.core.registry.records import ArtifactSignature, ModelVersion
from aiplane.core.serving.endpoints import Role
from aiplane.core.serving.routes import EndpointRoute
from aiplane.services.model_access import ACTION, REFUSED, SERVED, ModelAccessGuard
from aiplane.services.registry_types import MoveRequest
from aiplane.signing import manifests
from aiplane.signing.base import Verdict
from aiplane.specs.endpoint import endpoint_from_document
from aiplane.store.sql import SqlStore
from aiplane.store.sql.registry_tables import ArtifactManifestRow, ModelVersionRow
from aiplane.store.sql.tables import table_of
from tests.identities import grant_principal
from tests.services.endpoint_plane import Plane

VERSIONS = table_of(ModelVersionRow)
MANIFESTS = table_of(ArtifactManifestRow)
ONE_SITE = [{"site": "edge", "min": 1, "max": 1}]


@pytest.fixture
def plane(tmp_path: Path) -> Iterator[Plane]:
    # The plane points fraud@production at version 1 by a store write, with no move.
    made = Plane(tmp_path, "sqlite")
    yield made
    made.cp.store.close()


def approver(plane: Plane) -> Caller:
    principal, _ = grant_principal(plane.services, "paula", teams={"t": TeamRole.APPROVER})
    return Caller(principal)


def promote(plane: Plane, by: Caller, version: int, alias: str = "production") -> None:
    """Through the registry's policy: approved by an approver who is not the author."""
    plane.services.promotion.approve(by, f"fraud@{version}", alias)
    plane.services.promotion.promote(by, [MoveRequest(f"fraud@{version}", alias)])


def route(plane: Plane) -> EndpointRoute:
    plane.services.gateway._cached = None  # type: ignore[attr-defined]  # the 1 s cache
    found = plane.services.gateway.table().endpoint("fraud")
    assert found is not None and found.replicas
    return found


def refused(plane: Plane) -> dict[str, str | None]:
    """Version -> the refusal of its replicas in a fresh table (None: served)."""
    return {r.version: r.refused for r in route(plane).replicas}


def recorded(plane: Plane) -> list[tuple[str, str | None]]:
    """(outcome, version) of every change of verdict in the audit log, oldest first."""
    entries = plane.services.audit.search(resource="endpoint/fraud", limit=1000)
    return [
        (e.record.outcome, e.record.detail["version"]) for e in entries if e.record.action == ACTION
    ]


def events(plane: Plane) -> list[tuple[str, Any]]:
    return [
        (e.kind, e.data.get("version"))
        for e in plane.store.events.recent(limit=1000)
        if e.kind in (REFUSED, SERVED)
    ]


def sql(plane: Plane) -> SqlStore:
    assert isinstance(plane.store, SqlStore)
    return plane.store


def signature_row(plane: Plane, version: int) -> Any:
    with sql(plane).engine.begin() as connection:
        return connection.execute(
            select(VERSIONS.c.signature).where(
                VERSIONS.c.model == "fraud", VERSIONS.c.version == version
            )
        ).scalar_one()


def set_signature(plane: Plane, version: int, signature: Any) -> None:
    with sql(plane).engine.begin() as connection:
        connection.execute(
            update(VERSIONS)
            .where(VERSIONS.c.model == "fraud", VERSIONS.c.version == version)
            .values(signature=signature)
        )


def test_an_alias_written_by_the_store_is_refused_until_a_promotion_puts_it_there(
    plane: Plane,
) -> None:
    plane.apply(sites=ONE_SITE)
    plane.step()
    verdict = refused(plane)["fraud@1"]
    assert verdict is not None and "fraud@production holds version 1" in verdict
    assert "no promotion in the registry's history" in verdict
    route(plane)  # built again: nothing new recorded
    assert recorded(plane) == [("refused", "fraud@1")]
    assert events(plane) == [(REFUSED, "fraud@1")]
    view = plane.endpoints.show(plane.alice, "fraud")
    assert [r.refused for s in view.sites for r in s.replicas] == [verdict]
    assert (REFUSED, "fraud@1") in [(e.kind, e.data.get("version")) for e in view.events]

    promote(plane, approver(plane), 1)
    assert refused(plane) == {"fraud@1": None}
    route(plane)
    assert recorded(plane) == [("refused", "fraud@1"), ("ok", "fraud@1")]
    assert events(plane) == [(REFUSED, "fraud@1"), (SERVED, "fraud@1")]


def test_a_store_write_moving_a_promoted_alias_refuses_the_new_target_only(
    plane: Plane,
) -> None:
    paula = approver(plane)
    promote(plane, paula, 1)
    plane.apply(sites=ONE_SITE, drain=30)
    plane.step()
    assert refused(plane) == {"fraud@1": None}
    plane.alias("production", 2)  # around the policy
    plane.now += 1
    plane.step()  # the reconciler rolls out fraud@2 beside fraud@1
    verdicts = refused(plane)
    assert verdicts["fraud@1"] is None  # what the last promotion put there still serves
    assert verdicts["fraud@2"] is not None
    assert "the last promotion in the registry's history put version 1 there" in verdicts["fraud@2"]
    assert recorded(plane) == [("refused", "fraud@2")]
    for _ in range(3):  # fraud@2 ready: it would replace fraud@1, but takes no traffic
        plane.now += 5
        plane.step()
    kept = [r for r in route(plane).replicas if r.version == "fraud@1"]
    assert kept and all(r.ready and r.refused is None for r in kept)
    # A promotion of fraud@2 makes it the alias's own: it serves, and replaces fraud@1.
    promote(plane, paula, 2)
    for _ in range(3):
        plane.now += 40
        plane.step()
    assert refused(plane) == {"fraud@2": None}
    assert recorded(plane) == [("refused", "fraud@2"), ("ok", "fraud@2")]


def test_a_version_signed_over_another_manifest_is_refused_and_recorded_once(
    plane: Plane,
) -> None:
    plane.apply(model="fraud@2", sites=ONE_SITE)
    plane.step()
    assert refused(plane) == {"fraud@2": None}
    # Version 1's signature (a good one, by the team's key) put on version 2.
    set_signature(plane, 2, signature_row(plane, 1))
    verdict = refused(plane)["fraud@2"]
    assert verdict is not None and "signature does not verify" in verdict
    assert "the manifest is not the one signed" in verdict
    route(plane)
    route(plane)
    assert recorded(plane) == [("refused", "fraud@2")]
    assert events(plane) == [(REFUSED, "fraud@2")]


def test_a_broken_or_missing_signature_is_refused(plane: Plane) -> None:
    plane.apply(model="fraud@2", sites=ONE_SITE)
    plane.step()
    good = signature_row(plane, 2)
    broken = dict(good)
    # One hex digit of the DSSE envelope changed: not the bytes signed.
    broken["signature"] = good["signature"][:-2] + (
        "00" if good["signature"][-2:] != "00" else "11"
    )
    set_signature(plane, 2, broken)
    first = refused(plane)["fraud@2"]
    assert first is not None and "signature does not verify" in first
    set_signature(plane, 2, None)
    second = refused(plane)["fraud@2"]
    assert second is not None and "the version is not signed" in second
    set_signature(plane, 2, good)
    assert refused(plane) == {"fraud@2": None}
    assert recorded(plane) == [("refused", "fraud@2"), ("refused", "fraud@2"), ("ok", "fraud@2")]


def test_an_edited_manifest_row_is_refused(plane: Plane) -> None:
    plane.apply(model="fraud@2", sites=ONE_SITE)
    plane.step()  # staged and started from the registered bytes
    version = plane.store.models.get_version("fraud", 2)
    other = plane.store.models.get_version("fraud", 1)
    (entry,) = plane.store.artifacts.get_manifest(other.artifact).entries
    # The row version 2 names now points model.bin at version 1's bytes.
    with sql(plane).engine.begin() as connection:
        connection.execute(
            update(MANIFESTS)
            .where(MANIFESTS.c.digest == version.artifact)
            .values(entries=[[entry.path, entry.sha256, entry.size]])
        )
    verdict = refused(plane)["fraud@2"]
    assert verdict is not None
    assert "the stored manifest is not the one registered" in verdict
    assert "signature does not verify" in verdict
    assert recorded(plane) == [("refused", "fraud@2")]


def test_a_second_table_build_verifies_nothing(
    plane: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[str] = []
    real = manifests.verify

    def counted(manifest: Any, signature: ArtifactSignature, public_pem: str | None) -> Verdict:
        calls.append(signature.key_id)
        return real(manifest, signature, public_pem)

    monkeypatch.setattr(manifests, "verify", counted)
    promote(plane, approver(plane), 1)
    plane.apply(sites=[{"site": "edge", "min": 2, "max": 2}, {"site": "cloud", "min": 1}])
    plane.step()
    calls.clear()  # the promotion's own check, and each replica's at its launch
    assert len(route(plane).replicas) == 3
    assert len(calls) == 1  # one version, checked once for its three replicas
    for _ in range(3):
        assert refused(plane) == {"fraud@1": None}
    plane.endpoints.show(plane.alice, "fraud")
    assert len(calls) == 1
    set_signature(plane, 1, signature_row(plane, 2))  # another signature: another key
    assert refused(plane)["fraud@1"] is not None
    assert len(calls) == 2


def test_a_cached_verdict_is_checked_again_after_recheck_s(plane: Plane) -> None:
    """An edit the version row does not show (the manifest row) is seen within recheck_s."""
    promote(plane, approver(plane), 1)
    plane.apply(sites=ONE_SITE)
    plane.step()
    mono = [0.0]
    guard = ModelAccessGuard(
        plane.store,
        plane.services.models,
        plane.services.audit,
        lambda: plane.now,
        recheck_s=60.0,
        monotonic=lambda: mono[0],
    )
    endpoint = plane.store.endpoints.get("fraud")
    replicas = plane.endpoints.replicas()["fraud"]
    assert guard.refusals(endpoint, replicas) == {}
    version: ModelVersion = plane.store.models.get_version("fraud", 1)
    with sql(plane).engine.begin() as connection:
        connection.execute(
            update(MANIFESTS).where(MANIFESTS.c.digest == version.artifact).values(entries=[])
        )
    mono[0] = 59.0
    assert guard.refusals(endpoint, replicas) == {}  # cached
    mono[0] = 61.0
    found = guard.refusals(endpoint, replicas)
    assert set(found) == {r.run.id for r in replicas}
    assert all("the stored manifest is not the one registered" in v for v in found.values())


def test_a_command_endpoint_has_nothing_to_check(plane: Plane) -> None:
    document = {"name": "fraud", "team": "t", "command": "serve", "sites": ONE_SITE}
    plane.endpoints.apply(plane.alice, endpoint_from_document(document, "e.yaml"))
    plane.step()
    assert refused(plane) == {"command": None}
    assert recorded(plane) == []


def test_one_version_refused_for_one_role_and_served_for_another_is_recorded_once(
    plane: Plane,
) -> None:
    """fraud@1 is the primary's through the store-written alias (refused) and the canary's by
    number (served): two verdicts, neither a change of the other."""
    plane.apply(sites=ONE_SITE, traffic={"canary": {"version": "fraud@1", "weight": 0.5}})
    plane.step()
    replicas = route(plane).replicas
    by_role = {r.role: r.refused for r in replicas}
    assert by_role[Role.PRIMARY] is not None and by_role[Role.CANARY] is None
    route(plane)
    route(plane)
    assert recorded(plane) == [("refused", "fraud@1")]
    assert route(plane).refusal() is None  # not every replica: no 403


def test_a_verdict_that_cannot_be_recorded_still_refuses_and_is_recorded_later(
    plane: Plane, monkeypatch: pytest.MonkeyPatch
) -> None:
    plane.apply(sites=ONE_SITE)
    plane.step()
    guard = plane.endpoints._model_access
    real = guard._record

    def broken(*_args: Any) -> None:
        raise OSError("the database is away")

    monkeypatch.setattr(guard, "_record", broken)
    assert refused(plane)["fraud@1"] is not None
    assert recorded(plane) == []
    monkeypatch.setattr(guard, "_record", real)
    assert refused(plane)["fraud@1"] is not None
    route(plane)
    assert recorded(plane) == [("refused", "fraud@1")]
