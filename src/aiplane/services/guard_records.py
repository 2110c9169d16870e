"""What the guards are run on, read from a file: JSON Lines (``id``, ``text``, optional
``context``, and for scoring ``label`` and ``category``) or plain text.

The readers take the file's lines as bytes and yield records as they go, so a file of any size
is scanned in constant memory. A problem is a ``SpecError`` whose location is
``FILE:LINE: FIELD`` (the simulator's traces name theirs so): the first one stops a scan (what
was printed before it stays valid), while scoring, which prints nothing until the end, reads on
to report up to ``max_problems`` at once.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from aiplane.core.errors import Problem, SpecError

# A JSON Lines file by its name; any other name (and stdin) is looked at (``sniff``).
JSONL_SUFFIXES = (".jsonl", ".ndjson")
LABELS = (0, 1)


class InputFormat(StrEnum):
    AUTO = "auto"  # JSON Lines by name or by its first line, else plain text
    JSONL = "jsonl"  # one JSON object per line
    TEXT = "text"  # the whole input one record (a document, an e-mail, a web page)
    LINES = "lines"  # plain text, one record per non-blank line


@dataclass(frozen=True)
class GuardRecord:
    id: str  # as the file gives it, or the line number when it gives none
    text: str  # the prompt
    context: str | None = None  # a document the prompt came with (retrieved, a tool's output)
    label: int | None = None  # 1: an injection, 0: benign (labelled files only)
    category: str | None = None  # what kind of input, for per-category figures
    line: int = 0  # where it starts in its file (1-based; 0: not from a file)


def sniff(first_line: bytes) -> InputFormat:
    """JSON Lines when the first non-blank line is a JSON object, else plain text."""
    try:
        value = json.loads(first_line)
    except ValueError:  # not JSON, or not UTF-8
        return InputFormat.TEXT
    return InputFormat.JSONL if isinstance(value, dict) else InputFormat.TEXT


def resolve_format(
    wanted: InputFormat, name: str, lines: Iterable[bytes]
) -> tuple[InputFormat, Iterator[bytes]]:
    """The format ``wanted`` (``auto`` resolved by the file's ``name`` or its first non-blank
    line) and the lines, the ones looked at put back in front."""
    rest = iter(lines)
    if wanted is not InputFormat.AUTO:
        return wanted, rest
    if name.lower().endswith(JSONL_SUFFIXES):
        return InputFormat.JSONL, rest
    seen: list[bytes] = []
    for line in rest:
        seen.append(line)
        if line.strip():
            return sniff(line), _chain(seen, rest)
    return InputFormat.TEXT, iter(seen)


def _chain(first: list[bytes], rest: Iterator[bytes]) -> Iterator[bytes]:
    yield from first
    yield from rest


def records(
    form: InputFormat,
    lines: Iterable[bytes],
    source: str,
    *,
    labelled: bool = False,
    max_problems: int = 1,
) -> Iterator[GuardRecord]:
    """The records in ``lines`` read as ``form`` (not ``auto``: ``resolve_format`` first).
    ``source`` names the file in problems (and is the id of a whole-text record); ``labelled``
    requires a ``label`` of 0 or 1 on every record, which only JSON Lines can carry."""
    if form is InputFormat.JSONL:
        return json_records(lines, source, labelled=labelled, max_problems=max_problems)
    if labelled:
        raise SpecError(
            "scoring needs labels",
            [
                Problem(
                    source,
                    "not JSON Lines: a labelled file has one JSON object per line",
                    form.value,
                    'lines like {"text": "...", "label": 1}',
                )
            ],
        )
    if form is InputFormat.LINES:
        return line_records(lines, source)
    if form is InputFormat.TEXT:
        return text_records(lines, source)
    raise ValueError(f"resolve {form} before reading")


def json_records(
    lines: Iterable[bytes], source: str, *, labelled: bool = False, max_problems: int = 1
) -> Iterator[GuardRecord]:
    """One record per non-blank line; raises at the ``max_problems``-th bad line, or after the
    last line when there were fewer."""
    problems: list[Problem] = []
    for number, raw in enumerate(lines, start=1):
        if not raw.strip():
            continue
        try:
            record = _record(raw, number, source, labelled)
        except _BadLineError as bad:
            problems.append(bad.problem)
            if len(problems) >= max_problems:
                break
            continue
        if not problems:  # past a bad line, only the problems matter: the file is refused
            yield record
    if problems:
        raise SpecError(f"{source}: not a valid guard input", problems)


def line_records(lines: Iterable[bytes], source: str) -> Iterator[GuardRecord]:
    """Plain text, each non-blank line a record whose id is its line number."""
    for number, raw in enumerate(lines, start=1):
        text = _decoded(raw, number, source).rstrip("\r\n")
        if text.strip():
            yield GuardRecord(id=str(number), text=text, line=number)


def text_records(lines: Iterable[bytes], source: str) -> Iterator[GuardRecord]:
    """Plain text, the whole input one record whose id is ``source`` (none when blank)."""
    data = b"".join(lines)
    try:
        text = data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise SpecError(
            f"{source}: not a valid guard input", [Problem(f"{source}:{line}", "not UTF-8 text")]
        ) from None
    if text.strip():
        yield GuardRecord(id=source, text=text, line=1)


class _BadLineError(Exception):
    def __init__(self, problem: Problem) -> None:
        super().__init__(problem.render())
        self.problem = problem


def _decoded(raw: bytes, number: int, source: str) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SpecError(
            f"{source}: not a valid guard input", [Problem(f"{source}:{number}", "not UTF-8 text")]
        ) from None


def _record(raw: bytes, number: int, source: str, labelled: bool) -> GuardRecord:
    where = f"{source}:{number}"
    try:
        value = json.loads(raw)
    except UnicodeDecodeError:
        raise _BadLineError(Problem(where, "not UTF-8 text")) from None
    except ValueError as exc:
        raise _BadLineError(
            Problem(where, f"not JSON ({exc})", None, "one JSON object per line")
        ) from None
    if not isinstance(value, dict):
        given = type(value).__name__
        raise _BadLineError(Problem(where, "not a JSON object", given, "one JSON object per line"))
    text = value.get("text")
    if text is None:
        raise _BadLineError(
            Problem(f"{where}: text", "missing", None, "a string: the input to check")
        )
    _string(text, f"{where}: text")
    context = value.get("context")
    if context is not None:
        _string(context, f"{where}: context")
    category = value.get("category")
    if category is not None:
        _string(category, f"{where}: category")
    return GuardRecord(
        id=_id(value.get("id"), number, where),
        text=text,
        context=context,
        label=_label(value, where) if labelled else None,
        category=category,
        line=number,
    )


def _string(value: Any, where: str) -> None:
    if not isinstance(value, str):
        raise _BadLineError(Problem(where, "not a string", _given(value), "a JSON string"))


def _id(value: Any, number: int, where: str) -> str:
    if value is None:
        return str(number)
    # bool is an int to Python; an id of true is a mistake, not the id 1.
    if isinstance(value, str) or (isinstance(value, int) and not isinstance(value, bool)):
        return str(value)
    raise _BadLineError(
        Problem(f"{where}: id", "not a string or an integer", _given(value), "an id")
    )


def _label(value: dict[str, Any], where: str) -> int:
    if "label" not in value:
        raise _BadLineError(
            Problem(f"{where}: label", "missing", None, "1 (an injection) or 0 (benign)")
        )
    label = value["label"]
    # true, 1.0 and "1" are refused alike: a label file that mixes forms was likely not made
    # by the tool the user thinks made it.
    if isinstance(label, bool) or not isinstance(label, int) or label not in LABELS:
        raise _BadLineError(
            Problem(
                f"{where}: label", "not 0 or 1", _given(label), "1 (an injection) or 0 (benign)"
            )
        )
    return label


def _given(value: Any) -> str:
    text = json.dumps(value)
    return text if len(text) <= 40 else text[:37] + "..."
