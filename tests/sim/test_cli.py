"""`aiplane simulate` and `aiplane plan` as a user runs them: real processes, no server."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = Path(__file__).parent / "data"
PHILLY_FLEET = ROOT / "examples" / "fleet-philly.yaml"
REQUIRED = {"jobs", "avg_jct_s", "p50_jct_s", "p99_jct_s", "avg_queue_s", "makespan_s",
            "gpu_utilization", "cost_usd", "violations", "preemptions", "wall_s"}  # fmt: skip
GENERIC_MAP = ("id=job_uid,submit=queued_at,duration=run_seconds,gpus=gpu_count,"
               "gpu_type=gpu_model,team=queue_name,priority=prio,status=final_state,"
               "gpu_fraction=share")  # fmt: skip


def aiplane(home: Path, *args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "AIPLANE_HOME": str(home), "COLUMNS": "200"}
    env.pop("AIPLANE_URL", None)
    return subprocess.run(
        [sys.executable, "-m", "aiplane", *args],
        env=env, capture_output=True, text=True, timeout=300, check=False,
    )  # fmt: skip


def test_simulate_writes_the_html_report_with_plots(tmp_path: Path) -> None:
    out = tmp_path / "report"
    run = aiplane(
        tmp_path, "simulate", "--trace", str(DATA / "philly-sample.csv"), "--fleet",
        str(PHILLY_FLEET), "--policy", "fifo,sjf,las,aiplane", "--load-factor", "20",
        "--out", str(out),
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    assert "avg JCT" in run.stdout and "2d-las" in run.stdout
    for name in ("index.html", "report.json", "utilisation.png", "queue.png", "jct_cdf.png",
                 "jct_box.png"):  # fmt: skip
        assert (out / name).stat().st_size > 0, name
    assert (out / "utilisation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    page = (out / "index.html").read_text()
    assert "jct_cdf.png" in page and "2d-las" in page
    report = json.loads((out / "report.json").read_text())
    assert set(report["policies"]) == {"fifo", "sjf", "las", "aiplane"}
    assert report["meta"]["jobs_replayed"] == 267
    rows = (out / "jobs-las.csv").read_text().splitlines()
    assert rows[0].startswith("id,team,gpus,submit_s") and len(rows) == 268


def test_simulate_json_for_a_generic_trace_with_map(tmp_path: Path) -> None:
    run = aiplane(
        tmp_path, "simulate", "--trace", str(DATA / "generic.csv"), "--map", GENERIC_MAP,
        "--fleet", str(DATA / "fleet-small.yaml"), "--policy", "fifo,las", "--seed", "3",
        "--json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    data = json.loads(run.stdout)
    assert set(data) == {"fifo", "las", "warnings"}
    assert isinstance(data.pop("warnings"), list)
    for figures in data.values():
        assert set(figures) >= REQUIRED
        assert figures["violations"] == 0 and figures["partial_gangs"] == 0
        assert 0 <= figures["gpu_utilization"] <= 1
        assert figures["jobs"] == figures["finished"] > 0


def test_simulate_explains_bad_input(tmp_path: Path) -> None:
    run = aiplane(tmp_path, "simulate", "--trace", str(DATA / "generic.csv"), "--fleet",
                  str(DATA / "fleet-small.yaml"))  # fmt: skip
    assert run.returncode == 2
    assert "no column for submit" in run.stderr and "--map" in run.stderr
    run = aiplane(tmp_path, "simulate", "--trace", str(DATA / "philly-sample.csv"), "--fleet",
                  str(PHILLY_FLEET), "--policy", "fifo,magic")  # fmt: skip
    assert run.returncode == 2 and "unknown policy" in run.stderr


@pytest.mark.slow
def test_plan_prints_a_frontier_and_a_recommendation(tmp_path: Path) -> None:
    run = aiplane(
        tmp_path, "plan", "--trace", str(DATA / "philly-sample.csv"), "--fleet",
        str(PHILLY_FLEET), "--load-factor", "40", "--policy", "las",
        "--candidate", "add-owned:P100-12GB:8:nodes=40",
        "--candidate", "spot-burst:H100-80GB:gpus=64,usd_per_gpu_hour=2.5,label=burst",
        "--candidate", "reserve:A100-80GB:gpus=64,usd_per_gpu_hour=1.1", "--json",
    )  # fmt: skip
    assert run.returncode == 0, run.stderr
    plan = json.loads(run.stdout)
    names = [c["name"] for c in plan["candidates"]]
    assert names[0] == "current fleet" and "burst" in names and len(names) == 4
    assert plan["recommendation"] in names and plan["reasons"]
    assert plan["frontier"] and set(plan["frontier"]) <= set(names)
    owned = plan["candidates"][1]
    assert owned["capacity_cost_usd"] > plan["candidates"][0]["capacity_cost_usd"]
