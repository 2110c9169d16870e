"""Two promotions of the same alias from the same state, on PostgreSQL (a database of its
own, from ``AIPLANE_TEST_POSTGRES_URL``): one wins, the other gets a conflict, and nothing of
the loser is left half-done (no alias moved, no move recorded, no success audited).

Both calls are held after their checks until both have checked (a barrier in front of the
unit of work), so that both really start from the same state: without it the second would
usually see the first's move and be refused or checked against it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aiplane.core.errors import ConflictError
from aiplane.core.registry.records import AliasMove, PolicyScope
from aiplane.services.promotion import PromotionService
from aiplane.services.registry_types import MoveRequest
from aiplane.store.sql import SqlStore
from aiplane.wiring import ControlPlane
from tests.services.registry_fixtures import (
    Team,
    control_plane,
    register_folder,
    team,
    write_files,
)
from tests.store.conftest import PostgresServer, postgres_server

__all__ = ["postgres_server"]

OPEN = {"aliases": {"production": {"approvals": 0}}}


@pytest.fixture
def t(tmp_path: Path, postgres_server: PostgresServer) -> Iterator[Team]:
    store = SqlStore.open(postgres_server.create_database())
    try:
        yield team(control_plane(tmp_path / "home", store))
    finally:
        store.close()


def version(t: Team, tmp_path: Path, name: str) -> str:
    folder = tmp_path / f"{name}-{len(list(tmp_path.glob(f'{name}-*')))}"
    write_files(folder, {"model.pkl": folder.name.encode()})
    ref = register_folder(t.services, t.author, name, "t", folder).ref
    t.services.policies.put(t.owner, PolicyScope.MODEL, name, OPEN, "p.yaml")
    return ref


def race(
    cp: ControlPlane,
    calls: list[list[MoveRequest]],
    caller: Any,
    monkeypatch: pytest.MonkeyPatch,
) -> list[list[AliasMove] | ConflictError]:
    """Run each call of ``calls`` in its own thread, all checked before any applies."""
    service: PromotionService = cp.services.promotion
    barrier = threading.Barrier(len(calls), timeout=30)
    original: Callable[..., Any] = service._apply

    def held_apply(who: Any, checked: Any) -> Any:
        barrier.wait()
        return original(who, checked)

    monkeypatch.setattr(service, "_apply", held_apply)
    results: list[list[AliasMove] | ConflictError] = [ConflictError("not run")] * len(calls)

    def one(i: int) -> None:
        try:
            results[i] = service.promote(caller, calls[i])
        except ConflictError as exc:
            results[i] = exc

    threads = [threading.Thread(target=one, args=(i,)) for i in range(len(calls))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    return results


def held(t: Team, name: str) -> int | None:
    alias = t.cp.store.models.get_alias(name, "production")
    return alias.version if alias is not None else None


def promotions_audited(t: Team) -> int:
    entries = t.cp.store.audit.entries(limit=1000)
    return sum(
        1 for e in entries if e.record.action == "model.promote" and e.record.outcome == "ok"
    )


def test_two_promotions_of_one_alias_one_wins(
    t: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    v1, v2, v3 = (version(t, tmp_path, "m") for _ in range(3))
    t.services.promotion.promote(t.author, [MoveRequest(v1, "production")])
    results = race(
        t.cp,
        [[MoveRequest(v2, "production")], [MoveRequest(v3, "production")]],
        t.author,
        monkeypatch,
    )
    won = [r for r in results if isinstance(r, list)]
    lost = [r for r in results if isinstance(r, ConflictError)]
    assert (len(won), len(lost)) == (1, 1), results
    [[move]] = won
    assert move.previous == 1
    assert held(t, "m") == move.version
    assert [m.version for m in t.cp.store.models.moves("m")] == [1, move.version]
    assert promotions_audited(t) == 2


def test_a_lost_race_leaves_no_move_of_the_call_half_done(
    t: Team, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The first call moves a and b; the second moves b only. If the second wins b, the
    first's move of a is rolled back with its b."""
    a1, a2 = version(t, tmp_path, "a"), version(t, tmp_path, "a")
    b1, b2, b3 = (version(t, tmp_path, "b") for _ in range(3))
    t.services.promotion.promote(
        t.author, [MoveRequest(a1, "production"), MoveRequest(b1, "production")]
    )
    both = [MoveRequest(a2, "production"), MoveRequest(b2, "production")]
    results = race(t.cp, [both, [MoveRequest(b3, "production")]], t.author, monkeypatch)
    assert sum(isinstance(r, ConflictError) for r in results) == 1, results
    a_moves, b_moves = t.cp.store.models.moves("a"), t.cp.store.models.moves("b")
    if isinstance(results[0], ConflictError):
        assert (held(t, "a"), held(t, "b")) == (1, 3)
        assert (len(a_moves), len(b_moves)) == (1, 2)
        assert promotions_audited(t) == 3  # a1, b1, then b3
    else:
        assert (held(t, "a"), held(t, "b")) == (2, 2)
        assert (len(a_moves), len(b_moves)) == (2, 2)
        assert promotions_audited(t) == 4  # a1, b1, then a2 and b2


def test_registrations_at_once_are_numbered_without_gaps_or_twins(t: Team, tmp_path: Path) -> None:
    """Eight registrations of a model that does not exist yet, at once: one creates it, every
    one gets its own number."""
    folders = [write_files(tmp_path / f"r{i}", {"model.pkl": f"r{i}".encode()}) for i in range(8)]
    barrier = threading.Barrier(len(folders), timeout=30)
    numbers: list[int] = []
    errors: list[BaseException] = []

    def one(folder: Path) -> None:
        try:
            barrier.wait()
            numbers.append(register_folder(t.services, t.author, "m", "t", folder).version)
        except BaseException as exc:  # noqa: BLE001  # the test reports every failure
            errors.append(exc)

    threads = [threading.Thread(target=one, args=(f,)) for f in folders]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    assert sorted(numbers) == list(range(1, 9))
    registered = [
        e for e in t.cp.store.audit.entries(limit=1000) if e.record.action == "model.register"
    ]
    assert sorted(e.record.detail["version"] for e in registered) == list(range(1, 9))
