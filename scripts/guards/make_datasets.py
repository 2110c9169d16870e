"""Writes the guards' evaluation sets and training pools under data/guards/, reproducibly.

    python scripts/guards/make_datasets.py [--out DIR] [--only NAME ...]

Standard library only; every set draws from its own fixed seed, so a run reproduces the
committed files byte for byte. The evaluation sets (split "eval") come from the ``*_eval``
modules and their template files; the training pools (split "train") from the ``*_train``
modules, which share no template, phrasing, topic or carrier with them. data/guards/
deepset-train.jsonl is committed data, not written here.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import benign_train  # noqa: E402
import hard_negatives_eval  # noqa: E402
import indirect_eval  # noqa: E402
import indirect_train  # noqa: E402
import injection_train  # noqa: E402
import pii_eval  # noqa: E402
from textgen import Record, write_jsonl  # noqa: E402

SETS: dict[str, Callable[[], list[Record]]] = {
    "hard-negatives.jsonl": hard_negatives_eval.build,
    "indirect.jsonl": indirect_eval.build,
    "pii-eval.jsonl": pii_eval.build,
    "train-benign.jsonl": benign_train.build,
    "train-injection.jsonl": injection_train.build,
    "train-indirect.jsonl": indirect_train.build,
}

DEFAULT_OUT = HERE.parents[1] / "data" / "guards"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="where to write the sets")
    parser.add_argument("--only", nargs="*", choices=sorted(SETS), help="write only these sets")
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    for name in args.only or SETS:
        count = write_jsonl(args.out / name, SETS[name]())
        print(f"{name}: {count} records")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
