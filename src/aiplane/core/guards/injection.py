"""Prompt injection, direct (the user's own prompt) and indirect (instructions hidden in a
document the prompt came with).

One decision (decision 0072): the text, and the ``context`` when there is one, are normalised
(``normalize.py``); encoded segments are decoded and read as well. Each is cut into chunks
(sentences, lines, comments, cells, HTML pieces), pairs of neighbouring chunks (an instruction
split over two lines) and the whole. Each chunk's score is

    p = sigmoid(bias + n-gram weights + hand-made features + rule offsets)

where the rule offsets are the rules' prior log-odds (``rules.py``, at most one per cue,
capped) and the rest is the linear model trained with those offsets in place
(``scripts/guards/train_injection.py``). The request's score is the largest chunk's; the
verdict is ``score >= THRESHOLD``, a threshold fixed at 0.5 before any evaluation (the model
is a logistic regression trained on balanced classes, so 0.5 is its even-odds point).
"""

from __future__ import annotations

import re
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from aiplane.core.guards import features, rules
from aiplane.core.guards.model import InjectionModel, shipped
from aiplane.core.guards.normalize import View, decoded_segments, normalize
from aiplane.core.guards.types import GuardName, GuardResult, Span

THRESHOLD = 0.5
RULE_CAP = 4.5  # the most the rules add together: a pile of weak cues is not a verdict
QUOTED_FACTOR = 0.25  # what a phrase in quotes in a prompt counts (a mention, not an order)
DOCUMENT_UNITS = 4  # a document with more units than this is not scored as a whole
# A document's chunk that no rule marks starts from these log-odds against: most retrieved
# text is no attack, and a model that reads only n-grams of formats it never saw (a review, a
# digest, a JSON of links) errs on the side of alarm. Fixed before evaluation (decision 0073).
DOCUMENT_PRIOR = -1.0

_COMPACT_RULE = rules.Rule("override_compact", rules.Cue.OVERRIDE, 3.0, rules.COMPACT)

# Where a chunk ends: lines, sentences, HTML comments and tags, table cells, code comments.
_BREAKS = re.compile(
    r"\n|(?<=[.!?;:])\s+|<!--|-->|[|\t<>]|\"\s*,\s*\"|(?<![:/])//|/\*|\*/|(?:^|\s)#+\s|\"\"\"|'''"
)


@dataclass(frozen=True)
class Prepared:
    """A view cut into chunks with what the model reads of each."""

    view: View
    grams: features.Grams
    lo: npt.NDArray[np.intp]  # chunk starts in the view
    hi: npt.NDArray[np.intp]
    level: npt.NDArray[np.intp]  # UNIT, PAIR or WHOLE
    dense: npt.NDArray[np.float32]  # (chunks, len(features.DENSE))
    offset: npt.NDArray[np.float32]  # the rules' log-odds per chunk
    hits: tuple[rules.Hit, ...]
    scale: features.Scale  # the n-grams' factors (grams in quotes in a prompt count less)


UNIT, PAIR, WHOLE = 0, 1, 2  # what a chunk is


def chunks(
    text: str,
) -> tuple[npt.NDArray[np.intp], npt.NDArray[np.intp], npt.NDArray[np.intp]]:
    """Chunk bounds in ``text`` and what each is: each unit, each pair of neighbours, and the
    whole (a chunk that is more than one of these counts as the smallest). A unit is the text
    between two breaks without its surrounding white space, when it has two letters."""
    n = len(text)
    breaks = [(m.start(), m.end()) for m in _BREAKS.finditer(text)]
    starts = np.array([0, *(e for _, e in breaks)], dtype=np.intp)
    ends = np.array([*(b for b, _ in breaks), n], dtype=np.intp)
    codes = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    at = np.arange(n, dtype=np.intp)
    solid = codes > 32
    # The first solid character at or after each index, the last one before it.
    first = np.minimum.accumulate(np.where(solid, at, n)[::-1])[::-1] if n else at
    last = np.maximum.accumulate(np.where(solid, at, -1)) if n else at
    lower = codes | 32
    letter = ((lower >= 97) & (lower <= 122)) | (codes >= 192)
    letters = np.concatenate(([0], np.cumsum(letter)))
    lo = first[np.minimum(starts, max(n - 1, 0))] if n else starts
    hi = last[np.maximum(ends - 1, 0)] + 1 if n else ends
    keep = (starts < ends) & (lo < hi) & (lo >= starts) & (hi <= ends)
    lo, hi = lo[keep], hi[keep]
    keep = letters[hi] - letters[lo] >= 2
    lo, hi = lo[keep], hi[keep]
    if not len(lo):
        return np.array([0]), np.array([n]), np.array([WHOLE])
    all_lo = np.concatenate((lo, lo[:-1], lo[:1]))
    all_hi = np.concatenate((hi, hi[1:], hi[-1:]))
    level = np.concatenate(
        (np.full(len(lo), UNIT), np.full(len(lo) - 1, PAIR), np.array([WHOLE]))
    ).astype(np.intp)
    order = np.lexsort((level, all_hi, all_lo))
    all_lo, all_hi, level = all_lo[order], all_hi[order], level[order]
    first_of = np.concatenate(([True], (np.diff(all_lo) != 0) | (np.diff(all_hi) != 0)))
    return all_lo[first_of], all_hi[first_of], level[first_of]


def prepare(view: View, *, context: bool, decoded: bool) -> Prepared:
    g = features.grams(view.text)
    lo, hi, level = chunks(view.text)
    if context and int((level == UNIT).sum()) > DOCUMENT_UNITS:
        # A long document is read by its units and pairs: its whole is mostly what the model
        # has not seen (other formats, boilerplate), and an instruction lives in a line or two.
        keep = level != WHOLE
        lo, hi, level = lo[keep], hi[keep], level[keep]
    hits = rules.find(view.text, document=context)
    hits += [rules.Hit(_COMPACT_RULE, a, b) for a, b in features.compact_hits(view.text)]
    # In a prompt, a phrase in quotes is more often mentioned than meant ("what does 'ignore
    # previous instructions' do?", code that prints it): its rules' weights and its n-grams
    # count half, and a feature says so. Not in a document: there quotes are how cells and
    # strings carry text (CSV, JSON, code).
    quotes = [] if context else [(m.start(), m.end()) for m in _QUOTED.finditer(view.text)]
    quoted = _quoted(quotes, hits)
    per_cue = _per_cue(hits, quoted, lo, hi)
    in_quotes = _in_any(hits, quoted, lo, hi)
    # The cue features count what is meant: hits outside quotes (those inside have their own).
    unquoted = [h for h, q in zip(hits, quoted, strict=True) if not q]
    meant = _per_cue(unquoted, np.zeros(len(unquoted), dtype=bool), lo, hi) > 0
    dense = features.dense(view, g, lo, hi, meant, in_quotes, decoded=decoded, context=context)
    offset = np.minimum(per_cue.sum(axis=1), RULE_CAP)
    scale = features.scale_inside(g, quotes, QUOTED_FACTOR)
    return Prepared(view, g, lo, hi, level, dense, offset, tuple(hits), scale)


_QUOTED = re.compile(
    r"\"[^\"\n]{3,300}\"|“[^”\n]{3,300}”|«[^»\n]{3,300}»|„[^“”\n]{3,300}[“”]"
    r"|(?<!\w)'[^'\n]{3,300}'(?!\w)|`[^`\n]{3,300}`"
)


def _quoted(spans: list[tuple[int, int]], hits: list[rules.Hit]) -> npt.NDArray[np.bool_]:
    """Which hits lie inside one of the quoted ``spans``."""
    if not hits or not spans:
        return np.zeros(len(hits), dtype=bool)
    return np.array([any(a <= h.start and h.end <= b for a, b in spans) for h in hits])


def _in_any(
    hits: list[rules.Hit],
    which: npt.NDArray[np.bool_],
    lo: npt.NDArray[np.intp],
    hi: npt.NDArray[np.intp],
) -> npt.NDArray[np.bool_]:
    """Per chunk: one of the hits ``which`` marks lies in it."""
    out = np.zeros(len(lo), dtype=bool)
    for h, w in zip(hits, which, strict=True):
        if w:
            out |= (h.start < hi) & (h.end > lo)
    return out


def _per_cue(
    hits: list[rules.Hit],
    quoted: npt.NDArray[np.bool_],
    lo: npt.NDArray[np.intp],
    hi: npt.NDArray[np.intp],
) -> npt.NDArray[np.float32]:
    """Per chunk and cue, the largest weight of the rules of that cue that hit in it."""
    out = np.zeros((len(lo), len(features.CUES)), dtype=np.float32)
    if not hits:
        return out
    start = np.array([h.start for h in hits])
    end = np.array([h.end for h in hits])
    weight = np.array([h.rule.weight for h in hits], dtype=np.float32)
    weight = np.where(quoted, weight * QUOTED_FACTOR, weight)
    cue = np.array([features.CUES.index(h.rule.cue) for h in hits])
    inside = (start[None, :] < hi[:, None]) & (end[None, :] > lo[:, None])
    for k in np.unique(cue):
        out[:, k] = np.where(inside & (cue == k)[None, :], weight[None, :], 0.0).max(axis=1)
    return out


def logits(model: InjectionModel, p: Prepared) -> npt.NDArray[np.float32]:
    ngram = features.ngram_scores(p.grams, model.ngram, p.lo, p.hi, p.scale)
    return (model.bias + ngram + p.dense @ model.dense + p.offset).astype(np.float32)


@dataclass(frozen=True)
class _Scored:
    prepared: Prepared
    probs: npt.NDArray[np.float32]
    kind: str
    encoding: str | None  # the encoding the piece was decoded from
    at: tuple[int, int] | None  # for a decoded piece: the encoded segment in the original


def _score(model: InjectionModel, text: str, kind: str, context: bool) -> list[_Scored]:
    out: list[_Scored] = []
    p = prepare(normalize(text), context=context, decoded=False)
    out.append(_Scored(p, _read(model, p, context=context), kind, None, None))
    for seg in decoded_segments(text, rot13=features.reads_as_rot13(p.grams)):
        q = prepare(normalize(seg.text), context=context, decoded=True)
        probs = _read(model, q, context=context)
        out.append(_Scored(q, probs, kind, seg.encoding, (seg.start, seg.end)))
    return out


_LETTER = re.compile(r"[^\W\d_]")


def _read(model: InjectionModel, p: Prepared, *, context: bool) -> npt.NDArray[np.float32]:
    """Each chunk's probability; a view without a letter says nothing (zeros). In a document,
    a chunk no rule marks gets :data:`DOCUMENT_PRIOR`."""
    if not _LETTER.search(p.view.text):
        return np.zeros(len(p.lo), dtype=np.float32)
    z = logits(model, p)
    if context:
        z = z + np.where(p.offset > 0.0, 0.0, DOCUMENT_PRIOR).astype(np.float32)
    return _sigmoid(z)


def _sigmoid(z: npt.NDArray[np.float32]) -> npt.NDArray[np.float32]:
    return (1.0 / (1.0 + np.exp(-np.clip(z, -30.0, 30.0)))).astype(np.float32)


def detect_injection(
    text: str, context: str | None = None, *, model: InjectionModel | None = None
) -> GuardResult:
    """Whether ``text`` (a user's prompt) or ``context`` (a document, a retrieved passage, a
    tool's output that came with it) tries to override the instructions the model was given.
    Spans in ``text`` are of kind ``injection``; those in ``context`` of kind
    ``injection_context`` (offsets into ``context``). ``model``: another model than the
    shipped one (the benchmark's cross-validation)."""
    m = model if model is not None else shipped()
    scored = _score(m, text, "injection", context=False)
    if context:
        scored += _score(m, context, "injection_context", context=True)
    best = max(scored, key=lambda s: float(s.probs.max()))
    score = float(best.probs.max())
    hit = score >= THRESHOLD
    spans = tuple(_spans(s) for s in scored) if hit else ()
    flat = tuple(sorted((x for group in spans for x in group), key=lambda x: (x.kind, x.start)))
    return GuardResult(GuardName.INJECTION, hit, score, flat, _reason(best, score) if hit else "")


def _spans(s: _Scored) -> list[Span]:
    """The chunks that drove the score, in original offsets: the units over the threshold;
    without one, the pairs (an instruction split over two lines); without one, the whole.
    Highest first, none overlapping one already taken."""
    p = s.prepared
    chosen: list[tuple[int, int, float]] = []
    for level in (UNIT, PAIR, WHOLE):
        over = np.flatnonzero((s.probs >= THRESHOLD) & (p.level == level))
        for i in sorted(over, key=lambda i: (-float(s.probs[i]), int(p.lo[i]))):
            a, b = int(p.lo[i]), int(p.hi[i])
            if all(b <= x or a >= y for x, y, _ in chosen):
                chosen.append((a, b, float(s.probs[i])))
        if chosen:
            break
    out: list[Span] = []
    for a, b, prob in sorted(chosen):
        start, end = s.at if s.at is not None else p.view.original(a, b)
        span = Span(start, end, s.kind, prob)
        if span not in out:
            out.append(span)
    return out


def _reason(s: _Scored, score: float) -> str:
    i = int(np.argmax(s.probs))
    p = s.prepared
    cues = sorted({h.rule.cue.value for h in p.hits if h.start < p.hi[i] and h.end > p.lo[i]})
    where = "the document" if s.kind == "injection_context" else "the prompt"
    parts = [f"an injection in {where} (score {score:.2f})"]
    parts.append(f"rules: {', '.join(cues)}" if cues else "the model alone, no rule")
    hidden = [
        name
        for name, n in (
            ("invisible characters", p.view.invisible),
            ("tag characters", p.view.tags),
            ("look-alike letters", p.view.homoglyphs),
            ("spaced-out letters", p.view.spaced),
            ("leetspeak", p.view.leet),
        )
        if n
    ]
    if s.encoding is not None:
        hidden.append(f"{s.encoding} encoding")
    if hidden:
        parts.append(f"hidden with {', '.join(hidden)}")
    return "; ".join(parts)
