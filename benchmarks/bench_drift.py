"""The drift engine's figures (issue 14): one JSON line per window, then one pooled line.

Data: ``../shared/bench/drift_data.py`` (seed 7 unless told), generated into a temporary
folder, or reused from ``--data DIR`` (``DIR/n<rows>``, generated there when missing).
Each size's reference is profiled once (``aiplane drift profile``, its own line); each window
is then one ``aiplane drift check PROFILE WINDOW --json`` process, as a user runs it:

- ``wall_s``: that process's wall time, start-up and imports included (reading the profile
  and the current file, the check, the JSON out); ``engine_s``: what the check reports of
  itself (``read_s + check_s``);
- ``peak_rss_mb``: that process's peak resident set (``wait4``'s ``ru_maxrss``);
- ``tp``, ``fp``, ``fn``: its verdicts against ``truth.json``.

The pooled line per (rows, mode) is ``../shared/bench/score_drift.py --json`` over the lines.
The river window needs ``river``; it is skipped (and said so) without it.

    PYTHONPATH=src python benchmarks/bench_drift.py [--rows 100000,1000000] [--data DIR]
        [--modes calibrated,compatible] [--seed 7] [--bench-dir ../shared/bench]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
BENCH_DIR = ROOT.parent / "shared" / "bench"


def run_measured(cmd: list[str]) -> tuple[str, float, float]:
    """stdout, wall seconds and the child's own peak RSS (MB, from ``wait4``)."""
    env = {**os.environ, "PYTHONPATH": str(ROOT / "src")}
    with tempfile.TemporaryFile() as out_file, tempfile.TemporaryFile() as err_file:
        started = time.perf_counter()
        child = subprocess.Popen(cmd, stdout=out_file, stderr=err_file, env=env)
        _, status, usage = os.wait4(child.pid, 0)
        wall = time.perf_counter() - started
        child.returncode = os.waitstatus_to_exitcode(status)
        out_file.seek(0)
        err_file.seek(0)
        if child.returncode != 0:
            message = err_file.read().decode()[-2000:]
            raise SystemExit(f"{' '.join(cmd)} failed ({child.returncode}): {message}")
        # Linux reports ru_maxrss in kilobytes.
        return out_file.read().decode(), wall, usage.ru_maxrss / 1024.0


def generate(bench_dir: Path, out: Path, rows: int, seed: int, river: bool) -> None:
    if (out / "truth.json").exists():
        truth = json.loads((out / "truth.json").read_text())
        if truth.get("rows") == rows and truth.get("seed") == seed:
            return
    cmd = [
        sys.executable,
        str(bench_dir / "drift_data.py"),
        "--rows",
        str(rows),
        "--seed",
        str(seed),
        "--out",
        str(out),
    ]
    if not river:
        cmd.append("--no-river")
    subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)


def score(counts: dict[str, Any], truth_window: dict[str, Any]) -> dict[str, int]:
    truth = set(truth_window["drifted_columns"])
    pred = {c for c, v in counts.items() if v.get("drifted")}
    return {"tp": len(pred & truth), "fp": len(pred - truth), "fn": len(truth - pred)}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--rows", default="100000,1000000")
    ap.add_argument("--seed", type=int, default=7)
    ap.add_argument("--data", type=Path, default=None, help="folder to keep (or reuse) the data in")
    ap.add_argument("--modes", default="calibrated,compatible")
    ap.add_argument("--bench-dir", type=Path, default=BENCH_DIR)
    a = ap.parse_args()
    if not (a.bench_dir / "drift_data.py").exists():
        print(f"skipped: no {a.bench_dir / 'drift_data.py'} (../shared/bench)", file=sys.stderr)
        return
    river = importlib.util.find_spec("river") is not None
    if not river:
        print(
            "river is not installed: the river_agrawal_concept window is skipped", file=sys.stderr
        )
    keep = a.data
    scratch = tempfile.TemporaryDirectory() if keep is None else None
    base = keep if keep is not None else Path(scratch.name)  # type: ignore[union-attr]
    aiplane = [sys.executable, "-m", "aiplane", "drift"]
    for rows in [int(r) for r in a.rows.split(",")]:
        data = base / f"n{rows}"
        generate(a.bench_dir, data, rows, a.seed, river)
        truth = json.loads((data / "truth.json").read_text())
        results = data / "aiplane-results.jsonl"
        lines: list[dict[str, Any]] = []
        profiles: dict[str, Path] = {}
        for window in truth["windows"].values():
            ref = data / window["reference"]
            if ref.name not in profiles:
                profile = data / f"{ref.stem}.profile.json"
                _, wall, rss = run_measured([*aiplane, "profile", str(ref), "-o", str(profile)])
                profiles[ref.name] = profile
                print(
                    json.dumps(
                        {
                            "step": "profile",
                            "reference": ref.name,
                            "rows": rows,
                            "wall_s": round(wall, 3),
                            "peak_rss_mb": round(rss, 1),
                            "profile_bytes": profile.stat().st_size,
                        }
                    )
                )
        for mode in a.modes.split(","):
            for name, window in truth["windows"].items():
                cmd = [
                    *aiplane,
                    "check",
                    str(profiles[window["reference"]]),
                    str(data / window["current"]),
                    "--mode",
                    mode,
                    "--json",
                ]
                out, wall, rss = run_measured(cmd)
                line = json.loads(out)
                t = line["timings"]
                line.update(
                    window=name,
                    engine="aiplane",
                    mode=mode,
                    wall_s=round(wall, 3),
                    peak_rss_mb=round(rss, 1),
                    engine_s=round(t["read_s"] + t["check_s"], 3),
                )
                lines.append(line)
                brief = {
                    k: line[k]
                    for k in (
                        "window",
                        "mode",
                        "rows_current",
                        "wall_s",
                        "engine_s",
                        "peak_rss_mb",
                        "dataset_drift",
                        "share_drifted",
                    )
                }
                print(json.dumps({**brief, **t, **score(line["columns"], window)}))
        results.write_text("".join(json.dumps(x) + "\n" for x in lines))
        scored = subprocess.run(
            [
                sys.executable,
                str(a.bench_dir / "score_drift.py"),
                "--truth",
                str(data / "truth.json"),
                str(results),
                "--json",
            ],
            check=True,
            capture_output=True,
            text=True,
        ).stdout
        for pooled in scored.splitlines():
            p = json.loads(pooled)
            walls = [x["wall_s"] for x in lines if x["mode"] == p["mode"]]
            peaks = [x["peak_rss_mb"] for x in lines if x["mode"] == p["mode"]]
            print(
                json.dumps(
                    {
                        "pooled": True,
                        **p,
                        "max_wall_s": max(walls),
                        "max_peak_rss_mb": max(peaks),
                        "seed": a.seed,
                        "cpus": os.cpu_count(),
                    }
                )
            )
    if scratch is not None:
        scratch.cleanup()


if __name__ == "__main__":
    main()
