"""Fine-tune item embeddings by matrix factorisation on synthetic click data (stdlib only).

Each replica of the gang takes its shard of users ($AIPLANE_REPLICA_INDEX of
$AIPLANE_NUM_REPLICAS), starts from the same "pre-trained" item factors, and fits them with SGD.
The dataset name only seeds the synthetic data: the real clicks-eu never leaves its site. Every
epoch ends with this replica's checkpoint in $AIPLANE_CHECKPOINT_DIR, and a restart resumes.

    python3 finetune.py --dataset clicks-eu --epochs 12
"""

from __future__ import annotations

import argparse
import os
import random
import time
import zlib

import checkpoints


def clicks(
    dataset: str, users: int, items: int, per_user: int, rank: int
) -> list[tuple[int, int, float]]:
    """(user, item, rating) triples from hidden low-rank preferences plus noise."""
    rng = random.Random(zlib.crc32(dataset.encode()))
    u_true = [[rng.gauss(0, 1) for _ in range(rank)] for _ in range(users)]
    i_true = [[rng.gauss(0, 1) for _ in range(rank)] for _ in range(items)]
    out = []
    for u in range(users):
        for i in rng.sample(range(items), per_user):
            score = sum(a * b for a, b in zip(u_true[u], i_true[i], strict=True))
            out.append((u, i, score + rng.gauss(0, 0.1)))
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__)
    ap.add_argument("--dataset", default="clicks-eu")
    ap.add_argument("--epochs", type=int, default=12)
    ap.add_argument("--users", type=int, default=3000)
    ap.add_argument("--items", type=int, default=300)
    ap.add_argument("--per-user", type=int, default=60)
    ap.add_argument("--rank", type=int, default=8)
    ap.add_argument("--lr", type=float, default=0.03)
    args = ap.parse_args()
    replica = int(os.environ.get("AIPLANE_REPLICA_INDEX", "0"))
    replicas = int(os.environ.get("AIPLANE_NUM_REPLICAS", "1"))
    where = os.environ.get("AIPLANE_SITE", "this machine")

    data = clicks(args.dataset, args.users, args.items, args.per_user, args.rank)
    shard = [t for t in data if t[0] % replicas == replica]
    print(
        f"replica {replica}/{replicas} at {where}: {len(shard)} of {len(data)} "
        f"ratings from {args.dataset}",
        flush=True,
    )

    path = checkpoints.checkpoint_path(f"replica-{replica}.json")
    state = checkpoints.load(path)
    init = random.Random(1)  # the same "pre-trained" starting point on every replica
    users = [[init.gauss(0, 0.1) for _ in range(args.rank)] for _ in range(args.users)]
    items = [[init.gauss(0, 0.1) for _ in range(args.rank)] for _ in range(args.items)]
    start = 0
    if state is not None and state.get("rank") == args.rank:
        users, items, start = state["users"], state["items"], state["epoch"]
        print(f"resuming after epoch {start} (rmse {state['rmse']:.4f})", flush=True)

    rng = random.Random(replica)
    for epoch in range(start + 1, args.epochs + 1):
        began = time.monotonic()
        rng.shuffle(shard)
        squared = 0.0
        for u, i, rating in shard:
            pu, qi = users[u], items[i]
            err = rating - sum(a * b for a, b in zip(pu, qi, strict=True))
            squared += err * err
            for k in range(args.rank):
                a, b = pu[k], qi[k]
                pu[k] = a + args.lr * (err * b - 0.01 * a)
                qi[k] = b + args.lr * (err * a - 0.01 * b)
        rmse = (squared / len(shard)) ** 0.5
        checkpoints.save(
            path, {"epoch": epoch, "rank": args.rank, "rmse": rmse, "users": users, "items": items}
        )
        print(
            f"replica {replica} epoch {epoch}/{args.epochs} train rmse {rmse:.4f} "
            f"({time.monotonic() - began:.2f}s)",
            flush=True,
        )
    print(f"replica {replica} done", flush=True)


if __name__ == "__main__":
    main()
