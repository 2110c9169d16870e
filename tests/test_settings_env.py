"""Settings from the environment are validated, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiplane.config import Settings
from aiplane.core.errors import SpecError


@pytest.mark.parametrize("value", ["fast", "nan", "-1", "0", "1e9", "inf"])
def test_a_bad_interval_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.setenv("AIPLANE_SCHEDULER_INTERVAL_S", value)
    with pytest.raises(SpecError) as raised:
        Settings.from_env(tmp_path)
    (problem,) = raised.value.problems
    assert problem.location == "AIPLANE_SCHEDULER_INTERVAL_S"
    assert problem.given == value


def test_good_and_unset_intervals(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIPLANE_RECONCILER_INTERVAL_S", "0.25")
    monkeypatch.delenv("AIPLANE_TELEMETRY_INTERVAL_S", raising=False)
    settings = Settings.from_env(tmp_path)
    assert settings.reconciler_interval_s == 0.25
    assert settings.telemetry_interval_s == 1.0


def test_aiplane_up_reports_a_bad_setting_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "AIPLANE_HOME": str(tmp_path), "AIPLANE_TELEMETRY_INTERVAL_S": "soon"}
    done = subprocess.run(
        [sys.executable, "-m", "aiplane.server", "--quiet", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "AIPLANE_TELEMETRY_INTERVAL_S" in done.stderr
    assert "Traceback" not in done.stderr
