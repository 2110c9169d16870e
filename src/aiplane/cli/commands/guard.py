"""`aiplane guard scan|eval`: the guard library over a file, here, without the control plane.

The work is the guard service's (``services/guards.py``), which the CLI gets from its local
composition (``aiplane.standalone``), imported inside the commands; reading the file (or
stdin) and printing are this module's.
"""

from __future__ import annotations

import json
import os
import stat
import sys
import unicodedata
from collections.abc import Callable, Iterator
from contextlib import ExitStack
from enum import StrEnum
from pathlib import Path
from typing import IO, TYPE_CHECKING, Annotated

import typer
from rich import box
from rich.table import Table
from rich.text import Text

from aiplane.cli.errors import handled
from aiplane.cli.output import console, print_json
from aiplane.cli.progress import reading_bar
from aiplane.core.errors import Problem, SpecError
from aiplane.core.guards import PII_TYPES, GuardName
from aiplane.exits import EXIT_FAILURE

if TYPE_CHECKING:
    from aiplane.standalone import Evaluation, ScanResult, ScanSummary

app = typer.Typer(
    help="Guards: prompt injection (direct, and hidden in a document) and PII or secrets, "
    "run over a file here, without the control plane.",
    no_args_is_help=True,
)

# Rows a person's table shows; past them only the totals (``--json`` lists every input).
TABLE_ROWS = 200
PREVIEW_CHARS = 60
# Scoring reads on past a bad line to report this many at once (a scan stops at the first).
MAX_PROBLEMS = 10
STDIN = "-"


class Form(StrEnum):
    """``InputFormat``'s values: the option's choices must exist before the service, which the
    command loads only when it runs, is imported."""

    AUTO = "auto"
    JSONL = "jsonl"
    TEXT = "text"
    LINES = "lines"


# A str, not a Path: Typer checks a Path's existence before its allow_dash lets "-" through.
FileArg = Annotated[
    str,
    typer.Argument(
        help="the inputs: JSON Lines, plain text, or - for stdin",
        metavar="FILE",
        show_default=False,
    ),
]
# Help as paragraphs without line breaks: Typer's Rich help keeps a docstring's breaks.
SCAN_HELP = (
    "Scan each input for prompt injection and PII; each finding comes back redacted as a "
    "typed placeholder ([EMAIL_1]).\n\n"
    'A JSON Lines record is {"id": ..., "text": ..., "context": ...}: the context (a '
    "retrieved document, a tool's output, an e-mail the prompt came with) is scanned too, for "
    "instructions hidden in it and for PII. Without --json a table (the first "
    f"{TABLE_ROWS} inputs) and the totals; with it one JSON line per input as it is scanned, "
    "then a summary line.\n\n"
    "Example: aiplane guard scan prompts.jsonl --guards injection,pii --json"
)
EVAL_HELP = (
    "Score the injection guard on a labelled JSON Lines file: recall, false-positive rate, "
    "balanced accuracy, precision, F1 and the confusion matrix, overall and per category.\n\n"
    'Each line is {"text": ..., "label": 1 or 0, "category": ...} (label 1: an '
    "injection; id, context and category optional). The guard runs at its fixed threshold: "
    "there is none to tune here, so the figures measure what the gateway runs.\n\n"
    "Example: aiplane guard eval labelled.jsonl --misses 5"
)
JsonOpt = Annotated[bool, typer.Option("--json", help="print JSON for scripts")]


@app.command("scan", help=SCAN_HELP)
@handled
def scan(
    file: FileArg,
    guards: Annotated[
        str,
        typer.Option(
            "--guards",
            help="which guards to run, comma-separated: injection, pii (one not named does "
            "not run; its keys are null)",
        ),
    ] = "injection,pii",
    pii_types: Annotated[
        str | None,
        typer.Option(
            "--pii-types",
            help=f"with pii: only these types, comma-separated, of {', '.join(sorted(PII_TYPES))} "
            "(default: all)",
        ),
    ] = None,
    form: Annotated[
        Form,
        typer.Option(
            "--format",
            help="jsonl: one JSON object per line with text (and id, context); text: the whole "
            "input one document; lines: plain text, one input per line; auto: JSON Lines when "
            "FILE ends in .jsonl or .ndjson or its first line is a JSON object, else text",
        ),
    ] = Form.AUTO,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json",
            help="one JSON line per input as it is scanned (id, injection, injection_score, "
            "pii, redacted, reason, ...), then a summary line",
        ),
    ] = False,
) -> None:
    """Scan each input for prompt injection and PII (``SCAN_HELP``)."""
    from aiplane.standalone import SCAN_GUARDS, GuardService, InputFormat, ScanSummary

    chosen = _guards(guards, SCAN_GUARDS)
    types = _pii_types(pii_types) if pii_types is not None else None
    if types is not None and GuardName.PII not in chosen:
        raise SpecError(
            "--pii-types without the pii guard",
            [Problem("--pii-types", "pii is not in --guards", guards, "--guards ...,pii")],
        )
    service = GuardService()
    summary = ScanSummary(frozenset(chosen))
    rows: list[ScanResult] = []
    # A person's table comes at the end, so a bar is worth it; JSON lines going to a terminal
    # are their own progress, and a bar would draw over them.
    quiet = as_json and console.is_terminal
    with _Input(file, "scanning", quiet) as (source, lines):
        records = service.read(lines, source, InputFormat(form.value))
        for result in service.scan(records, chosen, types):
            summary.add(result)
            if as_json:
                _write_line(result.as_json())
            elif len(rows) < TABLE_ROWS:
                rows.append(result)
    if as_json:
        _write_line(summary.as_json(), flush=True)
        return
    _scan_table(rows, summary, source)


@app.command("eval", help=EVAL_HELP)
@handled
def evaluate(
    file: FileArg,
    guards: Annotated[
        str,
        typer.Option(
            "--guards",
            help="the guard scored against label: injection (the one a label says yes or no to)",
        ),
    ] = "injection",
    misses: Annotated[
        int,
        typer.Option(
            "--misses",
            min=0,
            help="list the first N injections the guard missed and the first N benign inputs "
            "it flagged",
        ),
    ] = 0,
    as_json: JsonOpt = False,
) -> None:
    """Score the injection guard on a labelled file (``EVAL_HELP``)."""
    from aiplane.standalone import EVAL_GUARDS, GuardService, InputFormat

    _guards(guards, EVAL_GUARDS)
    service = GuardService()
    with _Input(file, "scoring", quiet=False) as (source, lines):
        records = service.read(
            lines, source, InputFormat.JSONL, labelled=True, max_problems=MAX_PROBLEMS
        )
        result = service.evaluate(records, misses)
    if result.overall.count == 0:
        raise SpecError(
            "nothing to score", [Problem(source, "holds no records", None, "labelled records")]
        )
    if as_json:
        print_json(result.as_json())
        return
    _eval_table(result, source)


# -- arguments --------------------------------------------------------------------------------


def _names(text: str, option: str, allowed: list[str]) -> list[str]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in allowed]
    if not names or unknown:
        given = ", ".join(unknown) if unknown else repr(text)
        raise SpecError(
            f"invalid {option}",
            [Problem(option, "unknown" if unknown else "empty", given, ", ".join(allowed))],
        )
    return names


def _guards(text: str, allowed: tuple[GuardName, ...]) -> frozenset[GuardName]:
    return frozenset(GuardName(n) for n in _names(text, "--guards", [g.value for g in allowed]))


def _pii_types(text: str) -> frozenset[str]:
    return frozenset(_names(text, "--pii-types", sorted(PII_TYPES)))


# -- input ------------------------------------------------------------------------------------


class _Lines:
    """The input's lines as bytes, telling the bar how far in they are."""

    def __init__(self, stream: IO[bytes], update: Callable[[int], None] | None) -> None:
        self._stream = stream
        self._update = update

    def __iter__(self) -> Iterator[bytes]:
        done = 0
        for number, line in enumerate(self._stream):
            done += len(line)
            if self._update is not None and number % 64 == 0:
                self._update(done)
            yield line
        if self._update is not None:
            self._update(done)


class _Input:
    """``(source, lines)`` of FILE or stdin, with a progress bar on a terminal."""

    def __init__(self, file: str, label: str, quiet: bool) -> None:
        self._file = _readable(file)
        self._label = label
        self._quiet = quiet
        self._stack = ExitStack()

    def __enter__(self) -> tuple[str, _Lines]:
        if self._file is None:
            source, stream, total = "stdin", sys.stdin.buffer, None
        else:
            source = str(self._file)
            stream = self._stack.enter_context(self._file.open("rb"))
            status = os.fstat(stream.fileno())
            # A named pipe or /dev/stdin has no length to show progress against.
            total = status.st_size if stat.S_ISREG(status.st_mode) else None
        update = self._stack.enter_context(reading_bar(self._label, total, self._quiet))
        return source, _Lines(stream, update)

    def __exit__(self, *exc: object) -> None:
        self._stack.close()


def _readable(file: str) -> Path | None:
    """FILE as a path to read (None: stdin), refused with its name when it cannot be."""
    if file == STDIN:
        return None
    path = Path(file)
    problem = None
    if not path.exists():
        problem = "does not exist"
    elif path.is_dir():
        problem = "is a directory"
    elif not os.access(path, os.R_OK):
        problem = "not readable by this user"
    if problem is not None:
        raise SpecError("cannot read the input", [Problem(file, problem, None, "a file or -")])
    return path


def _write_line(data: dict[str, object], flush: bool = False) -> None:
    """One JSON line on stdout. ASCII only: hidden Unicode (zero-width, bidirectional
    controls) stays visible as an escape, and a terminal cannot be steered by it. ``flush``:
    the last line, so that a reader gone meanwhile is noticed here, not at exit."""
    try:
        sys.stdout.write(json.dumps(data) + "\n")
        if flush:
            sys.stdout.flush()
    except BrokenPipeError:
        # The reader went away (``| head``): stop quietly, as a Unix filter does.
        _silence_stdout()
        raise typer.Exit(EXIT_FAILURE) from None


def _silence_stdout() -> None:
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass  # not a real file (a test's capture): nothing will flush into a closed pipe


# -- people's output --------------------------------------------------------------------------


def _visible(text: str, limit: int = PREVIEW_CHARS) -> Text:
    """A one-line preview whose hidden characters (controls, zero-width, bidirectional) show
    as escapes, as plain text (no markup)."""
    shown: list[str] = []
    for char in text:
        if char in "\r\n":
            shown.append("⏎")
        elif unicodedata.category(char)[0] == "C" or unicodedata.category(char) in ("Zl", "Zp"):
            shown.append(char.encode("unicode_escape").decode("ascii"))
        else:
            shown.append(char)
        if len(shown) >= limit:
            shown.append("…")
            break
    return Text("".join(shown))


def _score(hit: bool | None, score: float | None) -> Text:
    if hit is None or score is None:
        return Text("-")
    return Text(f"{'yes' if hit else 'no'} {score:.2f}", style="bold red" if hit else "")


def _pii_cell(result: ScanResult) -> Text:
    if result.pii is None:
        return Text("-")
    found = result.pii_types
    return Text(", ".join(f"{kind} x{n}" if n > 1 else kind for kind, n in sorted(found.items())))


def _scan_table(rows: list[ScanResult], summary: ScanSummary, source: str) -> None:
    table = Table(title=Text(f"guards on {source}"), header_style="bold")
    for column in ("id", "injection", "pii", "reason", "redacted"):
        table.add_column(column)
    for r in rows:
        injection = r.injection
        table.add_row(
            _visible(r.record.id, 24),
            _score(
                None if injection is None else injection.hit,
                None if injection is None else injection.score,
            ),
            _pii_cell(r),
            Text(r.reason),
            _visible(r.redacted.text if r.redacted is not None else r.record.text),
        )
    console.print(table)
    if summary.inputs > len(rows):
        console.print(
            f"(the first {len(rows)} of {summary.inputs} inputs: --json lists every one)",
            markup=False,
            highlight=False,
        )
    parts = [f"{summary.inputs} inputs"]
    if GuardName.INJECTION in summary.guards:
        parts.append(f"{summary.injections} injections")
    if GuardName.PII in summary.guards:
        by_type = ", ".join(f"{k} {v}" for k, v in sorted(summary.pii_by_type.items()))
        parts.append(f"{summary.with_pii} with PII" + (f" ({by_type})" if by_type else ""))
    console.print(", ".join(parts), markup=False, highlight=False)


def _figure(value: float | None) -> str:
    return "-" if value is None else f"{value:.3f}"


def _eval_table(result: Evaluation, source: str) -> None:
    # A rule under the header, no edges, one space between columns: eleven columns fit an
    # 80-column terminal.
    title = Text(f"{result.guard.value} guard on {source}")
    table = Table(
        title=title,
        header_style="bold",
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
    )
    columns = ["recall", "FPR", "bal.acc", "prec.", "F1", "tp", "fp", "tn", "fn"]
    groups = [("overall", result.overall), *(result.per_category or {}).items()]
    rows = []
    for name, c in groups:
        figures = (c.recall, c.false_positive_rate, c.balanced_accuracy, c.precision, c.f1)
        counts = (c.count, c.tp, c.fp, c.tn, c.fn)
        rows.append((name, [str(counts[0]), *map(_figure, figures), *map(str, counts[1:])]))
    table.add_column("", no_wrap=True, min_width=min(20, max(len(name) for name, _ in groups)))
    # Each column as wide as its widest cell: Rich would otherwise cut figures to "0.9…".
    for at, column in enumerate(["n", *columns]):
        width = max(len(column), *(len(cells[at]) for _, cells in rows))
        table.add_column(column, justify="right", no_wrap=True, min_width=width)
    for name, cells in rows:
        table.add_row(_visible(name, 20), *(Text(cell) for cell in cells))
    console.print(table)
    if not result.listed:
        return
    for heading, verdicts in (
        ("missed injections", result.misses),
        ("benign inputs flagged", result.false_positives),
    ):
        console.print(
            f"{heading} (first {result.listed}): {len(verdicts) or 'none'}",
            markup=False,
            highlight=False,
        )
        for v in verdicts:
            line = Text(f"  {v.id} (line {v.line}, score {v.score:.2f})")
            if v.reason:
                line.append(f": {v.reason}")
            console.print(line)
