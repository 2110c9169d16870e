"""Turning every failure into a message and an exit code, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.markup import escape

from aiplane.cli.output import err_console, problems
from aiplane.client import ApiError, UnreachableError
from aiplane.core.errors import AiplaneError

P = ParamSpec("P")
R = TypeVar("R")

EXIT_FAILURE = 1
EXIT_BAD_INPUT = 2
EXIT_UNREACHABLE = 3


def handled(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except AiplaneError as exc:
            problems(exc.message, [p.__dict__ for p in exc.problems])
            code = EXIT_BAD_INPUT if exc.code in ("spec_invalid", "catalog_error") else EXIT_FAILURE
            raise typer.Exit(code) from None
        except ApiError as exc:
            problems(f"{exc.message} [{exc.code}]", [p.model_dump() for p in exc.problems])
            bad_input = exc.status in (400, 422)
            raise typer.Exit(EXIT_BAD_INPUT if bad_input else EXIT_FAILURE) from None
        except UnreachableError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(EXIT_UNREACHABLE) from None

    return wrapper
