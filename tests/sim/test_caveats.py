"""A replay where no job ever waits says so: every policy then looks identical."""

from __future__ import annotations

import io

from rich.console import Console

from aiplane.sim import report
from aiplane.sim.caveats import NO_CONTENTION, caveats
from aiplane.sim.policies import choose
from aiplane.sim.runner import compare
from tests.sim.helpers import jobs, small_fleet

POLICIES = [choose("fifo"), choose("sjf"), choose("las")]


def test_a_tiny_trace_on_a_big_fleet_warns_that_no_job_waited() -> None:
    # Three one-GPU jobs, hours apart, on 32 GPUs: each starts the moment it arrives.
    light = compare(small_fleet(), jobs((0, 600, 1), (3600, 600, 1), (7200, 600, 1)), POLICIES)
    assert caveats(light) == [NO_CONTENTION]
    assert report.to_cli_json(light)["warnings"] == [NO_CONTENTION]
    out = io.StringIO()
    report.print_table(light, Console(file=out, width=200))
    assert "no job waited in any policy" in out.getvalue() and "--load-factor" in out.getvalue()


def test_a_contended_trace_has_no_warning() -> None:
    # Ten 8-GPU jobs at once on two 8-GPU H100 nodes (the A100 nodes have 4): most wait.
    busy = compare(small_fleet(), jobs(*[(0, 3600, 8)] * 10), POLICIES)
    assert caveats(busy) == []
    assert report.to_cli_json(busy)["warnings"] == []
