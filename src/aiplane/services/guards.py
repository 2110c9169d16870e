"""Running the guard library over many inputs (``aiplane guard scan``) and scoring the
injection guard on labelled ones (``aiplane guard eval``).

The verdicts are the library's (``core.guards``), each at its fixed threshold: scoring a file
measures the detector as the gateway runs it, and there is deliberately no threshold to pass
here (one picked after seeing a file's figures would make them a fit, not a measurement).
Inputs are consumed as they come and results yielded one by one, so a scan of a large file
prints as it goes and holds only the running totals.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Iterable, Iterator, Mapping
from dataclasses import dataclass, field

from aiplane.core.guards import GuardName, GuardResult, Redacted, detect_injection, pii_result
from aiplane.core.guards import redact as redact_spans
from aiplane.core.guards.types import Span
from aiplane.services.guard_metrics import Confusion
from aiplane.services.guard_records import GuardRecord, InputFormat, records, resolve_format

__all__ = [
    "EVAL_GUARDS",
    "NO_CATEGORY",
    "SCAN_GUARDS",
    "Evaluation",
    "GuardRecord",
    "GuardService",
    "InputFormat",
    "ScanResult",
    "ScanSummary",
    "Verdict",
]

# The guards a file can be run through: the canary needs the system prompt it was planted in.
SCAN_GUARDS = (GuardName.INJECTION, GuardName.PII)
# The guards a labelled file can score: ``label`` says whether an input is an injection.
EVAL_GUARDS = (GuardName.INJECTION,)
# Records without a ``category`` in a file where others have one.
NO_CATEGORY = "(none)"


@dataclass(frozen=True)
class ScanResult:
    """One input's verdicts; a guard that was not asked for is None."""

    record: GuardRecord
    injection: GuardResult | None = None
    pii: GuardResult | None = None  # in ``text``
    redacted: Redacted | None = None  # ``text`` with typed placeholders (None: pii not run)
    context_pii: GuardResult | None = None  # in ``context`` (None: no context, or pii not run)
    context_redacted: Redacted | None = None

    @property
    def reason(self) -> str:
        """Each hit's reason, ``guard: why``; empty when nothing was found."""
        hits = [r for r in (self.injection, self.pii) if r is not None and r.hit]
        parts = [f"{r.guard.value}: {r.reason}" for r in hits]
        if self.context_pii is not None and self.context_pii.hit:
            parts.append(f"pii in context: {self.context_pii.reason}")
        return "; ".join(parts)

    @property
    def pii_types(self) -> Counter[str]:
        """How many of each PII type, in the text and its context."""
        found = [r for r in (self.pii, self.context_pii) if r is not None]
        return Counter(span.kind for r in found for span in r.spans)

    def as_json(self) -> dict[str, object]:
        """The JSON line ``aiplane guard scan --json`` prints for this input."""
        injection = self.injection
        return {
            "id": self.record.id,
            "injection": None if injection is None else injection.hit,
            # float(): a detector's numpy scalar is a number to JSON too.
            "injection_score": None if injection is None else float(injection.score),
            "injection_spans": None if injection is None else _spans(injection.spans),
            "pii": None if self.pii is None else _spans(self.pii.spans, "type"),
            "redacted": None if self.redacted is None else self.redacted.text,
            "context_pii": None
            if self.context_pii is None
            else _spans(self.context_pii.spans, "type"),
            "context_redacted": None
            if self.context_redacted is None
            else self.context_redacted.text,
            "reason": self.reason,
        }


def _spans(spans: Iterable[Span], kind: str = "kind") -> list[dict[str, object]]:
    return [{kind: s.kind, "start": int(s.start), "end": int(s.end)} for s in spans]


@dataclass
class ScanSummary:
    """The running totals of a scan: its final line."""

    guards: frozenset[GuardName]
    inputs: int = 0
    injections: int = 0
    with_pii: int = 0
    pii_by_type: Counter[str] = field(default_factory=Counter)

    def add(self, result: ScanResult) -> None:
        self.inputs += 1
        self.injections += result.injection is not None and result.injection.hit
        found = result.pii_types
        self.with_pii += bool(found)
        self.pii_by_type.update(found)

    def as_json(self) -> dict[str, object]:
        injection = GuardName.INJECTION in self.guards
        pii = GuardName.PII in self.guards
        return {
            "summary": {
                "inputs": self.inputs,
                "injections": self.injections if injection else None,
                "with_pii": self.with_pii if pii else None,
                "pii_by_type": dict(sorted(self.pii_by_type.items())) if pii else None,
            }
        }


@dataclass(frozen=True)
class Verdict:
    """One labelled input the detector got wrong (or right): for ``--misses``."""

    id: str
    line: int
    score: float
    reason: str
    category: str | None = None

    def as_json(self) -> dict[str, object]:
        score = float(self.score)
        return {"id": self.id, "line": self.line, "score": score, "reason": self.reason}


@dataclass(frozen=True)
class Evaluation:
    """The injection guard scored on a labelled file, overall and per ``category``."""

    guard: GuardName
    overall: Confusion
    per_category: Mapping[str, Confusion] | None  # None: the file has no categories
    misses: tuple[Verdict, ...] = ()  # the first injections it let through, in file order
    false_positives: tuple[Verdict, ...] = ()  # the first benign inputs it flagged
    listed: int = 0  # how many of each were asked for (``--misses``)

    def as_json(self) -> dict[str, object]:
        out: dict[str, object] = {
            "guard": self.guard.value,
            "overall": self.overall.as_json(),
            "per_category": None
            if self.per_category is None
            else {name: c.as_json() for name, c in self.per_category.items()},
        }
        if self.listed:
            out["misses"] = [v.as_json() for v in self.misses]
            out["false_positives"] = [v.as_json() for v in self.false_positives]
        return out


class GuardService:
    """The guards over files of inputs. Stateless: the library's guards are pure functions."""

    def read(
        self,
        lines: Iterable[bytes],
        source: str,
        form: InputFormat = InputFormat.AUTO,
        *,
        labelled: bool = False,
        max_problems: int = 1,
    ) -> Iterator[GuardRecord]:
        """The records of a file (or stdin) given as its lines: ``form`` as asked, ``auto`` by
        the name ``source`` or the first non-blank line (``guard_records``). Lazy: a bad line
        is a ``SpecError`` when it is reached."""
        resolved, rest = resolve_format(form, source, lines)
        return records(resolved, rest, source, labelled=labelled, max_problems=max_problems)

    def scan_one(
        self,
        record: GuardRecord,
        guards: Collection[GuardName] = SCAN_GUARDS,
        pii_types: Collection[str] | None = None,
    ) -> ScanResult:
        injection = None
        if GuardName.INJECTION in guards:
            injection = detect_injection(record.text, record.context)
        if GuardName.PII not in guards:
            return ScanResult(record, injection)
        pii = pii_result(record.text, pii_types)
        context_pii = context_redacted = None
        if record.context is not None:
            context_pii = pii_result(record.context, pii_types)
            context_redacted = redact_spans(record.context, context_pii.spans)
        return ScanResult(
            record,
            injection,
            pii,
            redact_spans(record.text, pii.spans),
            context_pii,
            context_redacted,
        )

    def scan(
        self,
        records: Iterable[GuardRecord],
        guards: Collection[GuardName] = SCAN_GUARDS,
        pii_types: Collection[str] | None = None,
    ) -> Iterator[ScanResult]:
        """Each record's verdicts, as the records come."""
        _known(guards, SCAN_GUARDS)
        for record in records:
            yield self.scan_one(record, guards, pii_types)

    def evaluate(self, records: Iterable[GuardRecord], misses: int = 0) -> Evaluation:
        """The injection guard against each record's ``label``; ``misses``: how many of the
        missed injections and of the false alarms to list (the first, in file order)."""
        overall = Confusion()
        by_category: dict[str, Confusion] = {}
        categorised = False
        missed: list[Verdict] = []
        flagged: list[Verdict] = []
        for record in records:
            if record.label is None:
                raise ValueError(f"record {record.id!r} has no label")
            result = detect_injection(record.text, record.context)
            overall = overall.plus(record.label, result.hit)
            categorised = categorised or record.category is not None
            name = record.category if record.category is not None else NO_CATEGORY
            by_category[name] = by_category.get(name, Confusion()).plus(record.label, result.hit)
            wrong = missed if record.label == 1 else flagged
            if result.hit != (record.label == 1) and len(wrong) < misses:
                wrong.append(
                    Verdict(record.id, record.line, result.score, result.reason, record.category)
                )
        return Evaluation(
            GuardName.INJECTION,
            overall,
            dict(sorted(by_category.items())) if categorised else None,
            tuple(missed),
            tuple(flagged),
            misses,
        )


def _known(guards: Collection[GuardName], allowed: Collection[GuardName]) -> None:
    unknown = set(guards) - set(allowed)
    if unknown:
        raise ValueError(f"guards {sorted(unknown)} cannot run here; allowed: {list(allowed)}")
