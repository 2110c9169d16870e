"""Governed promotion through the services: approvals (never the author's, not even one forged
into the store), lineage, evaluations absolute and relative, the admin held to the rules, and
several aliases moving all or none."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient

from aiplane.api.app import create_app
from aiplane.core.auth import TeamRole
from aiplane.core.errors import (
    NotFoundError,
    PermissionDeniedError,
    PromotionRefusedError,
)
from aiplane.core.registry.records import Approval, PolicyScope
from aiplane.services.registry_types import DatasetRegistration, MoveRequest
from aiplane.store.sql import SqlStore
from tests.identities import grant
from tests.services.registry_fixtures import (
    Team,
    control_plane,
    register_folder,
    sqlite_store,
    submit_run,
    team,
    upload_folder,
    write_files,
)


@pytest.fixture
def store(tmp_path: Path) -> Iterator[SqlStore]:
    store = sqlite_store(tmp_path / "home")
    yield store
    store.close()


@pytest.fixture
def t(tmp_path: Path, store: SqlStore) -> Team:
    return team(control_plane(tmp_path / "home", store))


def version(t: Team, tmp_path: Path, name: str = "m", **fields: Any) -> str:
    """A new version of ``name`` by the author (max), with different bytes each time."""
    folder = tmp_path / f"{name}-{len(list(tmp_path.glob(f'{name}-*')))}"
    write_files(folder, {"model.pkl": folder.name.encode()})
    return register_folder(t.services, t.author, name, "t", folder, **fields).ref


def to_production(*refs: str) -> list[MoveRequest]:
    return [MoveRequest(ref, "production") for ref in refs]


def refused(t: Team, caller: Any, *refs: str) -> list[str]:
    """The rules a promotion of ``refs`` to production failed, by location."""
    with pytest.raises(PromotionRefusedError) as raised:
        t.services.promotion.promote(caller, to_production(*refs))
    return [p.location for p in raised.value.problems]


def held(t: Team, name: str = "m") -> int | None:
    alias = t.cp.store.models.get_alias(name, "production")
    return alias.version if alias is not None else None


def set_policy(t: Team, document: dict[str, Any], name: str = "m") -> None:
    t.services.policies.put(t.owner, PolicyScope.MODEL, name, document, "policy.yaml")


def test_without_approvals_refused_with_the_rule_named(t: Team, tmp_path: Path) -> None:
    ref = version(t, tmp_path)
    assert refused(t, t.author, ref) == ["m@1 -> production: approvals"]
    assert held(t) is None


def test_approved_by_an_approver_it_moves(t: Team, tmp_path: Path) -> None:
    ref = version(t, tmp_path)
    t.services.promotion.approve(t.approver, ref, "production", "looks right")
    [move] = t.services.promotion.promote(t.author, to_production(ref))
    assert (move.version, move.previous, move.approvals) == (1, None, (t.approver.principal.id,))
    assert held(t) == 1
    assert t.services.models.resolve(t.author, "m@production").version == 1


def test_the_author_cannot_approve_its_own_version(t: Team, tmp_path: Path) -> None:
    # ann is an approver of team t and registers the version herself.
    folder = write_files(tmp_path / "own", {"model.pkl": b"ann's"})
    ref = register_folder(t.services, t.approver, "m", "t", folder).ref
    with pytest.raises(PermissionDeniedError):
        t.services.promotion.approve(t.approver, ref, "production")
    assert t.cp.store.models.approvals("m", 1) == []


def test_an_approval_forged_by_the_author_does_not_count(t: Team, tmp_path: Path) -> None:
    folder = write_files(tmp_path / "own", {"model.pkl": b"ann's"})
    ref = register_folder(t.services, t.approver, "m", "t", folder).ref
    ann = t.approver.principal.id
    # The author writes an approval of her own straight into the store.
    with t.cp.store.unit_of_work() as uow:
        uow.models.add_approval(Approval("m", 1, "production", ann, t.cp.clock()))
    with pytest.raises(PromotionRefusedError) as raised:
        t.services.promotion.promote(t.approver, to_production(ref))
    [problem] = raised.value.problems
    assert problem.location == "m@1 -> production: approvals"
    assert f"approval by the author {ann} does not count" in problem.message
    assert held(t) is None
    # With a real approval beside it, the move records the approvals that counted, only.
    t.services.promotion.approve(t.approver2, ref, "production")
    [move] = t.services.promotion.promote(t.approver, to_production(ref))
    assert move.approvals == (t.approver2.principal.id,)
    [period] = t.services.promotion.history(t.author, "m", alias="production")
    assert period.approvals == (t.approver2.principal.id,)


def test_an_approver_who_lost_the_role_does_not_count(t: Team, tmp_path: Path) -> None:
    ref = version(t, tmp_path)
    t.services.promotion.approve(t.approver, ref, "production")
    t.services.identity.set_member(None, "t", t.approver.principal.name, TeamRole.MEMBER)
    assert refused(t, t.author, ref) == ["m@1 -> production: approvals"]


def test_without_lineage_refused_when_the_policy_requires_it(t: Team, tmp_path: Path) -> None:
    ref = version(t, tmp_path)
    set_policy(t, {"aliases": {"production": {"approvals": 0, "lineage": "required"}}})
    assert refused(t, t.author, ref) == ["m@1 -> production: lineage"]
    data = upload_folder(t.services, t.author, write_files(tmp_path / "d", {"x.csv": b"a\n1\n"}))
    t.services.datasets.register(t.author, DatasetRegistration("clicks", "t", data, "here"))
    t.cp.fleets.invalidate()  # a new dataset version does not (datasets.py: reported)
    work = write_files(tmp_path / "w", {"train.py": b"x"})
    job = submit_run(t.services, t.author, work, inputs=["clicks"])
    with_run = version(t, tmp_path, from_run=job)
    t.services.promotion.promote(t.author, to_production(with_run))
    assert held(t) == 2


def test_a_failed_evaluation_is_refused_absolute_and_relative(t: Team, tmp_path: Path) -> None:
    low = version(t, tmp_path, metrics={"auc": 0.85})
    set_policy(
        t,
        {
            "aliases": {
                "production": {
                    "approvals": 0,
                    "evaluations": [
                        {"metric": "auc", "min": 0.9},
                        {"metric": "auc", "min_delta": 0},
                    ],
                }
            }
        },
    )
    assert refused(t, t.author, low) == ["m@1 -> production: evaluations[0]"]
    good = version(t, tmp_path, metrics={"auc": 0.95})
    t.services.promotion.promote(t.author, to_production(good))
    # Above the absolute bar, below the version production holds now.
    worse = version(t, tmp_path, metrics={"auc": 0.93})
    with pytest.raises(PromotionRefusedError) as raised:
        t.services.promotion.promote(t.author, to_production(worse))
    [problem] = raised.value.problems
    assert problem.location == "m@3 -> production: evaluations[1]"
    assert "m@2 has 0.95" in problem.message
    better = version(t, tmp_path, metrics={"auc": 0.96})
    t.services.promotion.promote(t.author, to_production(better))
    assert held(t) == 4


def test_every_failed_rule_is_named_at_once(t: Team, tmp_path: Path) -> None:
    ref = version(t, tmp_path, metrics={"auc": 0.5})
    set_policy(
        t,
        {
            "aliases": {
                "production": {
                    "approvals": 2,
                    "lineage": "required",
                    "evaluations": [{"metric": "auc", "min": 0.9}],
                }
            }
        },
    )
    assert refused(t, t.author, ref) == [
        "m@1 -> production: approvals",
        "m@1 -> production: evaluations[0]",
        "m@1 -> production: lineage",
    ]


def test_an_admin_is_held_to_the_same_rules_through_the_api(t: Team, tmp_path: Path) -> None:
    ref = version(t, tmp_path)
    headers = grant(t.services, "root-admin", global_role="admin")
    with TestClient(create_app(t.services)) as api:
        answer = api.post(
            "/api/v1/models:promote",
            json={"moves": [{"ref": ref, "alias": "production"}]},
            headers=headers,
        )
        assert answer.status_code == 409, answer.text
        body = answer.json()
        assert "m@1 -> production: approvals" in answer.text, body
        assert held(t) is None
        # The admin may change the policy (audited), and then the move passes by its rules.
        document = {"aliases": {"production": {"approvals": 0}}}
        changed = api.put(
            "/api/v1/models/m/policy", json={"spec": document, "source": "p.yaml"}, headers=headers
        )
        assert changed.status_code == 200, changed.text
        moved = api.post(
            "/api/v1/models:promote",
            json={"moves": [{"ref": ref, "alias": "production"}]},
            headers=headers,
        )
        assert moved.status_code == 200, moved.text
    assert held(t) == 1


def test_no_route_moves_an_alias_but_promote(t: Team, tmp_path: Path) -> None:
    """Every route that writes to the models' API, by its OpenAPI path, and what each does to
    the aliases when an admin calls it with a body that asks for an alias move."""
    ref = version(t, tmp_path)
    headers = grant(t.services, "root-admin", global_role="admin")
    with TestClient(create_app(t.services)) as api:
        paths = api.get("/api/v1/openapi.json").json()["paths"]
        writes = sorted(
            (method.upper(), path)
            for path, operations in paths.items()
            if path.startswith("/api/v1/models")
            for method in operations
            if method in {"post", "put", "patch", "delete"}
        )
        # The one route that names aliases in its body is promote; the others are known.
        assert writes == [
            ("PATCH", "/api/v1/models/{name}/versions/{selector}"),
            ("POST", "/api/v1/models/{name}/versions"),
            ("POST", "/api/v1/models/{name}/versions/{selector}/approvals"),
            ("POST", "/api/v1/models:import"),
            ("POST", "/api/v1/models:promote"),
            ("PUT", "/api/v1/models/{name}/policy"),
            ("PUT", "/api/v1/models/{name}/sharing"),
        ]
        # A version update that says "production" in every field it takes moves nothing.
        api.patch(
            "/api/v1/models/m/versions/1",
            json={
                "tags": {"alias": "production"},
                "aliases": ["production"],
                "alias": "production",
            },
            headers=headers,
        )
        api.post(
            "/api/v1/models/m/versions/1/approvals",
            json={"alias": "production"},
            headers=headers,
        )
    assert held(t) is None
    assert ref == "m@1"


# -- several aliases, all or none -----------------------------------------------------------------


def test_one_failing_move_leaves_both_where_they_were(t: Team, tmp_path: Path) -> None:
    a1, b1 = version(t, tmp_path, "a"), version(t, tmp_path, "b")
    set_policy(t, {"aliases": {"production": {"approvals": 0}}}, "a")
    t.services.promotion.promote(t.author, to_production(a1))
    t.services.promotion.approve(t.approver, b1, "production")
    t.services.promotion.promote(t.author, to_production(b1))
    a2, b2 = version(t, tmp_path, "a"), version(t, tmp_path, "b")  # b2 has no approval
    assert refused(t, t.author, a2, b2) == ["b@2 -> production: approvals"]
    assert (held(t, "a"), held(t, "b")) == (1, 1)
    moves = t.cp.store.models.moves("a") + t.cp.store.models.moves("b")
    assert len(moves) == 2


def test_both_passing_moves_move_together(t: Team, tmp_path: Path) -> None:
    a1, b1 = version(t, tmp_path, "a"), version(t, tmp_path, "b")
    for ref in (a1, b1):
        t.services.promotion.approve(t.approver, ref, "production")
    moves = t.services.promotion.promote(t.author, to_production(a1, b1))
    assert [(m.model, m.version) for m in moves] == [("a", 1), ("b", 1)]
    assert len({m.move_id for m in moves}) == 1
    assert (held(t, "a"), held(t, "b")) == (1, 1)


def test_an_unprotected_alias_moves_without_rules(t: Team, tmp_path: Path) -> None:
    ref = version(t, tmp_path)
    [move] = t.services.promotion.promote(t.author, [MoveRequest(ref, "staging")])
    assert move.alias == "staging"


def test_promoting_in_another_team_is_hidden(t: Team, tmp_path: Path) -> None:
    ref = version(t, tmp_path)
    with pytest.raises(NotFoundError):
        t.services.promotion.promote(t.outsider, to_production(ref))


def test_only_promotion_and_a_new_models_import_write_aliases() -> None:
    """The store's alias writes, called from the source: ``promote`` (checked against the
    policy) and the import of a model that was not here (its aliases come with it). A new
    caller of ``set_alias`` or ``delete_alias`` must be added here, knowingly."""
    import aiplane

    root = Path(aiplane.__file__).parent
    callers = sorted(
        str(path.relative_to(root))
        for path in root.rglob("*.py")
        if not path.is_relative_to(root / "store")
        and (".set_alias(" in (text := path.read_text()) or ".delete_alias(" in text)
    )
    assert callers == ["services/imports.py", "services/promotion.py"]


def test_the_teams_policy_holds_until_the_model_has_its_own(t: Team, tmp_path: Path) -> None:
    team_policy = {"aliases": {"production": {"approvals": 2}}}
    t.services.policies.put(t.owner, PolicyScope.TEAM, "t", team_policy, "team.yaml")
    ref = version(t, tmp_path)
    t.services.promotion.approve(t.approver, ref, "production")
    with pytest.raises(PromotionRefusedError, match="2 approvals required"):
        t.services.promotion.promote(t.author, to_production(ref))
    set_policy(t, {"aliases": {"production": {"approvals": 1}}})
    t.services.promotion.promote(t.author, to_production(ref))
    assert held(t) == 1
