"""The registry's history and access through the services: what held production at T (a fake
clock), policy changes audited with their document, registry events in the hash chain and
tampering with them detected, sharing of ``production`` only, and the lineage graph."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import delete, select, update

from aiplane.core.errors import NotFoundError, PermissionDeniedError
from aiplane.core.registry.records import PolicyScope
from aiplane.services.registry_types import DatasetRegistration, MoveRequest
from aiplane.store.sql import SqlStore
from aiplane.store.sql.tables import AuditLogRow, table_of
from tests.services.registry_fixtures import (
    FakeClock,
    Team,
    control_plane,
    principal,
    register_folder,
    sqlite_store,
    submit_run,
    team,
    upload_folder,
    write_files,
)

LOG = table_of(AuditLogRow)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    store = sqlite_store(tmp_path / "home")
    yield store
    store.close()


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def t(tmp_path: Path, store: SqlStore, clock: FakeClock) -> Team:
    return team(control_plane(tmp_path / "home", store, clock))


def version(t: Team, tmp_path: Path, name: str = "m", **fields: Any) -> str:
    folder = tmp_path / f"{name}-{len(list(tmp_path.glob(f'{name}-*')))}"
    write_files(folder, {"model.pkl": folder.name.encode()})
    return register_folder(t.services, t.author, name, "t", folder, **fields).ref


def promote(t: Team, ref: str, approver: Any, by: Any) -> None:
    t.services.promotion.approve(approver, ref, "production")
    t.services.promotion.promote(by, [MoveRequest(ref, "production")])


# -- what was in production at T ------------------------------------------------------------------


@pytest.fixture
def two_moves(t: Team, tmp_path: Path, clock: FakeClock) -> tuple[float, float]:
    """m@1 to production at T1 by max with ann's approval; m@2 at T2 by mia with abe's."""
    v1, v2 = version(t, tmp_path), version(t, tmp_path)
    t1 = clock.advance(100)
    promote(t, v1, t.approver, t.author)
    t2 = clock.advance(100)
    promote(t, v2, t.approver2, t.member2)
    clock.advance(100)
    return t1, t2


def test_production_between_two_moves(t: Team, two_moves: tuple[float, float]) -> None:
    t1, t2 = two_moves
    [period] = t.services.promotion.history(t.author, "m", alias="production", at=(t1 + t2) / 2)
    assert (period.version, period.since, period.until) == (1, t1, t2)
    assert period.by == t.author.principal.id
    assert period.approvals == (t.approver.principal.id,)


def test_production_at_the_second_move_exactly(t: Team, two_moves: tuple[float, float]) -> None:
    _, t2 = two_moves
    [period] = t.services.promotion.history(t.author, "m", alias="production", at=t2)
    assert (period.version, period.since, period.until, period.previous) == (2, t2, None, 1)
    assert period.by == t.member2.principal.id
    assert period.approvals == (t.approver2.principal.id,)


def test_production_before_the_first_move_held_nothing(
    t: Team, two_moves: tuple[float, float]
) -> None:
    t1, _ = two_moves
    assert t.services.promotion.history(t.author, "m", alias="production", at=t1 - 1) == []
    assert t.services.promotion.history(t.author, "m", at=t1 - 1) == []


def test_the_whole_timeline_and_every_alias_at_t(t: Team, two_moves: tuple[float, float]) -> None:
    t1, t2 = two_moves
    periods = t.services.promotion.history(t.author, "m")
    assert [(p.alias, p.version, p.since, p.until) for p in periods] == [
        ("production", 1, t1, t2),
        ("production", 2, t2, None),
    ]
    assert [p.version for p in t.services.promotion.history(t.author, "m", at=t1)] == [1]


@pytest.mark.usefixtures("two_moves")
def test_history_of_another_teams_model_is_hidden(t: Team) -> None:
    with pytest.raises(NotFoundError):
        t.services.promotion.history(t.outsider, "m")


# -- audit ---------------------------------------------------------------------------------------


def actions(t: Team) -> list[tuple[str, str, dict[str, Any]]]:
    entries = t.cp.store.audit.entries(limit=1000)
    return [(e.record.action, e.record.outcome, dict(e.record.detail)) for e in entries]


@pytest.mark.usefixtures("two_moves")
def test_every_registry_event_is_in_the_chain(t: Team) -> None:
    found = [(a, o) for a, o, _ in actions(t) if a.startswith("model.")]
    assert found == [
        ("model.register", "ok"),
        ("model.register", "ok"),
        ("model.promotion.approve", "ok"),
        ("model.promote", "ok"),
        ("model.promotion.approve", "ok"),
        ("model.promote", "ok"),
    ]
    assert t.services.audit_service.verify_for(t.admin).ok


def test_a_refused_promotion_is_audited_with_its_rules(t: Team, tmp_path: Path) -> None:
    ref = version(t, tmp_path)
    with pytest.raises(Exception, match="rule"):
        t.services.promotion.promote(t.author, [MoveRequest(ref, "production")])
    [(_, outcome, detail)] = [x for x in actions(t) if x[0] == "model.promote"]
    assert outcome == "refused"
    assert detail["rules"] and "approvals" in detail["rules"][0]


def test_a_policy_change_is_audited_with_its_document(t: Team, tmp_path: Path) -> None:
    version(t, tmp_path)
    document = {"aliases": {"production": {"approvals": 2, "lineage": "required"}}}
    t.services.policies.put(t.owner, PolicyScope.MODEL, "m", document, "p.yaml")
    stricter = {"aliases": {"production": {"approvals": 3}}}
    t.services.policies.put(t.admin, PolicyScope.MODEL, "m", stricter, "p.yaml")
    with pytest.raises(PermissionDeniedError):
        t.services.policies.put(t.author, PolicyScope.MODEL, "m", {"aliases": {}}, "p.yaml")
    changes = [(o, d) for a, o, d in actions(t) if a == "model.policy.manage"]
    assert changes[:2] == [
        ("ok", {"revision": 1, "document": document}),
        ("ok", {"revision": 2, "document": stricter}),
    ]
    assert changes[2][0] == "denied"
    held = t.services.policies.get(t.author, PolicyScope.MODEL, "m")
    assert held.record is not None and held.record.updated_by == t.admin.principal.id
    assert held.policy.aliases["production"].approvals == 3


def promote_seq(store: SqlStore) -> int:
    with store.engine.connect() as connection:
        rows = connection.execute(
            select(LOG.c.seq).where(LOG.c.action == "model.promote").order_by(LOG.c.seq)
        ).all()
    return int(rows[0][0])


@pytest.mark.usefixtures("two_moves")
def test_an_edited_promotion_entry_is_detected(t: Team, store: SqlStore) -> None:
    seq = promote_seq(store)
    with store.engine.begin() as connection:
        detail = connection.execute(select(LOG.c.detail).where(LOG.c.seq == seq)).scalar_one()
        forged = detail.replace(t.approver.principal.id, t.approver2.principal.id)
        assert forged != detail
        connection.execute(update(LOG).where(LOG.c.seq == seq).values(detail=forged))
    result = t.services.audit_service.verify_for(t.admin)
    assert (result.ok, result.first_bad) == (False, seq)
    assert result.problem == "its content does not match its hash"


@pytest.mark.usefixtures("two_moves")
def test_a_deleted_promotion_entry_is_detected(t: Team, store: SqlStore) -> None:
    seq = promote_seq(store)
    with store.engine.begin() as connection:
        connection.execute(delete(LOG).where(LOG.c.seq == seq))
    result = t.services.audit_service.verify_for(t.admin)
    assert not result.ok
    assert result.first_bad is not None and result.first_bad >= seq


@pytest.mark.usefixtures("two_moves")
def test_a_deleted_last_entry_is_detected_against_the_head(t: Team, store: SqlStore) -> None:
    head = store.audit.head()
    assert head is not None
    with store.engine.begin() as connection:
        connection.execute(delete(LOG).where(LOG.c.seq == head.seq))
    result = t.services.audit_service.verify_for(t.admin, head)
    assert not result.ok


# -- access --------------------------------------------------------------------------------------


def test_production_is_readable_by_another_team_only_once_shared(t: Team, tmp_path: Path) -> None:
    v1, v2 = version(t, tmp_path), version(t, tmp_path)
    promote(t, v1, t.approver, t.author)
    t.services.promotion.promote(t.author, [MoveRequest(v2, "staging")])
    models, ugo = t.services.models, t.outsider
    with pytest.raises(NotFoundError):
        models.resolve(ugo, "m@production")
    with pytest.raises((NotFoundError, PermissionDeniedError)):
        models.share(t.author, "m", ["u"])  # a member does not share; the owner does
    models.share(t.owner, "m", ["u"])
    assert models.resolve(ugo, "m@production").version == 1
    _, manifest = models.manifest(ugo, "m@production")
    assert [e.path for e in manifest.entries] == ["model.pkl"]
    for other in ("m@1", "m@2", "m@staging", "m", "m@latest"):
        with pytest.raises(NotFoundError):
            models.resolve(ugo, other)
    assert "m" not in [m.name for m in models.listing(ugo)]
    with pytest.raises(NotFoundError):
        models.show(ugo, "m")
    with pytest.raises(NotFoundError):
        models.versions(ugo, "m")
    # Unshared again: gone.
    models.share(t.owner, "m", [])
    with pytest.raises(NotFoundError):
        models.resolve(ugo, "m@production")


def test_a_viewer_reads_but_does_not_register_or_promote(t: Team, tmp_path: Path) -> None:
    ref = version(t, tmp_path)
    viewer = principal(t.services, "vic", {"t": "viewer"})
    assert t.services.models.resolve(viewer, ref).version == 1
    folder = write_files(tmp_path / "v", {"model.pkl": b"v"})
    with pytest.raises(PermissionDeniedError):
        register_folder(t.services, viewer, "m", "t", folder)
    with pytest.raises(PermissionDeniedError):
        t.services.promotion.promote(viewer, [MoveRequest(ref, "staging")])
    with pytest.raises(PermissionDeniedError):
        t.services.promotion.approve(t.member2, ref, "production")


# -- lineage -------------------------------------------------------------------------------------


def test_the_lineage_graph_names_datasets_run_and_version(t: Team, tmp_path: Path) -> None:
    for name in ("clicks", "views"):
        data = write_files(tmp_path / name, {"part.csv": f"source\n{name}\n".encode()})
        manifest = upload_folder(t.services, t.author, data)
        t.services.datasets.register(t.author, DatasetRegistration(name, "t", manifest, "here"))
    t.cp.fleets.invalidate()  # a new dataset version does not (datasets.py: reported)
    work = write_files(tmp_path / "work", {"train.py": b"fit"})
    job = submit_run(t.services, t.author, work, inputs=["clicks", "views"])
    ref = version(t, tmp_path, from_run=job)
    graph = t.services.lineage.of_model(t.author, ref)
    dot = graph.to_dot()
    for name in ("clicks@1", "views@1", job, "m@1"):
        assert name in dot, dot
    kinds = {n.id: n.kind.value for n in graph.nodes}
    assert sorted(kinds.values()) == ["dataset_version", "dataset_version", "model_version", "run"]
    edges = {(kinds[e.source], kinds[e.target]) for e in graph.edges}
    assert edges == {("dataset_version", "run"), ("run", "model_version")}
    used = t.services.lineage.used_by(t.author, "clicks@1")
    assert [(v.ref, held) for v, held in used] == [("m@1", ())]
    # "Which production models were trained on clicks@1?": none until m@1 is promoted.
    assert t.services.lineage.used_by(t.author, "clicks@1", "production") == []
    version(t, tmp_path)  # m@2, trained on nothing recorded
    promote(t, ref, t.approver, t.author)
    used = t.services.lineage.used_by(t.author, "clicks@1", "production")
    assert [(v.ref, held) for v, held in used] == [("m@1", ("production",))]
    with pytest.raises(NotFoundError):
        t.services.lineage.used_by(t.outsider, "clicks@1")
