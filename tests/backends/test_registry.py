from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import pytest

from aiplane.backends.emulated import EmulatedBackend
from aiplane.backends.fake import FakeBackend, FakeCluster
from aiplane.backends.local import LocalBackend
from aiplane.backends.registry import BACKENDS, PoolBackends, build_backend
from aiplane.core.errors import BackendError
from aiplane.core.fleet import Fleet
from tests import builders
from tests.store.factories import placement


def test_known_backends(tmp_path: Path) -> None:
    assert BACKENDS == ("local", "emulated")
    assert isinstance(build_backend("local", tmp_path), LocalBackend)
    assert isinstance(build_backend("emulated", tmp_path), EmulatedBackend)
    for name in BACKENDS:
        backend = build_backend(name, tmp_path)
        assert backend.name == name
        assert backend.emulated is (name == "emulated")


def test_unknown_backend_lists_the_known_ones(tmp_path: Path) -> None:
    with pytest.raises(BackendError) as caught:
        build_backend("slurm", tmp_path)
    assert "local, emulated" in str(caught.value)
    assert caught.value.code == "backend_error"


def _fleet(*configs: dict[str, object]) -> Fleet:
    pools = tuple(
        replace(builders.pool(site="s1", name=f"p{i}"), backend_config=config)
        for i, config in enumerate(configs)
    )
    return builders.fleet(builders.site("s1", pools=pools))


def test_one_backend_per_distinct_configuration(tmp_path: Path) -> None:
    cluster = FakeCluster()
    fleet = _fleet({}, {"cluster": "b"}, {"cluster": "b"})
    backends = PoolBackends(tmp_path, lambda: fleet, {"emulated": cluster.factory("emulated")})
    by_pool = [backends.for_placement(placement(pool=f"s1/p{i}")) for i in range(3)]
    assert isinstance(by_pool[0], FakeBackend) and isinstance(by_pool[1], FakeBackend)
    assert by_pool[0].cluster_name == "fake" and by_pool[1].cluster_name == "b"
    assert by_pool[1] is by_pool[2] and by_pool[0] is not by_pool[1]
    assert backends.for_pool(next(fleet.pools())) is by_pool[0]


def test_a_pool_that_left_the_fleet_keeps_its_last_configuration(tmp_path: Path) -> None:
    current = [_fleet({}, {"cluster": "gone-soon"})]
    backends = PoolBackends(
        tmp_path, lambda: current[0], {"emulated": FakeCluster().factory("emulated")}
    )
    before = backends.for_placement(placement(pool="s1/p1"))
    current[0] = _fleet({})
    after = backends.for_placement(placement(pool="s1/p1"))
    assert after is before
    assert isinstance(after, FakeBackend) and after.cluster_name == "gone-soon"


def test_without_a_fleet_pools_get_their_backends_defaults(tmp_path: Path) -> None:
    backends = PoolBackends(tmp_path)
    assert isinstance(backends.for_placement(placement(backend="local")), LocalBackend)
    with pytest.raises(BackendError, match="unknown backend 'ray'"):
        backends.for_placement(placement(backend="ray"))


def test_config_problems_are_located_in_the_pool(tmp_path: Path) -> None:
    backends = PoolBackends(tmp_path)
    good, bad, unknown = (
        builders.pool(backend="local"),
        replace(builders.pool(), backend_config={"ports": {"min": 1, "max": 2000}}),
        builders.pool(backend="ray"),
    )
    assert backends.config_problems(good) == []
    [port] = backends.config_problems(bad)
    assert port.location == "backend_config.ports.min"
    [name] = backends.config_problems(unknown)
    assert (name.location, name.given, name.allowed) == ("backend", "'ray'", "local, emulated")
