"""How a command-line process ends on a failure: its message and each located problem on
stderr, and an exit code, never a traceback.

The CLI (``cli/errors.py``) and the server process (``python -m aiplane.server``, which
``aiplane up`` becomes) share this one mapping, so a bad setting reads the same from either.
It imports Rich and the core's errors only: both sides load it cheaply.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape

from aiplane.core.errors import AiplaneError

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3

# What the user gave is wrong (a spec, a setting, a catalog): fixing the input fixes it.
BAD_INPUT_CODES = frozenset({"spec_invalid", "catalog_error"})


def print_problems(console: Console, message: str, items: Sequence[Mapping[str, Any]]) -> None:
    """``error: message``, then one line per problem: where, what, what was given and
    allowed."""
    console.print(f"[bold red]error:[/] {escape(message)}", highlight=False)
    for p in items:
        line = f"  - {p.get('location')}: {p.get('message')}"
        if p.get("given") is not None:
            line += f" (given: {p['given']})"
        if p.get("allowed") is not None:
            line += f"; allowed: {p['allowed']}"
        console.print(line, highlight=False, markup=False)


def exit_code(error_code: str) -> int:
    """The exit status for an error's stable code."""
    return EXIT_BAD_INPUT if error_code in BAD_INPUT_CODES else EXIT_FAILURE


def report(console: Console, exc: AiplaneError) -> int:
    """Print ``exc`` with its problems; returns the status to exit with."""
    print_problems(console, exc.message, [p.__dict__ for p in exc.problems])
    return exit_code(exc.code)
