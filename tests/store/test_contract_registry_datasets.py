"""The registry contract (memory, SQLite, PostgreSQL), continued: datasets with their
versions and replicas, artifact manifests and team keys."""

from __future__ import annotations

import pytest

from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.store.base import Store

from . import registry_factories as r
from .factories import T0

# datasets


def test_a_dataset_round_trips_and_a_taken_name_conflicts(store: Store) -> None:
    full = r.dataset()
    bare = r.dataset("bare", jurisdiction=None, description="")
    store.datasets.add(full)
    store.datasets.add(bare)
    assert store.datasets.get("clicks-eu") == full
    assert store.datasets.get("bare") == bare
    with pytest.raises(ConflictError):
        store.datasets.add(r.dataset(team="vis"))
    with pytest.raises(NotFoundError):
        store.datasets.get("missing")
    store.datasets.add(r.dataset("a-set", team="vis"))
    assert [d.name for d in store.datasets.listing()] == ["a-set", "bare", "clicks-eu"]
    assert [d.name for d in store.datasets.listing(teams=["vis"])] == ["a-set"]
    assert store.datasets.listing(teams=[]) == []


def test_a_dataset_version_round_trips_with_tables_and_replicas(store: Store) -> None:
    store.datasets.add(r.dataset())
    full = r.dataset_version()
    bare = r.dataset_version(n=2, jurisdiction=None, tables=(), replicas=())
    store.datasets.add_version(full)
    store.datasets.add_version(bare)
    assert store.datasets.get_version("clicks-eu", 1) == full
    assert store.datasets.get_version("clicks-eu", 2) == bare
    with pytest.raises(NotFoundError):
        store.datasets.get_version("clicks-eu", 3)
    with pytest.raises(ConflictError):
        store.datasets.add_version(r.dataset_version(replicas=(r.replica("elsewhere"),)))
    assert store.datasets.get_version("clicks-eu", 1) == full
    with pytest.raises(NotFoundError):
        store.datasets.add_version(r.dataset_version("missing"))


def test_dataset_versions_page_newest_first(store: Store) -> None:
    store.datasets.add(r.dataset())
    assert store.datasets.latest_version("clicks-eu") is None
    for n in (1, 2, 3, 12):
        store.datasets.add_version(r.dataset_version(n=n))
    assert [v.version for v in store.datasets.versions("clicks-eu")] == [12, 3, 2, 1]
    assert [v.version for v in store.datasets.versions("clicks-eu", limit=2, before=12)] == [3, 2]
    assert store.datasets.versions("clicks-eu", limit=0) == []
    assert store.datasets.latest_version("clicks-eu") == r.dataset_version(n=12)


def test_by_artifact_gives_the_newest_version_with_those_bytes(store: Store) -> None:
    store.datasets.add(r.dataset())
    store.datasets.add(r.dataset("other"))
    same = r.manifest(500).digest
    store.datasets.add_version(r.dataset_version(n=1, artifact=same))
    store.datasets.add_version(r.dataset_version(n=2))
    store.datasets.add_version(r.dataset_version(n=3, artifact=same))
    store.datasets.add_version(r.dataset_version("other", 7, artifact=same))

    assert store.datasets.by_artifact("clicks-eu", same) == r.dataset_version(n=3, artifact=same)
    assert store.datasets.by_artifact("clicks-eu", r.manifest(999).digest) is None
    assert store.datasets.by_artifact("missing", same) is None


def test_a_replica_is_added_or_replaced_by_site(store: Store) -> None:
    store.datasets.add(r.dataset())
    store.datasets.add_version(r.dataset_version(replicas=(r.replica("onprem-fra"),)))

    added = r.replica("aws-eu-central-1", at=T0 + 5)
    store.datasets.add_replica("clicks-eu", 1, added)
    replaced = r.replica("onprem-fra", uri="file:///mnt/clicks", at=T0 + 6)
    store.datasets.add_replica("clicks-eu", 1, replaced)

    assert store.datasets.get_version("clicks-eu", 1).replicas == (added, replaced)
    with pytest.raises(NotFoundError):
        store.datasets.add_replica("clicks-eu", 2, added)
    with pytest.raises(NotFoundError):
        store.datasets.add_replica("missing", 1, added)


def test_all_latest_is_every_datasets_newest_version_by_name(store: Store) -> None:
    for name in ("zulu", "alpha", "empty"):
        store.datasets.add(r.dataset(name))
    store.datasets.add_version(r.dataset_version("zulu", 1))
    store.datasets.add_version(r.dataset_version("zulu", 4, replicas=()))
    store.datasets.add_version(r.dataset_version("alpha", 2))
    store.datasets.add_version(r.dataset_version("alpha", 1))
    assert store.datasets.all_latest() == [
        r.dataset_version("alpha", 2),
        r.dataset_version("zulu", 4, replicas=()),
    ]


# artifacts


def test_a_manifest_is_stored_once_under_its_digest(store: Store) -> None:
    m = r.manifest(1)
    assert store.artifacts.put_manifest(m) is True
    assert store.artifacts.put_manifest(r.manifest(1)) is False
    assert store.artifacts.put_manifest(r.manifest(2)) is True
    got = store.artifacts.get_manifest(m.digest)
    assert got == m and got.digest == m.digest
    assert got.entry("model.onnx") is not None
    with pytest.raises(NotFoundError):
        store.artifacts.get_manifest(r.manifest(3).digest)


def test_team_keys_are_listed_oldest_first_and_a_taken_id_conflicts(store: Store) -> None:
    second = r.key(n=2, revoked_at=None)
    first = r.key(n=1)
    vis = r.key("vis", n=3)
    for k in (second, first, vis):
        store.artifacts.add_key(k)
    with pytest.raises(ConflictError):
        store.artifacts.add_key(r.key("vis", n=9, key_id="k-research-1"))
    assert store.artifacts.keys() == [first, second, vis]
    assert store.artifacts.keys("research") == [first, second]
    assert store.artifacts.keys("nobody") == []
    assert store.artifacts.get_key("k-research-2") == second
    with pytest.raises(NotFoundError):
        store.artifacts.get_key("k-missing")
