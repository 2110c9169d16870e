"""`aiplane simulate` refuses bad input with a message and exit 2, never a traceback, and
checks where its report goes before the replay, not after it."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from aiplane.cli.commands import sim
from aiplane.cli.main import app

DATA = Path(__file__).resolve().parents[1] / "sim" / "data"
TRACE = DATA / "philly-sample.csv"
FLEET = DATA / "fleet-small.yaml"

runner = CliRunner()


def simulate(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, ["simulate", "--fleet", str(FLEET), "--policy", "fifo", *args])
    # CliRunner catches what escapes the command; only a deliberate exit may.
    assert result.exception is None or isinstance(result.exception, SystemExit), result.exception
    return result.exit_code, result.stdout + result.stderr


@pytest.fixture
def no_replay(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """Records replays instead of running them: a refused command must not start one."""
    calls: list[object] = []

    def replay(*args: object, **kwargs: object) -> None:
        calls.append((args, kwargs))
        raise AssertionError("the replay ran before the input was checked")

    monkeypatch.setattr(sim, "run_comparison", replay)
    return calls


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--trace", "/no/such/trace.csv"], "--trace: no such file (given: /no/such/trace.csv)"),
        (["--trace", str(DATA)], "--trace: is a folder, not a trace file"),
        (["--trace", str(TRACE), "--window", "7d:1d"], "the window is empty or reversed"),
        (["--trace", str(TRACE), "--window", "3d:3d"], "the window is empty or reversed"),
        (["--trace", str(TRACE), "--window", "2017-11-01..2017-10-01"], "empty or reversed"),
        (["--trace", str(TRACE), "--window", "300d:400d"], "no job submitted in the window"),
        (["--trace", str(TRACE), "--min-duration", "1e12"], "no job left to replay"),
    ],
    ids=[
        "missing trace",
        "trace is a folder",
        "reversed window",
        "empty window",
        "reversed dates",
        "window after the trace",
        "nothing left",
    ],
)
def test_bad_input_is_refused_before_the_replay(
    args: list[str], message: str, no_replay: list[object]
) -> None:
    code, text = simulate(*args)
    assert code == 2, text
    assert message in " ".join(text.split())  # Rich wraps long lines
    assert "Traceback" not in text
    assert no_replay == []


def test_out_pointing_at_a_file_is_refused_before_the_replay(
    tmp_path: Path, no_replay: list[object]
) -> None:
    taken = tmp_path / "report.html"
    taken.write_text("mine")
    code, text = simulate("--trace", str(TRACE), "--out", str(taken))
    assert code == 2, text
    assert "--out: is a file" in " ".join(text.split()) and "Traceback" not in text
    assert no_replay == [] and taken.read_text() == "mine"
    code, text = simulate("--trace", str(TRACE), "--out", str(taken / "inside"))
    assert code == 2 and "cannot create the folder" in text and "Traceback" not in text
    assert no_replay == []


def test_missing_matplotlib_is_found_before_the_replay(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, no_replay: list[object]
) -> None:
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import now fails
    code, text = simulate("--trace", str(TRACE), "--out", str(tmp_path / "report"))
    assert code != 0 and "aiplane[sim]" in text and "Traceback" not in text
    assert no_replay == []


def test_a_good_window_still_replays() -> None:
    code, text = simulate("--trace", str(TRACE), "--window", "0:2d", "--json")
    assert code == 0, text
    assert '"fifo"' in text
