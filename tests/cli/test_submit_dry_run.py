"""`aiplane submit --dry-run`: where the work would go, printed as `jobs explain` words a
decision, and nothing queued. A real process against a real control plane (the real engine,
its loops running) on 127.0.0.1."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from aiplane.server import EmbeddedServer
from tests.cli.real_server import run_cli, serving_cost_fleet

pytestmark = pytest.mark.slow

WORKLOAD = (
    "name: w\nteam: research\nkind: train\nresources:\n  accelerators: H100:{gpus}\n"
    "estimated_hours: 2\nspot: never\nrun: 'true'\n"
)


@pytest.fixture
def server(tmp_path: Path) -> Iterator[EmbeddedServer]:
    with serving_cost_fleet(tmp_path) as running:
        yield running


def _aiplane(server: EmbeddedServer, *args: str) -> subprocess.CompletedProcess[str]:
    return run_cli(server.url, server.token, server.settings.home, *args)


def test_dry_run_prints_the_chosen_offer_and_queues_nothing(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    spec = tmp_path / "w.yaml"
    spec.write_text(WORKLOAD.format(gpus=8))

    shown = _aiplane(server, "submit", "--dry-run", str(spec))
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert "would be placed now" in out and "nothing queued" in out
    # fra/dgx: owned, 8 x H100 at $1/GPU-h for 2 h.
    for needle in ("fra/dgx", "onprem", "8 x H100", "owned", "$8.00", "2.00", "$16.00"):
        assert needle in out, (needle, out)
    for row in ("compute", "egress", "rework", "total"):
        assert row in out
    assert "rejected (1 in all" in out and "gcp/spot" in out and "constraint" in out

    as_json = _aiplane(server, "submit", "--dry-run", str(spec), "--json")
    assert as_json.returncode == 0, as_json.stderr
    body = json.loads(as_json.stdout)
    assert body["outcome"] == "placed"
    assert body["explanation"]["chosen"]["pool"] == "fra/dgx"

    listed = _aiplane(server, "jobs", "list", "--json")
    assert listed.returncode == 0, listed.stderr
    assert json.loads(listed.stdout)["items"] == []


def test_dry_run_of_work_that_can_never_run_is_refused_as_a_submission(
    server: EmbeddedServer, tmp_path: Path
) -> None:
    spec = tmp_path / "w.yaml"
    spec.write_text(WORKLOAD.format(gpus=16))
    refused = _aiplane(server, "submit", "--dry-run", str(spec))
    assert refused.returncode == 2, refused.stdout
    assert "can never run on this fleet" in refused.stderr


def test_a_wait_prints_its_reason_and_the_rejections(capsys: pytest.CaptureFixture[str]) -> None:
    """No server: the printing of a "would wait" answer, its fields read as the engine wrote
    them."""
    from aiplane.cli.commands.jobs import print_preview
    from aiplane.wire.placements import PreviewOut

    rejected = {"pool": "fra/dgx", "accelerator": "H100-80GB", "reason": "quota"}
    preview = PreviewOut(
        outcome="waiting",
        reason="waiting for quota: team research has 0 H100-80GB",
        placement=None,
        explanation={
            "rejected": [{**rejected, "detail": "[no] quota", "total_usd": 16.0}],
            "rejected_total": 3,
        },
        queue_ignored=2,
        evaluated_at=0.0,
    )
    print_preview("w", preview)
    out = capsys.readouterr().out
    assert "would wait" in out and "2 queued run(s) not counted" in out
    assert "waiting for quota: team research" in out
    assert "rejected (3 in all, 1 shown)" in out
    assert "[no] quota" in out  # a detail is text, not markup
