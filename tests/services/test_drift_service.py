"""The drift service over the pyarrow reader: batches of columns give the same verdicts as
one read, and timings are reported."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from aiplane.services.drift import DriftService

pa = pytest.importorskip("pyarrow")
pq = pytest.importorskip("pyarrow.parquet")


def test_batches_of_columns_change_nothing(tmp_path: Path) -> None:
    from aiplane.tabular.columns import ArrowColumnReader

    rng = np.random.default_rng(0)

    def write(path: Path, shift: float) -> Path:
        cols = {f"x{j}": rng.normal(shift * (j % 2), 1.0, 5000) for j in range(5)}
        cols["c"] = rng.choice(["a", "b", "c"], 5000)
        pq.write_table(pa.table(cols), path)
        return path

    ref, cur = write(tmp_path / "r.parquet", 0.0), write(tmp_path / "c.parquet", 0.3)
    whole = DriftService(ArrowColumnReader(), batch=16).check(ref, cur)
    one_by_one = DriftService(ArrowColumnReader(), batch=1).check(ref, cur)
    assert whole.report == one_by_one.report
    assert {c.name for c in whole.report.columns if c.drifted} == {"x1", "x3"}
    assert whole.timings.read_s > 0 and whole.timings.check_s > 0
