"""The byte progress bar: drawn on a terminal, to the bytes it is told; nothing for a script
(``--json``) or when stderr is not a terminal (a log file of redraws helps no one)."""

from __future__ import annotations

import io

import pytest
from rich.console import Console

from aiplane.cli import progress


def console(terminal: bool) -> tuple[Console, io.StringIO]:
    sink = io.StringIO()
    return Console(file=sink, force_terminal=terminal, width=100, color_system=None), sink


def test_a_terminal_gets_two_bars_told_the_bytes(monkeypatch: pytest.MonkeyPatch) -> None:
    terminal, sink = console(True)
    monkeypatch.setattr(progress, "err_console", terminal)
    with progress.two_phase_bar("hashing", "uploading", 2048, quiet=False) as (hashing, sending):
        assert hashing is not None and sending is not None
        hashing(2048)
        sending(1024)
        terminal.file.flush()
    drawn = sink.getvalue()
    assert "hashing" in drawn and "uploading" in drawn and "2.0/2.0 kB" in drawn


@pytest.mark.parametrize(("terminal", "quiet"), [(True, True), (False, False)])
def test_no_bar_for_a_script_or_a_file(
    monkeypatch: pytest.MonkeyPatch, terminal: bool, quiet: bool
) -> None:
    err, sink = console(terminal)
    monkeypatch.setattr(progress, "err_console", err)
    with progress.two_phase_bar("hashing", "uploading", 10, quiet) as bars:
        assert bars == (None, None)
    with progress.byte_bar("downloading", 10, quiet) as bar:
        assert bar is None
    assert sink.getvalue() == ""
