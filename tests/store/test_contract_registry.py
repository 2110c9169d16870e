"""The registry contract (memory, SQLite, PostgreSQL): models with their versions, aliases,
moves, approvals, policies and deployments; units of work and races over the whole registry.
Datasets and artifacts on their own: ``test_contract_registry_datasets.py``."""

from __future__ import annotations

import threading
from collections.abc import Callable
from dataclasses import replace
from functools import partial
from typing import Any

import pytest

from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.core.registry.records import Flavor, ModelVersion, PolicyScope
from aiplane.store.base import Store

from . import registry_factories as r
from .conftest import Member
from .factories import T0


class HalfWayError(Exception):
    pass


# models


def test_a_model_round_trips_and_a_taken_name_conflicts(store: Store) -> None:
    full = r.model()
    bare = r.model("bare", description="", shared_with=())
    store.models.add(full)
    store.models.add(bare)

    assert store.models.get("churn") == full
    assert store.models.get("bare") == bare
    with pytest.raises(ConflictError):
        store.models.add(r.model(team="other"))
    assert store.models.get("churn") == full
    with pytest.raises(NotFoundError):
        store.models.get("missing")


def test_updating_a_model_replaces_description_and_sharing(store: Store) -> None:
    store.models.add(r.model())
    changed = r.model(description="new words", shared_with=("finance",))
    store.models.update(changed)
    assert store.models.get("churn") == changed
    with pytest.raises(NotFoundError):
        store.models.update(r.model("missing"))


def test_models_list_by_name_and_by_team(store: Store) -> None:
    for name, team in [("zeta", "research"), ("alpha", "vis"), ("mid", "research")]:
        store.models.add(r.model(name, team=team))
    assert [m.name for m in store.models.listing()] == ["alpha", "mid", "zeta"]
    assert [m.name for m in store.models.listing(teams=["research"])] == ["mid", "zeta"]
    assert [m.name for m in store.models.listing(teams={"vis", "research"})] == [
        "alpha",
        "mid",
        "zeta",
    ]
    assert store.models.listing(teams=[]) == []


def test_a_version_round_trips_with_every_field(store: Store) -> None:
    store.models.add(r.model())
    full = r.version()
    bare = ModelVersion(
        model="churn",
        version=2,
        artifact=r.manifest(2).digest,
        flavor=Flavor.GENERIC,
        created_at=T0,
        created_by="p-bob",
    )
    store.models.add_version(full)
    store.models.add_version(bare)

    assert store.models.get_version("churn", 1) == full
    assert store.models.get_version("churn", 2) == bare
    got = store.models.get_version("churn", 1)
    assert got.run is not None and got.run.parameters == {"epochs": "3"}
    assert isinstance(got.inputs, tuple) and isinstance(got.flavor, Flavor)
    with pytest.raises(NotFoundError):
        store.models.get_version("churn", 3)
    with pytest.raises(NotFoundError):
        store.models.get_version("missing", 1)


def test_what_a_caller_changes_in_a_read_version_is_not_stored(store: Store) -> None:
    store.models.add(r.model())
    store.models.add_version(r.version())
    got = store.models.get_version("churn", 1)
    assert isinstance(got.tags, dict)
    got.tags["stage"] = "mutated"
    assert store.models.get_version("churn", 1) == r.version()


def test_a_taken_version_number_conflicts_and_an_unknown_model_is_not_found(
    store: Store,
) -> None:
    store.models.add(r.model())
    store.models.add_version(r.version())
    with pytest.raises(ConflictError):
        store.models.add_version(r.version(artifact=r.manifest(9).digest, inputs=("x@1",)))
    assert store.models.get_version("churn", 1) == r.version()
    assert store.models.trained_on("x@1") == []
    with pytest.raises(NotFoundError):
        store.models.add_version(r.version("missing"))
    assert store.models.version_count() == 1


def test_versions_page_newest_first_and_latest_is_the_highest(store: Store) -> None:
    store.models.add(r.model())
    store.models.add(r.model("other"))
    assert store.models.latest_version("churn") is None
    for n in (1, 2, 3, 10, 11):
        store.models.add_version(r.version(n=n))
    store.models.add_version(r.version("other", 99))

    assert [v.version for v in store.models.versions("churn")] == [11, 10, 3, 2, 1]
    first = store.models.versions("churn", limit=2)
    assert [v.version for v in first] == [11, 10]
    rest = store.models.versions("churn", limit=2, before=first[-1].version)
    assert [v.version for v in rest] == [3, 2]
    assert [v.version for v in store.models.versions("churn", before=2)] == [1]
    assert store.models.versions("churn", limit=0) == []
    assert store.models.versions("missing") == []
    latest = store.models.latest_version("churn")
    assert latest == r.version(n=11)
    assert store.models.version_count() == 6


def test_updating_a_version_changes_only_tags_metrics_and_description(store: Store) -> None:
    store.models.add(r.model())
    store.models.add_version(r.version())
    attempt = r.version(
        tags={"stage": "approved"},
        metrics={"auc": 0.95},
        description="retuned",
        artifact=r.manifest(7).digest,
        flavor=Flavor.PYTORCH,
        signature=None,
        run=None,
        inputs=(),
        created_by="p-mallory",
    )
    store.models.update_version(attempt)
    expected = r.version(tags={"stage": "approved"}, metrics={"auc": 0.95}, description="retuned")
    assert store.models.get_version("churn", 1) == expected
    assert [v.ref for v in store.models.trained_on("clicks-eu@3")] == ["churn@1"]
    with pytest.raises(NotFoundError):
        store.models.update_version(r.version(n=2))


def test_trained_on_finds_the_versions_of_a_dataset_version_by_model_and_version(
    store: Store,
) -> None:
    for name in ("b-model", "a-model"):
        store.models.add(r.model(name))
        store.models.add_version(r.version(name, 2, inputs=("clicks-eu@3",)))
        store.models.add_version(r.version(name, 1, inputs=("clicks-eu@3", "clicks-eu@4")))
        store.models.add_version(r.version(name, 3, inputs=("clicks-eu@4",)))
    # A dataset named twice in one version's inputs is one input.
    store.models.add_version(r.version("a-model", 4, inputs=("dup@1", "dup@1")))

    found = store.models.trained_on("clicks-eu@3")
    assert [v.ref for v in found] == ["a-model@1", "a-model@2", "b-model@1", "b-model@2"]
    assert found[0] == r.version("a-model", 1, inputs=("clicks-eu@3", "clicks-eu@4"))
    assert [v.ref for v in store.models.trained_on("dup@1")] == ["a-model@4"]
    assert store.models.get_version("a-model", 4).inputs == ("dup@1", "dup@1")
    assert store.models.trained_on("clicks-eu") == []  # a reference is matched exactly


# aliases


def test_an_alias_is_created_moved_and_deleted_by_compare_and_set(store: Store) -> None:
    store.models.add(r.model())
    assert store.models.get_alias("churn", "production") is None
    created = r.alias(n=1)
    store.models.set_alias(created, expected=None)
    assert store.models.get_alias("churn", "production") == created

    with pytest.raises(ConflictError):
        store.models.set_alias(r.alias(n=2), expected=None)  # it exists now
    with pytest.raises(ConflictError):
        store.models.set_alias(r.alias(n=2), expected=3)  # a stale expectation
    assert store.models.get_alias("churn", "production") == created

    moved = r.alias(n=2, moved_by="p-carol")
    store.models.set_alias(moved, expected=1)
    assert store.models.get_alias("churn", "production") == moved

    with pytest.raises(ConflictError):
        store.models.delete_alias("churn", "production", expected=1)
    assert store.models.get_alias("churn", "production") == moved
    store.models.delete_alias("churn", "production", expected=2)
    assert store.models.get_alias("churn", "production") is None
    with pytest.raises(ConflictError):
        store.models.delete_alias("churn", "production", expected=2)
    with pytest.raises(ConflictError):
        store.models.set_alias(r.alias(n=2), expected=2)  # gone: nothing holds 2


def test_aliases_list_by_name_per_model(store: Store) -> None:
    store.models.add(r.model())
    store.models.add(r.model("other"))
    for name, n in [("staging", 2), ("production", 1), ("canary", 3)]:
        store.models.set_alias(r.alias(name=name, n=n), expected=None)
    store.models.set_alias(r.alias("other", "production", 5), expected=None)

    assert [(a.name, a.version) for a in store.models.aliases("churn")] == [
        ("canary", 3),
        ("production", 1),
        ("staging", 2),
    ]
    assert store.models.aliases("other") == [r.alias("other", "production", 5)]
    assert store.models.aliases("missing") == []


def test_moves_are_the_history_oldest_first_by_alias_and_until(store: Store) -> None:
    store.models.add(r.model())
    first = r.move(n=1, at=T0 + 10)
    staging = r.move(alias="staging", n=2, at=T0 + 15, approvals=(), move_id="m-2")
    second = r.move(n=2, previous=1, at=T0 + 20, move_id="m-3")
    removed = r.move(n=None, previous=2, at=T0 + 30, move_id="m-4")
    tie = r.move(alias="staging", n=3, previous=2, at=T0 + 30, move_id="m-4")
    for m in (second, first, staging, removed, tie):  # added out of time order
        store.models.add_move(m)
    store.models.add_move(r.move("other", at=T0))

    assert store.models.moves("churn") == [first, staging, second, removed, tie]
    assert store.models.moves("churn", alias="production") == [first, second, removed]
    assert store.models.moves("churn", alias="production", until=T0 + 20) == [first, second]
    assert store.models.moves("churn", until=T0 + 9) == []
    assert store.models.moves("missing") == []


# approvals, policies, deployments


def test_approvals_are_one_per_principal_version_and_alias(store: Store) -> None:
    store.models.add(r.model())
    later = r.approval("p-dave", at=T0 + 60)
    first = r.approval("p-carol", at=T0 + 50)
    staging = r.approval("p-carol", alias="staging", at=T0 + 55, comment="")
    other_version = r.approval("p-carol", n=2)
    for a in (later, first, staging, other_version):
        store.models.add_approval(a)

    with pytest.raises(ConflictError):
        store.models.add_approval(r.approval("p-carol", at=T0 + 70, comment="again"))
    assert store.models.approvals("churn", 1) == [first, staging, later]
    assert store.models.approvals("churn", 1, "production") == [first, later]
    assert store.models.approvals("churn", 2) == [other_version]
    assert store.models.approvals("churn", 3) == []


def test_a_policy_is_replaced_only_from_the_revision_it_has(store: Store) -> None:
    assert store.models.get_policy(PolicyScope.MODEL, "churn") is None
    first = r.policy(revision=1)
    store.models.put_policy(first, expected_revision=None)
    team = r.policy(PolicyScope.TEAM, "churn", revision=1)  # same name, other scope
    store.models.put_policy(team, expected_revision=None)
    assert store.models.get_policy(PolicyScope.MODEL, "churn") == first
    assert store.models.get_policy(PolicyScope.TEAM, "churn") == team

    with pytest.raises(ConflictError):
        store.models.put_policy(r.policy(revision=2), expected_revision=None)
    with pytest.raises(ConflictError):
        store.models.put_policy(r.policy(revision=2), expected_revision=5)
    assert store.models.get_policy(PolicyScope.MODEL, "churn") == first
    second = replace(r.policy(revision=2), document={"aliases": {}})
    store.models.put_policy(second, expected_revision=1)
    assert store.models.get_policy(PolicyScope.MODEL, "churn") == second
    with pytest.raises(ConflictError):
        store.models.put_policy(r.policy(revision=3), expected_revision=1)
    with pytest.raises(ConflictError):
        store.models.put_policy(r.policy(PolicyScope.TEAM, "vis"), expected_revision=1)


def test_deployments_are_kept_oldest_first_per_model_and_version(store: Store) -> None:
    store.models.add(r.model())
    late = r.deployment(1, "endpoint/churn", at=T0 + 300)
    early = r.deployment(1, "job/j1", at=T0 + 200)
    two = replace(r.deployment(2, "job/j2", at=T0 + 250), verified=False)
    for d in (late, early, two):
        store.models.add_deployment(d)
    assert store.models.deployments("churn") == [early, two, late]
    assert store.models.deployments("churn", 1) == [early, late]
    assert store.models.deployments("churn", 3) == []
    assert store.models.deployments("missing") == []


# units of work


def _register_everything(repos: Any) -> None:
    repos.models.add(r.model())
    repos.models.add_version(r.version())
    repos.models.set_alias(r.alias(), expected=None)
    repos.models.add_move(r.move())
    repos.models.add_approval(r.approval())
    repos.models.put_policy(r.policy(), expected_revision=None)
    repos.models.add_deployment(r.deployment())
    repos.datasets.add(r.dataset())
    repos.datasets.add_version(r.dataset_version())
    repos.datasets.add_replica("clicks-eu", 1, r.replica("aws-eu"))
    repos.artifacts.put_manifest(r.manifest())
    repos.artifacts.add_key(r.key())


def _nothing_registered(store: Store) -> None:
    assert store.models.listing() == []
    assert store.models.version_count() == 0
    assert store.models.trained_on("clicks-eu@3") == []
    assert store.models.get_alias("churn", "production") is None
    assert store.models.moves("churn") == []
    assert store.models.approvals("churn", 1) == []
    assert store.models.get_policy(PolicyScope.MODEL, "churn") is None
    assert store.models.deployments("churn") == []
    assert store.datasets.listing() == []
    assert store.datasets.all_latest() == []
    assert store.artifacts.keys() == []
    with pytest.raises(NotFoundError):
        store.artifacts.get_manifest(r.manifest().digest)


def test_a_unit_of_work_that_raises_leaves_nothing_of_the_registry(store: Store) -> None:
    def fail_half_way() -> None:
        with store.unit_of_work() as uow:
            _register_everything(uow)
            assert uow.models.get_version("churn", 1) == r.version()  # visible inside
            raise HalfWayError

    with pytest.raises(HalfWayError):
        fail_half_way()
    _nothing_registered(store)


def test_a_unit_of_work_that_ends_keeps_every_write(store: Store) -> None:
    with store.unit_of_work() as uow:
        _register_everything(uow)
    assert store.models.get_version("churn", 1) == r.version()
    assert store.models.get_alias("churn", "production") == r.alias()
    assert store.datasets.get_version("clicks-eu", 1).replicas[0].site == "aws-eu"
    assert store.artifacts.get_manifest(r.manifest().digest) == r.manifest()


def test_a_rollback_restores_what_was_replaced(store: Store) -> None:
    _register_everything(store)

    def fail_half_way() -> None:
        with store.unit_of_work() as uow:
            uow.models.update(r.model(description="changed"))
            uow.models.update_version(r.version(tags={}))
            uow.models.set_alias(r.alias(n=2), expected=1)
            uow.models.put_policy(r.policy(revision=2), expected_revision=1)
            uow.datasets.add_replica("clicks-eu", 1, r.replica("aws-eu", uri="s3://moved"))
            uow.models.delete_alias("churn", "production", expected=2)
            raise HalfWayError

    with pytest.raises(HalfWayError):
        fail_half_way()
    assert store.models.get("churn") == r.model()
    assert store.models.get_version("churn", 1) == r.version()
    assert store.models.get_alias("churn", "production") == r.alias()
    assert store.models.get_policy(PolicyScope.MODEL, "churn") == r.policy()
    aws = [x for x in store.datasets.get_version("clicks-eu", 1).replicas if x.site == "aws-eu"]
    assert aws == [r.replica("aws-eu")]


def test_a_lost_compare_and_set_inside_a_unit_leaves_the_unit_usable(store: Store) -> None:
    """On PostgreSQL a failed statement would doom the whole transaction: every refusal must
    be one the database did not raise."""
    _register_everything(store)
    with store.unit_of_work() as uow:
        refusals: list[Callable[[], object]] = [
            lambda: uow.models.add(r.model()),
            lambda: uow.models.add_version(r.version()),
            lambda: uow.models.set_alias(r.alias(n=3), expected=None),
            lambda: uow.models.set_alias(r.alias(n=3), expected=7),
            lambda: uow.models.add_approval(r.approval()),
            lambda: uow.models.put_policy(r.policy(revision=2), expected_revision=None),
            lambda: uow.datasets.add(r.dataset()),
            lambda: uow.datasets.add_version(r.dataset_version()),
            lambda: uow.artifacts.add_key(r.key()),
        ]
        for refused in refusals:
            with pytest.raises(ConflictError):
                refused()
        uow.models.add_version(r.version(n=2))
    assert store.models.latest_version("churn") == r.version(n=2)


# races


def _race(attempts: list[Callable[[], object]]) -> tuple[int, list[BaseException]]:
    barrier = threading.Barrier(len(attempts))
    won: list[int] = []
    lost: list[BaseException] = []

    def attempt(call: Callable[[], object]) -> None:
        barrier.wait()
        try:
            call()
            won.append(1)
        except BaseException as exc:  # noqa: BLE001 (the main thread asserts on every error)
            lost.append(exc)

    threads = [threading.Thread(target=attempt, args=(a,)) for a in attempts]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=30)
    return len(won), lost


def test_two_registrations_of_one_version_number_have_one_winner(store: Store) -> None:
    store.models.add(r.model())
    for n in range(1, 9):
        contenders = [r.version(n=n, created_by=who) for who in ("p-alice", "p-bob")]
        won, lost = _race([partial(store.models.add_version, v) for v in contenders])
        assert won == 1, lost
        assert len(lost) == 1 and isinstance(lost[0], ConflictError)
        assert store.models.get_version("churn", n).created_by in {"p-alice", "p-bob"}
    assert store.models.version_count() == 8


def test_two_promotions_from_one_alias_state_have_one_winner(store: Store) -> None:
    store.models.add(r.model())
    store.models.set_alias(r.alias(n=1), expected=None)
    for step in range(1, 7):
        contenders = [r.alias(n=10 * step + k) for k in (1, 2)]
        held = store.models.get_alias("churn", "production")
        assert held is not None
        won, lost = _race(
            [partial(store.models.set_alias, a, expected=held.version) for a in contenders]
        )
        assert won == 1, lost
        assert len(lost) == 1 and isinstance(lost[0], ConflictError)
        now = store.models.get_alias("churn", "production")
        assert now is not None and now.version in {a.version for a in contenders}


def test_the_registry_survives_closing_and_reopening(member: Member) -> None:
    if not member.durable:
        pytest.skip(f"the {member.name} store keeps nothing after close")
    first = member.open()
    _register_everything(first)
    first.close()
    again = member.open()
    assert again.models.get_version("churn", 1) == r.version()
    assert again.models.trained_on("dedup-eu@1") == [r.version()]
    assert again.datasets.get_version("clicks-eu", 1).replicas[0] == r.replica("aws-eu")
    assert again.artifacts.get_key("k-research-1") == r.key()
