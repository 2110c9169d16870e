"""Batch inference: score synthetic records with a small fixed two-layer network (stdlib only).

Reads nothing and writes a summary (score histogram, throughput) to stdout, and the scores to
$AIPLANE_OUTPUT (a file path) when that is set.

    python3 batch_infer.py --records 100000 --batch 10000
"""

from __future__ import annotations

import argparse
import json
import math
import os
import random
import time


def network(inputs: int, hidden: int, seed: int) -> tuple[list[list[float]], list[float]]:
    rng = random.Random(seed)
    w1 = [[rng.gauss(0, 1 / math.sqrt(inputs)) for _ in range(inputs)] for _ in range(hidden)]
    w2 = [rng.gauss(0, 1 / math.sqrt(hidden)) for _ in range(hidden)]
    return w1, w2


def score(x: list[float], w1: list[list[float]], w2: list[float]) -> float:
    h = [max(0.0, sum(a * b for a, b in zip(row, x, strict=True))) for row in w1]
    z = sum(a * b for a, b in zip(w2, h, strict=True))
    return 1.0 / (1.0 + math.exp(-max(-30.0, min(30.0, z))))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--records", type=int, default=100000)
    ap.add_argument("--batch", type=int, default=10000)
    ap.add_argument("--inputs", type=int, default=24)
    ap.add_argument("--hidden", type=int, default=16)
    args = ap.parse_args()
    w1, w2 = network(args.inputs, args.hidden, seed=42)
    rng = random.Random(3)
    histogram = [0] * 10
    scores: list[float] = []
    began = time.monotonic()
    for start in range(0, args.records, args.batch):
        n = min(args.batch, args.records - start)
        for _ in range(n):
            s = score([rng.gauss(0, 1) for _ in range(args.inputs)], w1, w2)
            histogram[min(9, int(s * 10))] += 1
            scores.append(s)
        done = start + n
        rate = done / (time.monotonic() - began)
        print(f"scored {done}/{args.records} records ({rate:,.0f}/s)", flush=True)
    output = os.environ.get("AIPLANE_OUTPUT")
    if output:
        with open(output, "w") as f:
            json.dump({"scores": scores}, f)
        print(f"scores written to {output}", flush=True)
    print("score histogram (tenths):", " ".join(str(c) for c in histogram), flush=True)
    print(f"mean score {sum(scores) / len(scores):.4f}; done", flush=True)


if __name__ == "__main__":
    main()
