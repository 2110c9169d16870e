"""Turning every failure into a message and an exit code, never a traceback."""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import ParamSpec, TypeVar

import typer
from rich.markup import escape

from aiplane.cli.output import err_console
from aiplane.client import ApiError, TokenFileError, TransferError, UnreachableError
from aiplane.core.errors import AiplaneError
from aiplane.exits import EXIT_BAD_INPUT, EXIT_FAILURE, EXIT_UNREACHABLE, print_problems, report

P = ParamSpec("P")
R = TypeVar("R")


def handled(fn: Callable[P, R]) -> Callable[P, R]:
    @functools.wraps(fn)
    def wrapper(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return fn(*args, **kwargs)
        except AiplaneError as exc:
            raise typer.Exit(report(err_console, exc)) from None
        except ApiError as exc:
            print_problems(
                err_console, f"{exc.message} [{exc.code}]", [p.model_dump() for p in exc.problems]
            )
            bad_input = exc.status in (400, 422)
            raise typer.Exit(EXIT_BAD_INPUT if bad_input else EXIT_FAILURE) from None
        except UnreachableError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(EXIT_UNREACHABLE) from None
        except TokenFileError as exc:
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(EXIT_BAD_INPUT) from None
        except TransferError as exc:
            # A folder that cannot be sent as it is (a symbolic link), or bytes that arrived
            # other than registered: the file is named, and nothing was registered or kept.
            err_console.print(f"[bold red]error:[/] {escape(str(exc))}", highlight=False)
            raise typer.Exit(EXIT_FAILURE) from None
        except OSError as exc:
            # What the checks before the work could not foresee (a disk that fills, a path
            # that changed meanwhile): the file and the reason, not a traceback.
            where = f"{exc.filename}: " if exc.filename else ""
            reason = exc.strerror or str(exc)
            err_console.print(f"[bold red]error:[/] {escape(where + reason)}", highlight=False)
            raise typer.Exit(EXIT_FAILURE) from None

    return wrapper
