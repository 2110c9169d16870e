"""Features of the normalised view for the injection model: hashed character 3-5-grams and
word uni- and bigrams, per chunk, and a few hand-made ones.

The hash is our own (a polynomial over code points, then a 64-bit mixer) and not Python's
``hash()``, which is salted per process: the shipped weights must index the same buckets in
every process. Hashing is one numpy operation per n-gram length over the whole text; a
chunk's grams are a contiguous range of each array, so any number of chunks (sentences,
lines, pairs of them, the whole text) is scored from one pass with cumulative sums.

Each bucket counts once per text, where it first occurs, and weighs 1/sqrt(the family's
grams in the chunk), so a chunk's score does not grow with its length or with repetition;
training builds the same values (:func:`chunk_rows`).
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import numpy.typing as npt

from aiplane.core.guards.normalize import COMMON_ROT13, View
from aiplane.core.guards.rules import COMPACT, Cue

DIM_BITS = 18
DIM = 1 << DIM_BITS
CHAR_NS = (3, 4, 5)
FAMILIES = 5  # char 3, 4, 5-grams, words, word bigrams
NORM_POWER = 0.5  # a gram occurrence weighs 1 / (the family's grams in the chunk) ** NORM_POWER

_P = 0x100000001B3  # odd, so it has an inverse modulo 2**64
_P_INV = pow(_P, -1, 1 << 64)
_MIX1 = np.uint64(0x9E3779B97F4A7C15)
_MIX2 = np.uint64(0xBF58476D1CE4E5B9)
_SHIFT = np.uint64(31)
_TOP = np.uint64(64 - DIM_BITS)
_SALTS = tuple(np.uint64(0x51ED270B27A3 * (k + 1)) for k in range(FAMILIES))
_Q = np.uint64(0x2545F4914F6CDD1D)

IntArray = npt.NDArray[np.intp]
FloatArray = npt.NDArray[np.float32]


def _bucket(h: npt.NDArray[np.uint64], family: int) -> IntArray:
    h = (h + _SALTS[family]) * _MIX1
    h ^= h >> _SHIFT
    h *= _MIX2
    return (h >> _TOP).astype(np.intp)


@dataclass(frozen=True)
class Grams:
    """Per family: each gram's bucket and its span in the view (sorted by start and end)."""

    buckets: tuple[IntArray, ...]
    starts: tuple[IntArray, ...]
    ends: tuple[IntArray, ...]
    word_starts: IntArray
    word_ends: IntArray
    word_hashes: npt.NDArray[np.uint64]  # each word's hash before bucketing
    codes: npt.NDArray[np.uint32]  # the view's code points


def _powers(base: int, n: int) -> npt.NDArray[np.uint64]:
    out = np.full(n, base, dtype=np.uint64)
    out[0] = 1
    return np.cumprod(out, dtype=np.uint64)


def grams(view: str) -> Grams:
    with np.errstate(over="ignore"):
        return _grams(view)


def _grams(view: str) -> Grams:
    c = np.frombuffer(view.encode("utf-32-le", "surrogatepass"), dtype=np.uint32).astype(np.uint64)
    n = len(c)
    digits = (c >= 48) & (c <= 57)
    chars = np.where(digits, np.uint64(48), c)  # one digit class: numbers are not words
    buckets: list[IntArray] = []
    starts: list[IntArray] = []
    ends: list[IntArray] = []
    h = chars.copy()
    p = np.uint64(_P)
    for k in range(2, max(CHAR_NS) + 1):
        h = h[:0] if n < k else h[:-1] * p + chars[k - 1 :]
        if k in CHAR_NS:
            at = np.arange(len(h), dtype=np.intp)
            buckets.append(_bucket(h, CHAR_NS.index(k)))
            starts.append(at)
            ends.append(at + k)
    word = ((c >= 97) & (c <= 122)) | digits | (c >= 192)
    before = np.concatenate(([False], word[:-1])) if n else word
    after = np.concatenate((word[1:], [False])) if n else word
    w_starts = np.flatnonzero(word & ~before).astype(np.intp)
    w_ends = (np.flatnonzero(word & ~after) + 1).astype(np.intp)
    if len(w_starts):
        inv = _powers(_P_INV, n)
        fwd = _powers(_P, n)
        prefix = np.concatenate((np.zeros(1, dtype=np.uint64), np.cumsum(c * inv, dtype=np.uint64)))
        words = (prefix[w_ends] - prefix[w_starts]) * fwd[w_starts]
    else:
        words = np.zeros(0, dtype=np.uint64)
    buckets.append(_bucket(words, 3))
    starts.append(w_starts)
    ends.append(w_ends)
    pairs = words[:-1] * _Q + words[1:] if len(words) > 1 else words[:0]
    buckets.append(_bucket(pairs, 4))
    starts.append(w_starts[:-1])
    ends.append(w_ends[1:])
    # Each bucket once per text, where it first occurs: a repeated gram is no more evidence
    # (without this, "0x0x0x..." or a pasted paragraph scores by its length alone).
    # One sort for all families: each family's buckets offset into a range of its own.
    sizes = [len(b) for b in buckets]
    # Keys made unique by their position, so an unstable sort (several times faster than
    # np.unique's stable one) still puts each bucket's first occurrence first.
    keyed = np.concatenate([(b + f * DIM).astype(np.int64) for f, b in enumerate(buckets)])
    order = np.argsort((keyed << 32) | np.arange(len(keyed), dtype=np.int64))
    ranked = keyed[order]
    first = np.zeros(len(keyed), dtype=bool)
    if len(keyed):
        lead = np.ones(len(keyed), dtype=bool)
        np.not_equal(ranked[1:], ranked[:-1], out=lead[1:])
        first[order[lead]] = True
    begin = 0
    for f, size in enumerate(sizes):
        keep = first[begin : begin + size]
        buckets[f], starts[f], ends[f] = buckets[f][keep], starts[f][keep], ends[f][keep]
        begin += size
    return Grams(
        tuple(buckets), tuple(starts), tuple(ends), w_starts, w_ends, words, c.astype(np.uint32)
    )


def _ranges(g: Grams, family: int, lo: IntArray, hi: IntArray) -> tuple[IntArray, IntArray]:
    first = np.searchsorted(g.starts[family], lo, side="left")
    last = np.searchsorted(g.ends[family], hi, side="right")
    return first, np.maximum(last, first)


Scale = tuple[FloatArray, ...] | None  # per family, a factor per gram (None: all 1)


def scale_inside(g: Grams, spans: Sequence[tuple[int, int]], factor: float) -> Scale:
    """Per family and gram: ``factor`` for a gram inside one of ``spans``, else 1."""
    if not spans:
        return None
    out: list[FloatArray] = []
    for family in range(FAMILIES):
        inside = np.zeros(len(g.starts[family]), dtype=bool)
        for a, b in spans:
            inside |= (g.starts[family] >= a) & (g.ends[family] <= b)
        out.append(np.where(inside, np.float32(factor), np.float32(1.0)))
    return tuple(out)


def ngram_scores(
    g: Grams, weights: FloatArray, lo: IntArray, hi: IntArray, scale: Scale = None
) -> FloatArray:
    """Each chunk's ``[lo, hi)`` n-gram part of the score."""
    total = np.zeros(len(lo), dtype=np.float32)
    for family in range(FAMILIES):
        first, last = _ranges(g, family, lo, hi)
        w = weights[g.buckets[family]]
        if scale is not None:
            w = w * scale[family]
        cs = np.concatenate(([0.0], np.cumsum(w, dtype=np.float64)))
        count = (last - first).astype(np.float32)
        total += ((cs[last] - cs[first]) / np.maximum(count, 1.0) ** NORM_POWER).astype(np.float32)
    return total


def chunk_rows(
    g: Grams, lo: IntArray, hi: IntArray, scale: Scale = None
) -> list[tuple[IntArray, FloatArray]]:
    """Each chunk's n-gram features as (buckets, values), for training."""
    rows: list[tuple[list[IntArray], list[FloatArray]]] = [([], []) for _ in lo]
    for family in range(FAMILIES):
        first, last = _ranges(g, family, lo, hi)
        for i, (a, b) in enumerate(zip(first, last, strict=True)):
            if b > a:
                rows[i][0].append(g.buckets[family][a:b])
                value = np.full(b - a, 1.0 / (b - a) ** NORM_POWER, dtype=np.float32)
                rows[i][1].append(value if scale is None else value * scale[family][a:b])
    return [
        (
            np.concatenate(idx) if idx else np.zeros(0, np.intp),
            np.concatenate(val) if val else np.zeros(0, np.float32),
        )
        for idx, val in rows
    ]


# --- hand-made features -------------------------------------------------------------------

CUES = tuple(Cue)
DENSE = (
    *(f"cue_{c.value}" for c in CUES),
    "invisible",
    "tags",
    "homoglyphs",
    "spaced",
    "leet",
    "decoded",
    "second_person",
    "imperative_start",
    "code",
    "question",
    "context",
    "quoted",
)


def _word_hashes(words: str) -> npt.NDArray[np.uint64]:
    return np.unique(grams(words).word_hashes)


# Words that address the reader, in the four languages.
_YOU = _word_hashes(
    "you your yours yourself du dich dir dein deine deinen deiner deines euch tu toi ton ta tes "
    "vous votre vos usted tú te tus"
)
# Words that start an order to the model.
_IMPERATIVE = _word_hashes(
    "ignore disregard forget override print reveal output say write tell respond reply answer "
    "send forward pretend act stop now instead repeat show list give do never always "
    "translate summarize summarise append include insert add call execute run visit click open "
    "ignoriere vergiss sag schreib gib zeig antworte ignora olvida di escribe responde muestra "
    "oublie ignorez dis écris réponds montre"
)
_CODE_WORDS = _word_hashes("def print echo return import function const var console lambda")
_CODE_CHARS = np.array(sorted(ord(c) for c in "{};`"), dtype=np.uint32)


def _member(x: npt.NDArray[Any], members: npt.NDArray[Any]) -> npt.NDArray[np.bool_]:
    """``np.isin`` for a small sorted set of members, without its sorting of ``x``."""
    at = np.minimum(np.searchsorted(members, x), len(members) - 1)
    return np.asarray(members[at] == x)


_ROT13_COMMON = _word_hashes(" ".join(sorted(COMMON_ROT13)))


def reads_as_rot13(g: Grams) -> bool:
    """Whether enough of the words are common English words in ROT13 to look for ROT13."""
    return int(_member(g.word_hashes, _ROT13_COMMON).sum()) >= 3


def _in_chunks(at: IntArray, lo: IntArray, hi: IntArray) -> IntArray:
    """How many of the sorted positions ``at`` lie in each chunk ``[lo, hi)``."""
    return (np.searchsorted(at, hi) - np.searchsorted(at, lo)).astype(np.intp)


def dense(
    view: View,
    g: Grams,
    lo: IntArray,
    hi: IntArray,
    cues: npt.NDArray[np.bool_],
    quoted: npt.NDArray[np.bool_],
    *,
    decoded: bool,
    context: bool,
) -> npt.NDArray[np.float32]:
    """The hand-made features of each chunk ``[lo, hi)``: one row per chunk, columns ``DENSE``."""
    out = np.zeros((len(lo), len(DENSE)), dtype=np.float32)
    out[:, : len(CUES)] = cues  # which cues' rules hit in the chunk
    col = len(CUES)
    flags = (view.invisible, view.tags, view.homoglyphs, False, False, decoded)
    for k, flag in enumerate(flags):
        out[:, col + k] = 1.0 if flag else 0.0
    # Spaced letters and leetspeak count in the chunks that hold them; one leet word is often
    # a name or a unit ("mp3"), two make a pattern.
    spaced = np.array(view.spaced_at, dtype=np.intp)
    out[:, col + 3] = _in_chunks(spaced, lo, hi) > 0
    leet = np.array(view.leet_at, dtype=np.intp)
    out[:, col + 4] = _in_chunks(leet, lo, hi) >= 2
    col += len(flags)
    words_first = np.searchsorted(g.word_starts, lo, side="left")
    words_last = np.searchsorted(g.word_ends, hi, side="right")
    nwords = np.maximum(words_last - words_first, 1).astype(np.float32)
    you = g.word_starts[_member(g.word_hashes, _YOU)]
    if not context:
        # In a prompt, "you" is the model; in a document it is mostly the human reader
        # ("your order has shipped"), so there it says nothing.
        out[:, col] = _in_chunks(you, lo, hi) / np.sqrt(nwords)
    # The chunk's first word is one that gives an order.
    if len(g.word_starts):
        first = np.minimum(words_first, len(g.word_starts) - 1)
        ordering = _member(g.word_hashes[first], _IMPERATIVE) & (words_first < words_last)
        out[:, col + 1] = ordering.astype(np.float32)
    c = g.codes
    code_at = (
        np.flatnonzero(
            _member(c, _CODE_CHARS)
            | np.concatenate(((c[:-1] == 61) & ((c[1:] == 61) | (c[1:] == 62)), [False]))
            | np.concatenate(((c[:-1] == 40) & (c[1:] == 41), [False]))
        )
        if len(c)
        else np.zeros(0, np.intp)
    )
    code_words = g.word_starts[_member(g.word_hashes, _CODE_WORDS)]
    out[:, col + 2] = (_in_chunks(code_at, lo, hi) + _in_chunks(code_words, lo, hi)) > 0
    out[:, col + 3] = _in_chunks(np.flatnonzero(c == 63), lo, hi) > 0
    out[:, col + 4] = 1.0 if context else 0.0
    out[:, col + 5] = quoted
    return out


def compact_hits(text: str) -> list[tuple[int, int]]:
    """Spans (in the view) of :data:`rules.COMPACT` matches on the letters alone, where a word
    of the match is broken ("ign\nore", "i.g.n.o.r.e"): unbroken, the ordinary rules read it,
    with their exceptions ("the previous instructions I gave")."""
    c = np.frombuffer(text.encode("utf-32-le", "surrogatepass"), dtype=np.uint32)
    letters = np.flatnonzero((c >= 97) & (c <= 122))
    if len(letters) == len(text):
        return []  # nothing but letters: the ordinary rules saw the same text
    compact = _NOT_LETTER.sub("", text)
    out: list[tuple[int, int]] = []
    for m in COMPACT.finditer(compact):
        a, b = int(letters[m.start()]), int(letters[m.end() - 1]) + 1
        if _BROKEN.search(text, a, b):
            out.append((a, b))
    return out


_BROKEN = re.compile(r"[a-z](?:[^a-z\s]+|\n\s*)[a-z]")
_NOT_LETTER = re.compile(r"[^a-z]+")
