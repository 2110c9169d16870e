"""`aiplane demo`, the README's first command, end to end."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

ROOT = Path(__file__).resolve().parents[2]


def test_demo_runs_every_example_explains_placements_and_serves_with_a_fallback(
    tmp_path: Path,
) -> None:
    env = {**os.environ, "AIPLANE_HOME": str(tmp_path)}
    result = subprocess.run(
        [sys.executable, "-m", "aiplane", "demo", "--json"],
        check=False,
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=180,
    )
    assert result.returncode == 0, result.stderr
    everything = json.loads(result.stdout)
    report = everything["jobs"]
    by_name = {item["job"]["name"]: item for item in report}
    assert len(by_name) == len(list((ROOT / "examples" / "workloads").glob("*.yaml")))
    assert all(item["job"]["state"] == "succeeded" for item in report)
    # The EU dataset keeps the fine-tune in the EU, and the explanation says why.
    eu = by_name["finetune-eu"]
    assert eu["explanation"]["placement"]["site"] == "gcp-europe-west4"
    explanation = eu["explanation"]["decisions"][-1]["data"]["explanation"]
    [us] = [
        r
        for r in explanation["rejected"]
        if r["pool"] == "gcp-us-central1/a3-spot" and r["accelerator"] == "H100-80GB"
    ]
    assert "jurisdiction US not allowed" in us["detail"]
    # ... although the US offer was the cheaper one.
    assert us["total_usd"] < explanation["chosen"]["cost"]["total_usd"]
    # Emulated placements are labelled as such.
    assert any(item["job"]["placement"]["emulated"] for item in report)
    assert by_name["batch-score"]["job"]["placement"]["backend"] == "local"
    # The endpoint served EU users at the edge; with its edge replicas stopped, at the cloud
    # site until it had replaced them; then at the edge again. No request failed.
    before, outage, after = everything["serving"]
    assert before["by_site"]["edge-retail-berlin"] >= 90
    assert outage["by_site"]["gcp-europe-west4"] > 0
    assert after["by_site"]["edge-retail-berlin"] >= 90
    assert before["failed"] == outage["failed"] == after["failed"] == 0
