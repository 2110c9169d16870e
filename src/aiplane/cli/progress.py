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


@contextmanager
def byte_bar(label: str, total: int, quiet: bool) -> Iterator[Update | None]:
    """A bar to ``total`` bytes labelled ``label``; yields None when quiet or when stderr is
    not a terminal (a log file full of bar redraws helps no one)."""
    if quiet or not err_console.is_terminal:
        yield None
        return
    bar = Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )
    with bar:
        task = bar.add_task(label, total=total)
        yield lambda done: bar.update(task, completed=done)


@contextmanager
def two_phase_bar(
    first: str, second: str, total: int, quiet: bool
) -> Iterator[tuple[Update | None, Update | None]]:
    """Two bars to ``total`` bytes each: hashing the files, then sending what the server
    lacks."""
    if quiet or not err_console.is_terminal:
        yield None, None
        return
    bar = Progress(
        TextColumn("{task.description:<9}"),
        BarColumn(),
        DownloadColumn(),
        TransferSpeedColumn(),
        TimeRemainingColumn(),
        console=err_console,
        transient=True,
    )
    with bar:
        one = bar.add_task(first, total=total)
        two = bar.add_task(second, total=total)
        yield (
            lambda done: bar.update(one, completed=done),
            lambda done: bar.update(two, completed=done),
        )
