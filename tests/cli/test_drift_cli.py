"""`aiplane drift check|profile` on real Parquet and CSV files, through the CLI runner."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from typer.testing import CliRunner

from aiplane.cli.main import app

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")
pcsv = pytest.importorskip("pyarrow.csv")

runner = CliRunner()
KEYS = {"drifted", "test", "score", "p_value", "threshold", "type", "effect"}


def table(rng: np.random.Generator, n: int, shift: float = 0.0) -> Any:
    return pa.table(
        {
            "age": rng.normal(40.0 + shift, 10.0, n),
            "clicks": rng.poisson(3.0, n),
            "country": pa.array(rng.choice(["de", "fr", "it"], n, p=[0.5, 0.3, 0.2])),
        }
    )


@pytest.fixture
def files(tmp_path: Path) -> dict[str, Path]:
    rng = np.random.default_rng(0)
    paths = {
        "reference": tmp_path / "reference.parquet",
        "same": tmp_path / "same.parquet",
        "moved": tmp_path / "moved.csv",
    }
    pq.write_table(table(rng, 20_000), paths["reference"])
    pq.write_table(table(rng, 10_000), paths["same"])
    pcsv.write_csv(table(rng, 10_000, shift=3.0), paths["moved"])
    return paths


def drift(*args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["drift", *args])
    assert result.exception is None or isinstance(result.exception, SystemExit), result.output
    return result.exit_code, result.stdout, result.stderr


def test_json_line_has_the_issues_keys_and_finds_the_shift(files: dict[str, Path]) -> None:
    code, out, _ = drift("check", str(files["reference"]), str(files["moved"]), "--json")
    assert code == 0
    assert len(out.strip().splitlines()) == 1
    line = json.loads(out)
    assert set(line["columns"]) == {"age", "clicks", "country"}
    for verdict in line["columns"].values():
        assert set(verdict) >= KEYS
    assert line["columns"]["age"]["drifted"] is True
    assert line["columns"]["age"]["type"] == "numeric"
    assert line["columns"]["country"]["type"] == "categorical"
    assert line["rows_reference"] == 20_000 and line["rows_current"] == 10_000
    assert set(line["timings"]) == {"read_s", "profile_s", "check_s"}
    assert line["share_drifted"] == sum(v["drifted"] for v in line["columns"].values()) / 3


def test_no_drift_between_draws_of_one_distribution(files: dict[str, Path]) -> None:
    code, out, _ = drift("check", str(files["reference"]), str(files["same"]), "--json")
    assert code == 0
    line = json.loads(out)
    assert not line["dataset_drift"]
    assert not any(v["drifted"] for v in line["columns"].values())


def test_compatible_mode_and_a_column_subset(files: dict[str, Path]) -> None:
    code, out, _ = drift(
        "check",
        str(files["reference"]),
        str(files["moved"]),
        "--mode",
        "compatible",
        "--columns",
        "age,country",
        "--json",
    )
    assert code == 0
    line = json.loads(out)
    assert list(line["columns"]) == ["age", "country"]
    assert line["columns"]["age"]["test"] == "wasserstein"
    assert line["columns"]["country"]["test"] == "jensenshannon"
    assert line["mode"] == "compatible"


def test_a_saved_profile_gives_the_same_verdicts(files: dict[str, Path], tmp_path: Path) -> None:
    profile = tmp_path / "reference.json"
    code, _, _ = drift("profile", str(files["reference"]), "-o", str(profile))
    assert code == 0 and profile.exists()
    _, from_rows, _ = drift("check", str(files["reference"]), str(files["moved"]), "--json")
    _, from_profile, _ = drift("check", str(profile), str(files["moved"]), "--json")
    assert json.loads(from_rows)["columns"] == json.loads(from_profile)["columns"]


def test_the_table_without_json(files: dict[str, Path]) -> None:
    code, out, _ = drift("check", str(files["reference"]), str(files["moved"]))
    assert code == 0
    assert "age" in out and "dataset:" in out


def test_a_missing_file_is_named(files: dict[str, Path], tmp_path: Path) -> None:
    missing = tmp_path / "nope.parquet"
    code, out, err = drift("check", str(files["reference"]), str(missing), "--json")
    assert code != 0
    assert str(missing) in out + err and "no such file" in out + err


def test_an_unknown_column_is_named(files: dict[str, Path]) -> None:
    code, out, err = drift(
        "check", str(files["reference"]), str(files["same"]), "--columns", "age,height"
    )
    assert code != 0
    assert "height" in out + err and "reference.parquet" in out + err


def test_a_column_whose_type_differs_is_named(files: dict[str, Path], tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    other = tmp_path / "other.parquet"
    t = table(rng, 1000)
    pq.write_table(t.set_column(0, "age", pa.array([str(v) for v in range(1000)])), other)
    code, out, err = drift("check", str(files["reference"]), str(other), "--json")
    assert code != 0
    text = out + err
    assert "other.parquet:age" in text and "categorical here, numeric in" in text
