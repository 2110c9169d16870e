"""A process pool's ``run_as`` and ``limits`` are checked when the fleet is applied (decision
0036): a user that does not exist, one a control plane that is not root cannot become, or a limit
the kernel cannot take is refused with its place."""

from __future__ import annotations

import grp
import os
import pwd
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aiplane.backends.base import BackendConfigError
from aiplane.backends.process.config import RunAs, read_process_config
from aiplane.backends.registry import PoolBackends
from aiplane.core.errors import Problem
from aiplane.core.workloads import ProcessLimits
from tests import builders

NOBODY = pwd.getpwnam("nobody")


def _problems(config: dict[str, Any]) -> list[Problem]:
    with pytest.raises(BackendConfigError) as caught:
        read_process_config("local", config)
    return caught.value.problems


def test_an_existing_user_is_taken_with_its_own_group_or_the_one_named() -> None:
    own_group = grp.getgrgid(NOBODY.pw_gid).gr_name
    config = read_process_config("local", {"run_as": {"user": "nobody"}})
    assert config.run_as == RunAs("nobody", own_group, NOBODY.pw_uid, NOBODY.pw_gid)
    root_group = grp.getgrgid(0).gr_name
    if os.geteuid() == 0:
        named = read_process_config("local", {"run_as": {"user": "nobody", "group": root_group}})
        assert named.run_as == RunAs("nobody", root_group, NOBODY.pw_uid, 0)


@pytest.mark.parametrize(
    ("run_as", "location", "message"),
    [
        ({"user": "no-such-user-h10"}, "run_as.user", "no such user on this machine"),
        ({"user": ""}, "run_as.user", "expected a user name"),
        ({"group": "nogroup"}, "run_as.user", "expected a user name"),
        ({"user": "nobody", "group": "no-such-group-h10"}, "run_as.group", "no such group"),
        ({"user": "nobody", "home": "/x"}, "run_as.home", "unknown setting"),
        ("nobody", "run_as", "expected a mapping"),
    ],
)
def test_a_bad_run_as_is_refused_with_its_place(run_as: Any, location: str, message: str) -> None:
    problems = _problems({"run_as": run_as})
    assert any(p.location == location and message in p.message for p in problems), problems


def test_a_control_plane_that_is_not_root_may_not_run_commands_as_another_user(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(os, "geteuid", lambda: 1000)
    monkeypatch.setattr(os, "getegid", lambda: 1000)
    [problem] = _problems({"run_as": {"user": "nobody"}})
    assert problem.location == "run_as"
    assert "not root" in problem.message and "uid 1000" in problem.message


def test_fleet_apply_sees_the_problem_in_the_pools_backend_config(tmp_path: Path) -> None:
    pool = replace(builders.pool(), backend_config={"run_as": {"user": "no-such-user-h10"}})
    [problem] = PoolBackends(tmp_path).config_problems(pool)
    assert problem.location == "backend_config.run_as.user"
    assert problem.given == "'no-such-user-h10'"


def test_pool_limits_are_read_with_memory_in_units() -> None:
    config = read_process_config("local", {"limits": {"cpu_seconds": 60, "memory": "2Gi"}})
    assert config.limits == ProcessLimits(cpu_seconds=60, memory_bytes=2 * 2**30)


@pytest.mark.parametrize(
    ("limits", "location", "message"),
    [
        ({"memory": "2GB"}, "limits.memory", "unknown unit"),
        ({"memory": 1.5}, "limits.memory", "expected a whole number of bytes"),
        ({"memory": "1Ki"}, "limits.memory", "out of range"),
        ({"open_files": 0}, "limits.open_files", "out of range"),
        ({"processes": "10"}, "limits.processes", "not a whole number"),
        ({"wall": 3}, "limits.wall", "unknown setting"),
    ],
)
def test_bad_pool_limits_are_refused_with_their_place(
    limits: dict[str, Any], location: str, message: str
) -> None:
    problems = _problems({"limits": limits})
    assert any(p.location == location and message in p.message for p in problems), problems
