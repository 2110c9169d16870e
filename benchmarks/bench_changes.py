"""The change detectors' figures (issue 14, part 4): one JSON line.

Data: the change-point series river ships in ``river.drift.datasets`` (from the Turing change
point benchmark, TCPD), read from river's installed package files, with their annotations
(several annotators per series). Nothing is downloaded.

Scoring, fixed before any run (decision 0077):

- Each column of a series is fed to its own detector (the detectors are univariate), in units
  of its noise: divided by 1.4826 x the median absolute difference of neighbours over the first
  ``WARMUP`` samples, over sqrt(2) (what a monitor knows before it starts; no look ahead).
  A series' detections are the union over its columns, those within ``MERGE`` samples of an
  earlier one dropped.
- Changes: the union of all annotators' points, points within ``MERGE`` of the previous one
  joined to it (one change, at its earliest point).
- A detection at sample ``d`` matches change ``c`` when ``c - MERGE <= d <= c + MARGIN``
  (``MERGE`` before: annotators are a few samples apart). A change is found when a detection
  matches it; its delay is ``max(0, d - c)`` for the first one. A false alarm matches no change.
- Parameters: river's defaults for both (Page-Hinkley delta 0.005, lambda 50, alpha 1 - 1e-4,
  30 samples; ADWIN delta 0.002, clock 32, 5 buckets, min window 5, grace 10).
- One detection counts for one change at most. ``evenly_spaced_baseline`` scores as many
  detections as the detector made on each series, evenly spaced: what the margin gives by
  chance on series this densely annotated. ``by_margin`` scores the same detections (and the
  baseline) at other margins; the parameters do not change with it.
- ``BrentSpotPrice`` is reported but not scored: river ships 8,195 daily prices while its
  annotations index TCPD's 500-point subsample (all fall below 500).

River's own ``PageHinkley`` and ``ADWIN`` run on the same columns with the same parameters;
``river_agreement`` counts the columns whose detection indices are identical. ``speed`` times
each detector on 200,000 steady samples (per sample, microseconds).

    PYTHONPATH=src python benchmarks/bench_changes.py
"""

from __future__ import annotations

import json
import statistics
import sys
import time
from collections.abc import Callable
from typing import Any

import numpy as np

from aiplane.core.drift.detectors import Adwin, PageHinkley, scan

WARMUP = 30
MERGE = 5
MARGIN = 64
SWEEP = (5, 16, 32, 64, 128)  # the same detections scored at other margins, for context
UNSCORED = {"BrentSpotPrice": "annotations index TCPD's 500-point subsample of these 8,195 rows"}
PH_PARAMS = {"delta": 0.005, "threshold": 50.0, "alpha": 1 - 1e-4, "min_samples": 30}
ADWIN_PARAMS = {"delta": 0.002, "clock": 32, "max_buckets": 5, "min_window": 5, "grace": 10}


def ours(name: str) -> PageHinkley | Adwin:
    return PageHinkley(**PH_PARAMS) if name == "page_hinkley" else Adwin(**ADWIN_PARAMS)  # type: ignore[arg-type]


def theirs(name: str) -> Any:
    from river import drift

    if name == "page_hinkley":
        p = PH_PARAMS
        return drift.PageHinkley(
            min_instances=int(p["min_samples"]),
            delta=p["delta"],
            threshold=p["threshold"],
            alpha=p["alpha"],
        )
    a = ADWIN_PARAMS
    return drift.ADWIN(  # type: ignore[no-untyped-call]
        delta=a["delta"],
        clock=int(a["clock"]),
        max_buckets=int(a["max_buckets"]),
        min_window_length=int(a["min_window"]),
        grace_period=int(a["grace"]),
    )


def load() -> list[tuple[str, dict[str, np.ndarray], list[int]]]:
    from river.drift import datasets

    out = []
    for cls_name in sorted(datasets.__all__):
        ds = getattr(datasets, cls_name)()
        columns: dict[str, list[float]] = {}
        for _, y in ds:
            row = y if isinstance(y, dict) else {"value": y}
            for key, value in row.items():
                columns.setdefault(key, []).append(float(value))
        points = sorted({int(p) for marks in ds.annotations.values() for p in marks})
        out.append((cls_name, {k: np.asarray(v) for k, v in columns.items()}, cluster(points)))
    return out


def cluster(points: list[int]) -> list[int]:
    changes: list[int] = []
    for p in points:
        if not changes or p - changes[-1] > MERGE:
            changes.append(p)
    return changes


def in_noise_units(x: np.ndarray) -> np.ndarray:
    diffs = np.abs(np.diff(x[:WARMUP]))
    sigma = 1.4826 * float(np.median(diffs)) / np.sqrt(2.0) if len(diffs) else 0.0
    if sigma <= 0:
        sigma = float(np.std(x[:WARMUP])) or 1.0
    return np.asarray((x - x[0]) / sigma, dtype=np.float64)


def union(detections: list[list[int]]) -> list[int]:
    merged: list[int] = []
    for d in sorted(i for ds in detections for i in ds):
        if not merged or d - merged[-1] > MERGE:
            merged.append(d)
    return merged


def score(detections: list[int], changes: list[int], margin: int = MARGIN) -> dict[str, Any]:
    """One detection counts for one change at most: each change, in order, takes the earliest
    detection not yet taken inside its window."""
    taken: set[int] = set()
    delays: list[int] = []
    for c in changes:
        hits = [d for d in detections if c - MERGE <= d <= c + margin and d not in taken]
        if hits:
            taken.add(hits[0])
            delays.append(max(0, hits[0] - c))
    return {
        "detections": detections,
        "changes": changes,
        "found": len(delays),
        "delays": delays,
        "false_alarms": len(detections) - len(taken),
    }


def evenly(count: int, n: int) -> list[int]:
    """The chance baseline: as many detections as the detector made, evenly spaced."""
    return [round(n * (j + 1) / (count + 1)) for j in range(count)]


def pool(rows: list[dict[str, Any]]) -> dict[str, Any]:
    delays = [d for r in rows for d in r["delays"]]
    changes = sum(len(r["changes"]) for r in rows)
    found = sum(r["found"] for r in rows)
    detections = sum(len(r["detections"]) for r in rows)
    false_alarms = sum(r["false_alarms"] for r in rows)
    samples = sum(r["samples"] for r in rows)
    return {
        "changes": changes,
        "found": found,
        "recall": round(found / changes, 3) if changes else None,
        "detections": detections,
        "false_alarms": false_alarms,
        "precision": round(1 - false_alarms / detections, 3) if detections else None,
        "false_alarms_per_1000": round(1000 * false_alarms / samples, 2),
        "delay_mean": round(statistics.fmean(delays), 1) if delays else None,
        "delay_median": statistics.median(delays) if delays else None,
    }


def river_indices(detector: Any, x: np.ndarray) -> list[int]:
    found = []
    for i, v in enumerate(x.tolist()):
        detector.update(v)
        if detector.drift_detected:
            found.append(i)
    return found


def per_sample_us(run: Callable[[np.ndarray], object], x: np.ndarray) -> float:
    started = time.perf_counter()
    run(x)
    return round((time.perf_counter() - started) / len(x) * 1e6, 3)


def speed() -> dict[str, float]:
    x = np.random.default_rng(0).normal(0.0, 1.0, 200_000)
    t = np.arange(len(x), dtype=np.float64)

    def loop(make: Callable[[], PageHinkley | Adwin]) -> Callable[[np.ndarray], object]:
        def go(values: np.ndarray) -> object:
            d = make()
            return [d.update(v, float(i)) for i, v in enumerate(values.tolist())]

        return go

    out = {
        "page_hinkley_scan": per_sample_us(lambda v: ours("page_hinkley").scan(v, t), x),
        "page_hinkley_update": per_sample_us(loop(lambda: ours("page_hinkley")), x),
        "adwin_update": per_sample_us(loop(lambda: ours("adwin")), x),
    }
    try:
        out["river_page_hinkley"] = per_sample_us(
            lambda v: river_indices(theirs("page_hinkley"), v), x
        )
        out["river_adwin"] = per_sample_us(lambda v: river_indices(theirs("adwin"), v), x)
    except ImportError:
        pass
    return out


def main() -> int:
    try:
        series = load()
    except ImportError:
        print(json.dumps({"skipped": "river is not installed (the dev extra)"}))
        return 0
    result: dict[str, Any] = {
        "bench": "changes",
        "margin": MARGIN,
        "merge": MERGE,
        "warmup": WARMUP,
        "params": {"page_hinkley": PH_PARAMS, "adwin": ADWIN_PARAMS},
        "detectors": {},
    }
    agreement: dict[str, list[int]] = {}
    for name in ("page_hinkley", "adwin"):
        rows: dict[str, Any] = {}
        scored: list[dict[str, Any]] = []
        baseline: list[dict[str, Any]] = []
        agree = [0, 0]
        for cls_name, columns, marks in series:
            per_column = []
            for x in columns.values():
                z = in_noise_units(x)
                mine = [int(d.at) for d in scan(ours(name), z)]
                per_column.append(mine)
                agree[0] += mine == river_indices(theirs(name), z)
                agree[1] += 1
            row = score(union(per_column), marks)
            n = len(next(iter(columns.values())))
            row["samples"] = n
            if cls_name in UNSCORED:
                rows[cls_name] = {"scored": False, "why": UNSCORED[cls_name], "samples": n}
                rows[cls_name]["detections"] = len(row["detections"])
                continue
            rows[cls_name] = row
            scored.append(row)
            chance = score(evenly(len(row["detections"]), n), marks)
            baseline.append({**chance, "samples": n})
        by_margin = {}
        for margin in SWEEP:
            mine_m = pool(
                [
                    {**score(r["detections"], r["changes"], margin), "samples": r["samples"]}
                    for r in scored
                ]
            )
            base_m = pool(
                [
                    {**score(r["detections"], r["changes"], margin), "samples": r["samples"]}
                    for r in baseline
                ]
            )
            by_margin[str(margin)] = {
                "recall": mine_m["recall"],
                "precision": mine_m["precision"],
                "baseline_recall": base_m["recall"],
                "baseline_precision": base_m["precision"],
            }
        result["detectors"][name] = {
            "series": rows,
            "pooled": pool(scored),
            "evenly_spaced_baseline": pool(baseline),
            "by_margin": by_margin,
        }
        agreement[name] = agree
    result["river_agreement"] = {k: f"{a}/{b} columns identical" for k, (a, b) in agreement.items()}
    result["speed_us_per_sample"] = speed()
    print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
