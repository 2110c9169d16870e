"""Commands that write a file check where before any work: a clear message, exit 2, no
traceback (and no control plane is needed to find that out)."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from aiplane.cli.main import app


@pytest.mark.parametrize(
    ("argv", "why"),
    [
        (["cost", "export", "--out", "{missing}/costs.csv"], "does not exist"),
        (["cost", "export", "--out", "{dir}"], "is a directory"),
        (["audit", "export", "-o", "{missing}/audit.jsonl"], "does not exist"),
        (["audit", "export", "-o", "{dir}"], "is a directory"),
    ],
)
def test_an_output_that_cannot_be_written_is_refused_before_the_work(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, argv: list[str], why: str
) -> None:
    # No control plane anywhere: a command that got as far as connecting would fail otherwise.
    monkeypatch.setenv("AIPLANE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AIPLANE_TOKEN", "aip_unused")
    args = [a.format(missing=tmp_path / "nope", dir=tmp_path) for a in argv]
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2, result.output
    assert why in result.output
    assert "Traceback" not in result.output
