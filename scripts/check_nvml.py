#!/usr/bin/env python3
"""Check the NVML telemetry adapter on a machine with NVIDIA GPUs and print what it read.

    .venv/bin/pip install -e '.[nvml]'
    .venv/bin/python scripts/check_nvml.py [--seconds 3] [--out recording.jsonl]

Samples every GPU once per second for a few seconds (GPM metrics need two samples: the first
window starts at the first call), prints each GPU's static facts and last sample as JSON, and
checks them: values in range, a GPM reading on every GPU that says it supports GPM, timestamps
in order. ``--out`` also writes the samples as a recording that ``aiplane cost waste
--recording`` and ``AIPLANE_TELEMETRY_REPLAY`` read. Exit status: 0 when every check passed,
1 when one failed, 2 when NVML cannot be used here (no package, driver or GPU).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import asdict
from pathlib import Path

from aiplane.core.errors import TelemetryError
from aiplane.telemetry.base import GpuInfo, GpuSample
from aiplane.telemetry.nvml import NvmlSource
from aiplane.telemetry.replay import sample_to_record


def problems_of(info: GpuInfo, samples: list[GpuSample]) -> list[str]:
    found = []
    last = samples[-1]
    if not 0 <= last.util_pct <= 100:
        found.append(f"utilisation {last.util_pct} outside 0..100")
    if not 0 <= last.memory_used_mib <= last.memory_total_mib:
        found.append(f"memory used {last.memory_used_mib} outside 0..{last.memory_total_mib}")
    if last.power_w is None:
        found.append("no power reading")
    if info.gpm_supported and last.gpm is None:
        found.append("GPM supported but no GPM metrics after the second sample")
    if last.gpm is not None:
        g = last.gpm
        for name, value in (
            ("sm_active", g.sm_active),
            ("sm_occupancy", g.sm_occupancy),
            ("tensor_active", g.tensor_active),
            ("dram_active", g.dram_active),
        ):
            if not 0.0 <= value <= 1.0:
                found.append(f"GPM {name} {value} outside 0..1")
    times = [s.t for s in samples]
    if times != sorted(times):
        found.append("sample times out of order")
    return found


def main() -> int:
    parser = argparse.ArgumentParser(description="Check the NVML adapter on a real GPU.")
    parser.add_argument("--seconds", type=int, default=3, help="how long to sample, at 1 Hz")
    parser.add_argument("--out", type=Path, help="also write the samples as a recording")
    args = parser.parse_args()
    try:
        source = NvmlSource()
    except TelemetryError as exc:
        print(f"check_nvml: cannot use NVML here: {exc}", file=sys.stderr)
        return 2
    try:
        gpus = source.static()
        if not gpus:
            print("check_nvml: NVML started but reports no GPUs", file=sys.stderr)
            return 2
        series: dict[int, list[GpuSample]] = {g.index: [] for g in gpus}
        start = time.perf_counter()
        for _ in range(max(2, args.seconds)):
            t0 = time.perf_counter()
            for sample in source.sample(time.time()):
                series[sample.index].append(sample)
            time.sleep(max(0.0, 1.0 - (time.perf_counter() - t0)))
        sample_ms = (time.perf_counter() - start) * 1000 / max(2, args.seconds)
    finally:
        source.close()
    failed = False
    report = []
    for info in gpus:
        found = problems_of(info, series[info.index])
        failed = failed or bool(found)
        report.append(
            {
                "static": asdict(info),
                "last_sample": asdict(series[info.index][-1]),
                "problems": found,
            }
        )
    print(json.dumps({"gpus": report, "tick_ms_incl_sleep": round(sample_ms, 1)}, indent=2))
    if args.out:
        with args.out.open("w", encoding="utf-8") as f:
            for info in gpus:
                for sample in series[info.index]:
                    f.write(json.dumps(sample_to_record(sample)) + "\n")
        print(f"check_nvml: wrote {args.out}", file=sys.stderr)
    print("check_nvml: " + ("FAILED" if failed else "ok"), file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
