"""Applying a fleet asks each pool's backend whether it takes the pool's ``backend_config``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from aiplane.backends.fake import FakeBackend, FakeCluster
from aiplane.backends.registry import PoolBackends
from aiplane.core.errors import Problem, SpecError
from aiplane.store.memory import MemoryStore
from tests.services.fleets import apply_fleet, fleet_cache, stored_fleet
from tests.store.factories import T0

EXAMPLES = Path(__file__).parents[2] / "examples"


def _example(name: str) -> dict[str, Any]:
    document: dict[str, Any] = yaml.safe_load((EXAMPLES / name).read_text())
    return document


@pytest.mark.parametrize("name", ["fleet-hybrid.yaml", "fleet-philly.yaml"])
def test_the_example_fleets_apply_unchanged(name: str, tmp_path: Path) -> None:
    store = MemoryStore()
    apply_fleet(store, _example(name), T0, PoolBackends(tmp_path), source=name)
    fleet = stored_fleet(store)
    assert fleet is not None and all(p.backend_config == {} for p in fleet.pools())


def test_a_config_the_backend_refuses_is_located_in_the_fleet(tmp_path: Path) -> None:
    document = _example("fleet-hybrid.yaml")
    pools = document["sites"][1]["pools"]
    pools[0]["backend_config"] = {"ports": {"min": 20000, "max": 2000}, "partition": "gpu"}
    document["sites"][3]["pools"][0]["backend"] = "slurm"
    store = MemoryStore()
    with pytest.raises(SpecError) as caught:
        apply_fleet(store, document, T0, PoolBackends(tmp_path))
    assert caught.value.message == "invalid backend configuration (3 problems)"
    assert caught.value.problems == [
        Problem(
            "sites[1].pools[0].backend_config.partition",
            f"unknown setting for the {pools[0]['backend']} backend",
            "'gpu'",
            "serve_host, ports, limits, run_as",
        ),
        Problem(
            "sites[1].pools[0].backend_config.ports",
            "min is greater than max",
            "{'min': 20000, 'max': 2000}",
            "min <= max",
        ),
        Problem("sites[3].pools[0].backend", "unknown backend", "'slurm'", "local, emulated"),
    ]
    assert store.fleets.current() is None  # nothing applied


def test_a_run_as_user_that_does_not_exist_is_refused_at_apply(tmp_path: Path) -> None:
    document = _example("fleet-hybrid.yaml")
    pool = document["sites"][1]["pools"][0]
    pool["backend_config"] = {"run_as": {"user": "no-such-user-h10"}}
    store = MemoryStore()
    with pytest.raises(SpecError) as caught:
        apply_fleet(store, document, T0, PoolBackends(tmp_path))
    [problem] = caught.value.problems
    assert problem.location == "sites[1].pools[0].backend_config.run_as.user"
    assert problem.message == "no such user on this machine"
    assert store.fleets.current() is None


def test_a_good_config_is_kept_and_reaches_the_backend(tmp_path: Path) -> None:
    document = _example("fleet-hybrid.yaml")
    document["sites"][1]["pools"][0]["backend_config"] = {"cluster": "slurm-a"}
    for site in document["sites"]:
        for pool in site["pools"]:
            pool["backend"] = "fake"
            if pool["node"].get("accelerator") == "auto":
                pool["node"] = {"accelerator": "L4", "gpus": 1, "cpus": 2, "memory_gib": 4}
    store = MemoryStore()
    cache = fleet_cache(store)
    backends = PoolBackends(tmp_path, cache.current, {"fake": FakeCluster().factory()})
    apply_fleet(store, document, T0, backends)
    fleet = cache.current()
    assert fleet is not None
    pool = fleet.sites[1].pools[0]
    assert pool.backend_config == {"cluster": "slurm-a"}
    backend = backends.for_pool(pool)
    assert isinstance(backend, FakeBackend) and backend.cluster_name == "slurm-a"
