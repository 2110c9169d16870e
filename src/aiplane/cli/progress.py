"""A byte progress bar for uploads and downloads, on stderr so that stdout stays the
command's answer; none when the output is for a script (``--json``) or not a terminal."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.progress import (
    BarColumn,
    DownloadColumn,
    Progress,
    TextColumn,
    TimeRemainingColumn,
    TransferSpeedColumn,
)

from aiplane.cli.output import err_console

# Told the bytes done so far: the client's ``Progress``.
Update = Callable[[int], None]


def _bar() -> Progress:
    return Progress(
        TextColumn("{task.description:<11}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )


def _quiet(quiet: bool) -> bool:
    return quiet or not err_console.is_terminal


@contextmanager
def byte_bar(label: str, total: int, quiet: bool) -> Iterator[Update | None]:
    """A bar to ``total`` bytes labelled ``label``; yields None when quiet or when stderr is
    not a terminal (a log file full of bar redraws helps no one)."""
    if _quiet(quiet):
        yield None
        return
    with _bar() as bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


@contextmanager
def two_phase_bar(
    first: str, second: str, total: int, quiet: bool
) -> Iterator[tuple[Update | None, Update | None]]:
    """Two bars to ``total`` bytes each: hashing the files, then sending what the server
    lacks (a file it has already counts as sent)."""
    if _quiet(quiet):
        yield None, None
        return
    with _bar() as bar:
        one = bar.add_task(first, total=total)
        two = bar.add_task(second, total=total)
        yield (
            lambda done: bar.update(one, completed=done),
            lambda done: bar.update(two, completed=done),
        )


@contextmanager
def reading_bar(label: str, total: int | None, quiet: bool) -> Iterator[Update | None]:
    """A bar over the bytes of an input read as it is worked on (``total`` None: stdin, of
    unknown length); None when quiet or when stderr is not a terminal."""
    if _quiet(quiet):
        yield None
        return
    # Output printed meanwhile goes to stdout as it is, never through the bar's console
    # (stderr): a scan streams its answer.
    bar = Progress(
        TextColumn("{task.description:<11}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
        redirect_stdout=False,
        redirect_stderr=False,
    )
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)
