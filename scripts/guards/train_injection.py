"""Train the injection detector's linear model and write the weights the package ships.

    PYTHONPATH=src python scripts/guards/train_injection.py [--out PATH] [--check]

Data (all in the repository): data/guards/deepset-train.jsonl (or, before it lands there,
../shared/data/prompt-injection/deepset-train.jsonl), the training pools data/guards/train-*.jsonl
and the hand-written seeds in scripts/guards/injection_seeds.jsonl (classes of text
the pools may miss; none taken from an evaluation set). Never the evaluation sets
(hard-negatives.jsonl, indirect.jsonl, pii-eval.jsonl): this script refuses them.

The model is a logistic regression (L2, L-BFGS from scipy) over the features of
``aiplane.core.guards.features``, with the rules' log-odds as a fixed offset, so it learns what
the text says beyond what the rules already count. Detection scores the largest chunk of a
text, so training follows that (multiple-instance learning, decision 0071): first on whole
texts, then twice more adding, for each injection, the chunk the model scores highest (the
one that carries the attack) and, for each benign text, its highest chunks (the ones that
would raise a false alarm). Samples weigh by their source (``SOURCE_WEIGHT``: deepset's
human-written prompts twice the generated ones, decision 0073), each class then rescaled to
one half. Deterministic: no randomness, a fixed order, a fixed optimiser.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt
from scipy import optimize, sparse  # type: ignore[import-untyped]

from aiplane.core.guards import features
from aiplane.core.guards.injection import Prepared, prepare
from aiplane.core.guards.model import WEIGHTS_FILE, InjectionModel
from aiplane.core.guards.normalize import decoded_segments, normalize

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "data" / "guards"
SHARED_DEEPSET = ROOT.parent / "shared" / "data" / "prompt-injection" / "deepset-train.jsonl"
OUT = ROOT / "src" / "aiplane" / "core" / "guards" / WEIGHTS_FILE
SEEDS = Path(__file__).resolve().parent / "injection_seeds.jsonl"
EVALUATION_SETS = frozenset({"hard-negatives.jsonl", "indirect.jsonl", "pii-eval.jsonl"})

L2 = 2e-4  # per unit of (class-balanced) sample weight
ROUNDS = 3  # whole texts, then twice with the chunks the model picks
TOP_BENIGN = 3  # a benign bag's highest chunks added per round
SOURCE_WEIGHT: dict[str, float] = {"deepset": 2.0}  # by source (others: 1); decision 0073


@dataclass(frozen=True)
class Sample:
    text: str
    context: str | None
    label: int  # 1: an injection in the text or, with a context, in the context
    source: str


def read_jsonl(path: Path) -> list[dict[str, object]]:
    if path.name in EVALUATION_SETS:
        raise ValueError(f"{path.name} is an evaluation set: never train on it")
    with path.open(encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def samples_from(rows: Iterable[dict[str, object]], source: str) -> list[Sample]:
    out: list[Sample] = []
    for r in rows:
        context = r.get("context")
        out.append(
            Sample(
                str(r["text"]),
                str(context) if context else None,
                int(str(r["label"])),
                source,
            )
        )
    return out


def deepset_path() -> Path | None:
    for path in (DATA / "deepset-train.jsonl", SHARED_DEEPSET):
        if path.exists():
            return path
    return None


def pool_samples() -> list[Sample]:
    """The training pools and the seeds (everything but deepset)."""
    out: list[Sample] = []
    for path in sorted(DATA.glob("train-*.jsonl")):
        out += samples_from(read_jsonl(path), path.stem)
    out += samples_from(read_jsonl(SEEDS), "seeds")
    return without_evaluation(out)


def _evaluation_texts() -> frozenset[str]:
    """The evaluation sets' texts and documents, read only to keep them out of training."""
    seen: set[str] = set()
    for name in sorted(EVALUATION_SETS):
        path = DATA / name
        if path.exists():
            with path.open(encoding="utf-8") as f:
                for line in f:
                    if line.strip():
                        row = json.loads(line)
                        seen.update(
                            str(row.get(k) or "").strip().lower() for k in ("text", "context")
                        )
    seen.discard("")
    return frozenset(seen)


def without_evaluation(samples: Sequence[Sample]) -> list[Sample]:
    """``samples`` less any whose text or document is also in an evaluation set."""
    held_out = _evaluation_texts()
    kept = [
        s
        for s in samples
        if s.text.strip().lower() not in held_out
        and (s.context or "").strip().lower() not in held_out
    ]
    if len(kept) < len(samples):
        print(
            f"left out {len(samples) - len(kept)} samples found in an evaluation set",
            file=sys.stderr,
        )
    return kept


def default_samples(deepset: Path | None = None) -> list[Sample]:
    path = deepset if deepset is not None else deepset_path()
    if path is None:
        print("deepset-train.jsonl not found: training without it", file=sys.stderr)
        return pool_samples()
    return samples_from(read_jsonl(path), "deepset") + pool_samples()


# --- features -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Bag:
    """The chunks of one labelled piece (a text, or a context, with what it decodes to)."""

    label: int
    rows: npt.NDArray[np.intp]  # row indices in Featurized.matrix
    whole: npt.NDArray[np.intp]  # the rows of whole pieces (the text, each decoded segment)
    sample: int  # index of the sample it came from
    source: str  # the sample's source ("deepset", "train-benign", "seeds", ...)


@dataclass(frozen=True)
class Featurized:
    matrix: sparse.csr_matrix  # rows: chunks; columns: DIM n-gram buckets, then DENSE
    offset: npt.NDArray[np.float64]
    bags: tuple[Bag, ...]


def _pieces(text: str, *, context: bool) -> list[Prepared]:
    out = [prepare(normalize(text), context=context, decoded=False)]
    out += [
        prepare(normalize(seg.text), context=context, decoded=True)
        for seg in decoded_segments(text)
    ]
    return out


def featurize(samples: Sequence[Sample]) -> Featurized:
    indices: list[npt.NDArray[np.intp]] = []
    values: list[npt.NDArray[np.float32]] = []
    lengths: list[int] = []
    offsets: list[npt.NDArray[np.float32]] = []
    bags: list[Bag] = []
    row = 0
    dense_columns = np.arange(features.DIM, features.DIM + len(features.DENSE), dtype=np.intp)
    for k, s in enumerate(samples):
        groups: list[tuple[int, list[Prepared]]] = []
        if s.context is None:
            groups.append((s.label, _pieces(s.text, context=False)))
        else:
            groups.append((0, _pieces(s.text, context=False)))
            groups.append((s.label, _pieces(s.context, context=True)))
        for label, pieces in groups:
            first = row
            whole: list[int] = []
            for p in pieces:
                whole.append(row + int(np.argmax(p.hi - p.lo)))  # the whole piece
                for (idx, val), d in zip(
                    features.chunk_rows(p.grams, p.lo, p.hi, p.scale), p.dense, strict=True
                ):
                    indices += [idx, dense_columns]
                    values += [val, d]
                    lengths.append(len(idx) + len(d))
                    row += 1
                offsets.append(p.offset)
            bags.append(
                Bag(
                    label,
                    np.arange(first, row, dtype=np.intp),
                    np.array(whole, np.intp),
                    k,
                    s.source,
                )
            )
    indptr = np.concatenate(([0], np.cumsum(lengths)))
    matrix = sparse.csr_matrix(
        (np.concatenate(values), np.concatenate(indices), indptr),
        shape=(row, features.DIM + len(features.DENSE)),
        dtype=np.float64,
    )
    matrix.sum_duplicates()
    return Featurized(matrix, np.concatenate(offsets).astype(np.float64), tuple(bags))


# --- fitting ------------------------------------------------------------------------------


def _fit(
    x: sparse.csr_matrix,
    y: npt.NDArray[np.float64],
    weight: npt.NDArray[np.float64],
    offset: npt.NDArray[np.float64],
    start: npt.NDArray[np.float64],
    l2: float,
) -> npt.NDArray[np.float64]:
    # Only the columns some row uses: the rest stay zero (their gradient is the L2 term alone),
    # and L-BFGS-B's own work grows with the number of parameters.
    used = np.flatnonzero(np.diff(x.tocsc().indptr))
    x = x[:, used]
    weight = weight / weight.sum()
    xt = x.T.tocsr()

    def loss(theta: npt.NDArray[np.float64]) -> tuple[float, npt.NDArray[np.float64]]:
        w, b = theta[:-1], theta[-1]
        z = x @ w + b + offset
        value = float(weight @ (np.logaddexp(0.0, z) - y * z)) + 0.5 * l2 * float(w @ w)
        r = weight * (1.0 / (1.0 + np.exp(-z)) - y)
        grad = np.concatenate((xt @ r + l2 * w, [r.sum()]))
        return value, grad

    def hessp(
        theta: npt.NDArray[np.float64], v: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        w, b = theta[:-1], theta[-1]
        s = 1.0 / (1.0 + np.exp(-(x @ w + b + offset)))
        d = weight * s * (1.0 - s) * (x @ v[:-1] + v[-1])
        return np.concatenate((xt @ d + l2 * v[:-1], [d.sum()]))

    first = np.concatenate((start[used], start[-1:]))
    result = optimize.minimize(
        loss,
        first,
        jac=True,
        hessp=hessp,
        method="trust-ncg",
        options={"gtol": 1e-6, "maxiter": 100},
    )
    theta = np.zeros_like(start)
    theta[used] = result.x[:-1]
    theta[-1] = result.x[-1]
    return theta


def _balanced(
    y: npt.NDArray[np.float64], factor: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """Each row's weight: its source's ``factor``, scaled so each class weighs one half."""
    pos = max(float(factor[y > 0].sum()), 1e-12)
    neg = max(float(factor[y <= 0].sum()), 1e-12)
    return np.where(y > 0, 0.5 / pos, 0.5 / neg) * factor


def fit(
    data: Featurized,
    bags: Sequence[int] | None = None,
    *,
    source_weight: dict[str, float] | None = None,
    l2: float | None = None,
) -> InjectionModel:
    """The model trained on ``bags`` (indices into ``data.bags``; None: all)."""
    weights = SOURCE_WEIGHT if source_weight is None else source_weight
    chosen = [data.bags[i] for i in (range(len(data.bags)) if bags is None else bags)]
    theta = np.zeros(data.matrix.shape[1] + 1)
    scores: npt.NDArray[np.float64] | None = None
    for _ in range(ROUNDS):
        rows: list[int] = []
        labels: list[float] = []
        factors: list[float] = []
        for bag in chosen:
            picked = list(bag.whole)
            if scores is not None:
                ranked = bag.rows[np.argsort(-scores[bag.rows], kind="stable")]
                top = 1 if bag.label else TOP_BENIGN
                picked += [int(r) for r in ranked[:top] if r not in picked]
            rows += picked
            labels += [float(bag.label)] * len(picked)
            factors += [weights.get(bag.source, 1.0)] * len(picked)
        index = np.array(rows, dtype=np.intp)
        y = np.array(labels)
        weight = _balanced(y, np.array(factors))
        theta = _fit(
            data.matrix[index], y, weight, data.offset[index], theta, L2 if l2 is None else l2
        )
        scores = data.matrix @ theta[:-1] + theta[-1] + data.offset
    n = features.DIM
    return InjectionModel(
        theta[:n].astype(np.float32), theta[n:-1].astype(np.float32), float(theta[-1])
    )


def train(samples: Sequence[Sample]) -> InjectionModel:
    return fit(featurize(samples))


def _accuracy(model: InjectionModel, data: Featurized) -> float:
    w = np.concatenate((model.ngram, model.dense)).astype(np.float64)
    z = data.matrix @ w + model.bias + data.offset
    right = [(z[b.rows].max() >= 0.0) == bool(b.label) for b in data.bags]
    return float(np.mean(right))


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--deepset", type=Path, default=None, help="deepset-train.jsonl elsewhere than data/guards"
    )
    parser.add_argument(
        "--check", action="store_true", help="exit 1 when the shipped weights differ"
    )
    args = parser.parse_args(argv)
    began = time.perf_counter()
    samples = default_samples(args.deepset)
    data = featurize(samples)
    model = fit(data)
    blob = model.to_bytes()
    by_source: dict[str, int] = {}
    for s in samples:
        by_source[s.source] = by_source.get(s.source, 0) + 1
    print(
        json.dumps(
            {
                "samples": len(samples),
                "by_source": by_source,
                "chunks": data.matrix.shape[0],
                "train_accuracy": round(_accuracy(model, data), 4),
                "nonzero_ngram_weights": int(np.count_nonzero(model.ngram)),
                "bytes": len(blob),
                "seconds": round(time.perf_counter() - began, 2),
            }
        )
    )
    if args.check:
        shipped = InjectionModel.from_bytes(args.out.read_bytes())
        same = np.array_equal(shipped.ngram, InjectionModel.from_bytes(blob).ngram)
        return 0 if same else 1
    args.out.write_bytes(blob)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
