"""Serve synthetic requests for a fixed time, then exit 0 (stdlib only).

Requests arrive as a Poisson stream at --rps; each is "inferred" by a small model (a few dot
products). Every second the program prints throughput and p50/p95/p99 latency, the numbers an
edge deployment with a latency SLO is judged by.

    python3 serve.py --seconds 10 --rps 200
"""

from __future__ import annotations

import argparse
import os
import random
import time


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else 0.0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--seconds", type=float, default=10.0)
    ap.add_argument("--rps", type=float, default=200.0)
    ap.add_argument("--features", type=int, default=64)
    args = ap.parse_args()
    rng = random.Random(11)
    weights = [[rng.gauss(0, 1) for _ in range(args.features)] for _ in range(8)]
    where = os.environ.get("AIPLANE_SITE", "this machine")
    print(f"serving at {where} for {args.seconds:g}s at ~{args.rps:g} requests/s", flush=True)

    start = time.monotonic()
    next_arrival = start
    window: list[float] = []
    window_end = start + 1.0
    total = 0
    while True:
        now = time.monotonic()
        if now >= start + args.seconds:
            break
        if now < next_arrival:
            time.sleep(min(next_arrival - now, window_end - now, 0.05))
        else:
            x = [rng.gauss(0, 1) for _ in range(args.features)]
            logits = [sum(a * b for a, b in zip(w, x, strict=True)) for w in weights]
            _ = logits.index(max(logits))
            window.append((time.monotonic() - next_arrival) * 1000.0)  # queueing + compute, ms
            total += 1
            next_arrival += rng.expovariate(args.rps)
        if time.monotonic() >= window_end:
            print(
                f"t={window_end - start:4.1f}s {len(window):4d} req/s  "
                f"p50 {percentile(window, 0.5):6.2f} ms  p95 {percentile(window, 0.95):6.2f} ms"
                f"  p99 {percentile(window, 0.99):6.2f} ms",
                flush=True,
            )
            window = []
            window_end += 1.0
    print(f"served {total} requests in {args.seconds:g}s; shutting down cleanly", flush=True)


if __name__ == "__main__":
    main()
