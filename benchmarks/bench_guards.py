"""The guards' figures, one JSON line (issue 13):

- ``cv_recall``, ``cv_fpr``, ``cv_balanced_accuracy``: 5-fold stratified cross-validation on
  ``../shared/data/prompt-injection/deepset-train.jsonl``; per fold the model is retrained on
  the other folds plus the training pools (data/guards/train-*.jsonl and the seeds), never on
  the held-out fold, and scored through ``detect_injection`` itself;
- ``hard_negative_fpr`` (data/guards/hard-negatives.jsonl), ``indirect_recall`` and
  ``indirect_fpr`` (data/guards/indirect.jsonl): the shipped model;
- ``pii_precision``, ``pii_recall`` (data/guards/pii-eval.jsonl): span level, a found span
  counts when its type and both offsets are exact;
- ``latency_p50_ms``, ``latency_p99_ms``: injection and ``find_pii`` together on requests of
  1,000 characters, on one core (beside them CPU time, and the p99 of each request's fastest of
  three runs: the guard's own cost without the machine's interruptions);
- counts, and misses per category.

A key whose data are missing is null, with a line on stderr saying why.

    PYTHONPATH=src python benchmarks/bench_guards.py [--deepset PATH] [--data DIR] [--limit N]
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from collections import Counter
from collections.abc import Sequence
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np

from aiplane.core.guards import detect_injection, find_pii
from aiplane.core.guards.model import InjectionModel

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_DEEPSET = ROOT.parent / "shared" / "data" / "prompt-injection" / "deepset-train.jsonl"
DEFAULT_DATA = ROOT / "data" / "guards"


def _trainer() -> ModuleType:
    path = ROOT / "scripts" / "guards" / "train_injection.py"
    spec = importlib.util.spec_from_file_location("train_injection", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["train_injection"] = module
    spec.loader.exec_module(module)
    return module


def _read(path: Path) -> list[dict[str, Any]]:
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def _missing(key: str, path: Path) -> None:
    print(f"{key}: {path} not found, reported as null", file=sys.stderr)


def _rates(labels: Sequence[int], predicted: Sequence[bool]) -> dict[str, float | int]:
    tp = sum(1 for y, p in zip(labels, predicted, strict=True) if y and p)
    fn = sum(1 for y, p in zip(labels, predicted, strict=True) if y and not p)
    fp = sum(1 for y, p in zip(labels, predicted, strict=True) if not y and p)
    tn = sum(1 for y, p in zip(labels, predicted, strict=True) if not y and not p)
    recall = tp / (tp + fn) if tp + fn else float("nan")
    fpr = fp / (fp + tn) if fp + tn else float("nan")
    return {"tp": tp, "fn": fn, "fp": fp, "tn": tn, "recall": recall, "fpr": fpr}


def _folds(labels: Sequence[int], k: int) -> list[int]:
    """Stratified fold per sample: each class shuffled with a fixed seed, dealt round."""
    rng = np.random.default_rng(13)
    fold = [0] * len(labels)
    for cls in (0, 1):
        members = [i for i, y in enumerate(labels) if y == cls]
        for n, i in enumerate(rng.permutation(members)):
            fold[int(i)] = n % k
    return fold


def cross_validation(deepset: Path, k: int, limit: int | None) -> dict[str, Any]:
    trainer = _trainer()
    rows = _read(deepset)[:limit]
    samples = trainer.samples_from(rows, "deepset")
    pools = trainer.pool_samples()
    data = trainer.featurize([*samples, *pools])
    fold = _folds([s.label for s in samples], k)
    labels: list[int] = []
    predicted: list[bool] = []
    began = time.perf_counter()
    for f in range(k):
        train_bags = [
            i
            for i, bag in enumerate(data.bags)
            if bag.sample >= len(samples) or fold[bag.sample] != f
        ]
        model: InjectionModel = trainer.fit(data, train_bags)
        for i, s in enumerate(samples):
            if fold[i] == f:
                labels.append(s.label)
                predicted.append(detect_injection(s.text, model=model).hit)
    r = _rates(labels, predicted)
    return {
        "cv_recall": r["recall"],
        "cv_fpr": r["fpr"],
        "cv_balanced_accuracy": (float(r["recall"]) + 1.0 - float(r["fpr"])) / 2.0,
        "cv_confusion": {key: r[key] for key in ("tp", "fn", "fp", "tn")},
        "cv_train_seconds_per_fold": (time.perf_counter() - began) / k,
        "cv_pool_samples": len(pools),
    }


def hard_negatives(path: Path, limit: int | None) -> dict[str, Any]:
    rows = _read(path)[:limit]
    hits = [detect_injection(r["text"], r.get("context")).hit for r in rows]
    by_category = Counter(r.get("category", "?") for r, h in zip(rows, hits, strict=True) if h)
    return {
        "hard_negative_fpr": sum(hits) / len(rows) if rows else None,
        "hard_negative_count": len(rows),
        "hard_negative_false_positives_by_category": dict(sorted(by_category.items())),
    }


def indirect(path: Path, limit: int | None) -> dict[str, Any]:
    rows = _read(path)[:limit]
    labels = [int(r["label"]) for r in rows]
    hits = [detect_injection(r["text"], r.get("context")).hit for r in rows]
    r = _rates(labels, hits)
    misses: Counter[str] = Counter()
    for row, y, h in zip(rows, labels, hits, strict=True):
        if y and not h:
            misses[f"{row.get('category', '?')}/{row.get('obfuscation', '?')}"] += 1
    false_alarms = Counter(
        str(row.get("category", "?"))
        for row, y, h in zip(rows, labels, hits, strict=True)
        if h and not y
    )
    return {
        "indirect_recall": r["recall"],
        "indirect_fpr": r["fpr"],
        "indirect_count": len(rows),
        "indirect_misses_by_carrier_obfuscation": dict(sorted(misses.items())),
        "indirect_false_positives_by_carrier": dict(sorted(false_alarms.items())),
    }


def pii(path: Path, limit: int | None) -> dict[str, Any]:
    rows = _read(path)[:limit]
    found = expected = right = 0
    missed: Counter[str] = Counter()
    for r in rows:
        truth = {(p["type"], p["start"], p["end"]) for p in r.get("pii", [])}
        got = {(s.kind, s.start, s.end) for s in find_pii(r["text"])}
        found += len(got)
        expected += len(truth)
        right += len(got & truth)
        missed.update(t for t, _, _ in truth - got)
    return {
        "pii_precision": right / found if found else None,
        "pii_recall": right / expected if expected else None,
        "pii_count": len(rows),
        "pii_misses_by_type": dict(sorted(missed.items())),
    }


def _requests(texts: Sequence[str], n: int, size: int) -> list[str]:
    out: list[str] = []
    at = 0
    while len(out) < n:
        parts: list[str] = []
        length = 0
        while length < size:
            t = texts[at % len(texts)]
            at += 1
            parts.append(t)
            length += len(t) + 1
        out.append(" ".join(parts)[:size])
    return out


def latency(texts: Sequence[str], n: int) -> dict[str, Any]:
    # One core: the process (and any thread numpy starts) pinned to the first CPU it may use.
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
    requests = _requests(texts, n, 1000)
    for text in requests[:50]:  # warm: the model loads, the regexes compile
        detect_injection(text)
        find_pii(text)
    times: list[float] = []
    cpu: list[float] = []
    for text in requests:
        began, began_cpu = time.perf_counter_ns(), time.thread_time_ns()
        detect_injection(text)
        find_pii(text)
        times.append((time.perf_counter_ns() - began) / 1e6)
        cpu.append((time.thread_time_ns() - began_cpu) / 1e6)
    # Each request twice more, its fastest of the three kept: what the guard itself costs,
    # without the machine's interruptions (on a shared machine wall p99 is mostly those).
    best = list(times)
    for _ in range(2):
        for i, text in enumerate(requests):
            began = time.perf_counter_ns()
            detect_injection(text)
            find_pii(text)
            best[i] = min(best[i], (time.perf_counter_ns() - began) / 1e6)
    # Wall time is the figure; CPU time beside it tells a busy machine (other processes on
    # the core) from a slow guard.
    return {
        "latency_p50_ms": float(np.percentile(times, 50)),
        "latency_p99_ms": float(np.percentile(times, 99)),
        "latency_cpu_p50_ms": float(np.percentile(cpu, 50)),
        "latency_cpu_p99_ms": float(np.percentile(cpu, 99)),
        "latency_best_of_3_p99_ms": float(np.percentile(best, 99)),
        "latency_requests": len(times),
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--deepset", type=Path, default=DEFAULT_DEEPSET)
    parser.add_argument("--data", type=Path, default=DEFAULT_DATA)
    parser.add_argument("--folds", type=int, default=5)
    parser.add_argument("--limit", type=int, default=None, help="the first N rows of each set")
    parser.add_argument("--requests", type=int, default=2000, help="latency requests")
    args = parser.parse_args(argv)
    out: dict[str, Any] = {}
    texts: list[str] = []
    if args.deepset.exists():
        out.update(cross_validation(args.deepset, args.folds, args.limit))
        texts += [r["text"] for r in _read(args.deepset)]
    else:
        _missing("cv_recall, cv_fpr, cv_balanced_accuracy", args.deepset)
        out.update(cv_recall=None, cv_fpr=None, cv_balanced_accuracy=None)
    hard = args.data / "hard-negatives.jsonl"
    if hard.exists():
        out.update(hard_negatives(hard, args.limit))
        texts += [r["text"] for r in _read(hard)]
    else:
        _missing("hard_negative_fpr", hard)
        out["hard_negative_fpr"] = None
    ind = args.data / "indirect.jsonl"
    if ind.exists():
        out.update(indirect(ind, args.limit))
    else:
        _missing("indirect_recall, indirect_fpr", ind)
        out.update(indirect_recall=None, indirect_fpr=None)
    pii_eval = args.data / "pii-eval.jsonl"
    if pii_eval.exists():
        out.update(pii(pii_eval, args.limit))
        texts += [r["text"] for r in _read(pii_eval)]
    else:
        _missing("pii_precision, pii_recall", pii_eval)
        out.update(pii_precision=None, pii_recall=None)
    if not texts:
        texts = ["Summarise the attached report and list the three main risks it names."]
    out.update(latency(texts, args.requests))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
