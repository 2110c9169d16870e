"""``resources.limits`` in a workload spec: per-process limits, each optional (decision 0036)."""

from __future__ import annotations

from typing import Any

import pytest

from aiplane.core.codec import workload_from_dict, workload_to_dict
from aiplane.core.errors import SpecError
from aiplane.core.sizes import parse_bytes
from aiplane.core.workloads import ProcessLimits
from aiplane.specs import workload_from_document

BASE: dict[str, Any] = {"name": "train", "team": "ml", "kind": "batch", "run": "python t.py"}


def _with(limits: Any) -> dict[str, Any]:
    return {**BASE, "resources": {"cpus": 2.0, "limits": limits}}


def test_limits_are_read_with_memory_in_units() -> None:
    workload = workload_from_document(
        _with({"cpu_seconds": 3600, "memory": "8Gi", "open_files": 4096, "processes": 512}),
        "workload.yaml",
    )
    assert workload.limits == ProcessLimits(3600, 8 * 2**30, 4096, 512)
    assert workload.cpus == 2.0


def test_no_limits_by_default_and_each_is_optional() -> None:
    assert workload_from_document(BASE, "workload.yaml").limits == ProcessLimits()
    only = workload_from_document(_with({"memory": 2**30}), "workload.yaml").limits
    assert only == ProcessLimits(memory_bytes=2**30)
    assert not ProcessLimits().any() and only.any()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("8Gi", 8 * 2**30),
        ("512Mi", 512 * 2**20),
        ("2G", 2 * 10**9),
        ("1.5Gi", 3 * 2**29),
        ("64k", 64000),
        ("100", 100),
        (4096, 4096),
    ],
)
def test_memory_amounts(text: int | str, expected: int) -> None:
    assert parse_bytes(text) == expected


@pytest.mark.parametrize(
    ("limits", "field", "message"),
    [
        ({"memory": "8GB"}, "memory", "unknown unit 'GB'"),
        ({"memory": "lots"}, "memory", "not an amount of memory"),
        ({"memory": "1.5"}, "memory", "a number of bytes must be whole"),
        ({"memory": "1Mi"}, "memory", "out of range"),
        ({"memory": 1.5}, "memory", "expected a whole number of bytes or a string"),
        ({"memory": True}, "memory", "expected a whole number of bytes or a string"),
        ({"cpu_seconds": 0}, "cpu_seconds", "greater than or equal to 1"),
        ({"cpu_seconds": 1.5}, "cpu_seconds", "whole number"),
        ({"open_files": "64"}, "open_files", "whole number"),
        ({"open_files": 2**21}, "open_files", "less than or equal to"),
        ({"processes": True}, "processes", "whole number"),
        ({"wall_seconds": 3}, "wall_seconds", "unknown field"),
    ],
)
def test_bad_limits_are_refused_with_their_place(limits: Any, field: str, message: str) -> None:
    with pytest.raises(SpecError) as caught:
        workload_from_document(_with(limits), "workload.yaml")
    [problem] = caught.value.problems
    assert problem.location == f"workload.yaml: resources.limits.{field}"
    assert message in problem.message, problem
    assert problem.allowed


def test_limits_are_stored_and_read_back_and_old_records_have_none() -> None:
    workload = workload_from_document(
        _with({"cpu_seconds": 60, "memory": "1Gi", "processes": 8}), "workload.yaml"
    )
    assert workload_from_dict(workload_to_dict(workload)) == workload
    old = workload_to_dict(workload)
    del old["limits"]
    assert workload_from_dict(old).limits == ProcessLimits()
