"""Train a logistic-regression classifier with mini-batch SGD on synthetic data (stdlib only).

Each epoch ends with a checkpoint (weights, epoch, loss) in $AIPLANE_CHECKPOINT_DIR; if one is
there at start-up the run resumes after the last finished epoch.

    python3 train.py --epochs 10 --samples 60000 --features 32
"""

from __future__ import annotations

import argparse
import math
import random
import time

import checkpoints


def make_data(samples: int, features: int, seed: int) -> tuple[list[list[float]], list[int]]:
    rng = random.Random(seed)
    true_w = [rng.gauss(0, 1) for _ in range(features)]
    xs, ys = [], []
    for _ in range(samples):
        x = [rng.gauss(0, 1) for _ in range(features)]
        z = sum(w * v for w, v in zip(true_w, x, strict=True)) + rng.gauss(0, 0.5)
        xs.append(x)
        ys.append(1 if z > 0 else 0)
    return xs, ys


def sigmoid(z: float) -> float:
    if z < -30:
        return 0.0
    if z > 30:
        return 1.0
    return 1.0 / (1.0 + math.exp(-z))


def evaluate(w: list[float], b: float, xs: list[list[float]], ys: list[int]) -> tuple[float, float]:
    loss, correct = 0.0, 0
    for x, y in zip(xs, ys, strict=True):
        p = sigmoid(sum(wi * xi for wi, xi in zip(w, x, strict=True)) + b)
        p = min(max(p, 1e-12), 1 - 1e-12)
        loss -= y * math.log(p) + (1 - y) * math.log(1 - p)
        correct += (p >= 0.5) == (y == 1)
    return loss / len(xs), correct / len(xs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--epochs", type=int, default=10)
    ap.add_argument("--samples", type=int, default=60000)
    ap.add_argument("--features", type=int, default=32)
    ap.add_argument("--lr", type=float, default=0.05)
    ap.add_argument("--batch", type=int, default=32)
    ap.add_argument("--seed", type=int, default=7)
    args = ap.parse_args()

    xs, ys = make_data(args.samples, args.features, args.seed)
    split = int(0.8 * len(xs))
    train_x, train_y, test_x, test_y = xs[:split], ys[:split], xs[split:], ys[split:]

    path = checkpoints.checkpoint_path()
    state = checkpoints.load(path)
    if state is not None and len(state.get("w", [])) == args.features:
        w, b, start = state["w"], state["b"], state["epoch"]
        print(f"resuming from {path} after epoch {start} (loss {state['loss']:.4f})", flush=True)
    else:
        w, b, start = [0.0] * args.features, 0.0, 0
        print(f"training from scratch: {split} samples, {args.features} features", flush=True)
    if path is None:
        print("no $AIPLANE_CHECKPOINT_DIR: checkpoints are not kept", flush=True)

    rng = random.Random(args.seed + start)
    order = list(range(split))
    for epoch in range(start + 1, args.epochs + 1):
        began = time.monotonic()
        rng.shuffle(order)
        for i in range(0, split, args.batch):
            batch = order[i : i + args.batch]
            grad_w = [0.0] * args.features
            grad_b = 0.0
            for j in batch:
                x = train_x[j]
                err = sigmoid(sum(wi * xi for wi, xi in zip(w, x, strict=True)) + b) - train_y[j]
                for k in range(args.features):
                    grad_w[k] += err * x[k]
                grad_b += err
            scale = args.lr / len(batch)
            w = [wi - scale * g for wi, g in zip(w, grad_w, strict=True)]
            b -= scale * grad_b
        loss, acc = evaluate(w, b, test_x, test_y)
        checkpoints.save(path, {"epoch": epoch, "w": w, "b": b, "loss": loss, "accuracy": acc})
        took = time.monotonic() - began
        print(
            f"epoch {epoch}/{args.epochs} loss {loss:.4f} accuracy {acc:.3f} ({took:.2f}s)",
            flush=True,
        )
    print("done", flush=True)


if __name__ == "__main__":
    main()
