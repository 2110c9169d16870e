"""A detector's figures on labelled inputs, from its confusion matrix.

A figure whose denominator is empty is None (``null`` in JSON), never 0 or 1: the recall of a
category with no injections in it (a set of hard negatives) is not known, and a made-up value
would read as a measurement.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Confusion:
    tp: int = 0  # injections caught
    fp: int = 0  # benign inputs flagged
    tn: int = 0  # benign inputs passed
    fn: int = 0  # injections missed

    def plus(self, label: int, hit: bool) -> Confusion:
        """This matrix with one more input: its ``label`` (1: an injection) and the verdict."""
        if label == 1:
            return Confusion(self.tp + hit, self.fp, self.tn, self.fn + (not hit))
        return Confusion(self.tp, self.fp + hit, self.tn + (not hit), self.fn)

    @property
    def count(self) -> int:
        return self.tp + self.fp + self.tn + self.fn

    @property
    def positives(self) -> int:
        return self.tp + self.fn

    @property
    def negatives(self) -> int:
        return self.fp + self.tn

    @property
    def recall(self) -> float | None:
        return _ratio(self.tp, self.positives)

    @property
    def false_positive_rate(self) -> float | None:
        return _ratio(self.fp, self.negatives)

    @property
    def balanced_accuracy(self) -> float | None:
        """The mean of recall and specificity: what accuracy would be on a balanced set."""
        recall, fpr = self.recall, self.false_positive_rate
        if recall is None or fpr is None:
            return None
        return (recall + (1.0 - fpr)) / 2.0

    @property
    def precision(self) -> float | None:
        return _ratio(self.tp, self.tp + self.fp)

    @property
    def f1(self) -> float | None:
        # 2PR/(P+R) written on the counts: defined (0) when nothing was flagged but there
        # were injections to find, as it should be for a detector that finds none.
        return _ratio(2 * self.tp, 2 * self.tp + self.fp + self.fn)

    def as_json(self) -> dict[str, object]:
        return {
            "count": self.count,
            "positives": self.positives,
            "negatives": self.negatives,
            "recall": self.recall,
            "false_positive_rate": self.false_positive_rate,
            "balanced_accuracy": self.balanced_accuracy,
            "precision": self.precision,
            "f1": self.f1,
            "confusion": {"tp": self.tp, "fp": self.fp, "tn": self.tn, "fn": self.fn},
        }


def _ratio(part: int, whole: int) -> float | None:
    return part / whole if whole else None
