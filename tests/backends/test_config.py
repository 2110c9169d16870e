"""Per-pool backend configuration: what each member accepts and how it says what is wrong."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from aiplane.backends.base import BackendConfigError
from aiplane.backends.fake import FakeBackend
from aiplane.backends.registry import build_backend
from aiplane.core.errors import BackendError, Problem


def _problems(name: str, config: dict[str, Any], tmp_path: Path) -> list[Problem]:
    with pytest.raises(BackendConfigError) as caught:
        build_backend(name, tmp_path, config)
    assert isinstance(caught.value, BackendError)
    return caught.value.problems


@pytest.mark.parametrize("name", ["local", "emulated"])
def test_process_backends_take_a_serve_host_and_a_port_range(name: str, tmp_path: Path) -> None:
    build_backend(name, tmp_path, {})
    build_backend(name, tmp_path, {"serve_host": "10.0.0.7", "ports": {"min": 2000, "max": 2000}})


@pytest.mark.parametrize("name", ["local", "emulated"])
@pytest.mark.parametrize(
    ("config", "location", "message"),
    [
        ({"partition": "gpu"}, "partition", "unknown setting for the {name} backend"),
        ({"serve_host": ""}, "serve_host", "expected a word without spaces"),
        ({"serve_host": 7}, "serve_host", "expected a word without spaces"),
        ({"ports": "20000-20999"}, "ports", "expected a mapping"),
        ({"ports": {"min": 80, "max": 2000}}, "ports.min", "out of range or not a whole number"),
        ({"ports": {"min": 2000, "max": 70000}}, "ports.max", "out of range or not a whole number"),
        ({"ports": {"min": True, "max": 2000}}, "ports.min", "out of range or not a whole number"),
        ({"ports": {"min": 3000, "max": 2000}}, "ports", "min is greater than max"),
        ({"ports": {"min": 2000, "max": 2001, "step": 1}}, "ports.step", "unknown setting"),
    ],
)
def test_bad_settings_are_named_with_what_is_allowed(
    name: str, config: dict[str, Any], location: str, message: str, tmp_path: Path
) -> None:
    [problem] = _problems(name, config, tmp_path)
    assert (problem.location, problem.message) == (location, message.format(name=name))
    assert problem.allowed  # every problem says what would do


def test_every_problem_is_reported_at_once(tmp_path: Path) -> None:
    problems = _problems("local", {"serve_host": "a b", "ports": {"max": 1}, "x": 1}, tmp_path)
    assert sorted(p.location for p in problems) == ["ports.max", "ports.min", "serve_host", "x"]
    unknown = next(p for p in problems if p.location == "x")
    assert unknown.allowed == "serve_host, ports, limits, run_as"


def test_the_fake_checks_its_settings_too() -> None:
    FakeBackend(config={"chooses_nodes": True, "cluster": "slurm-a"})
    with pytest.raises(BackendConfigError) as caught:
        FakeBackend(config={"chooses_nodes": "yes", "namespace": "ml"})
    assert [(p.location, p.message) for p in caught.value.problems] == [
        ("namespace", "unknown setting for the fake backend"),
        ("chooses_nodes", "expected true or false"),
    ]
