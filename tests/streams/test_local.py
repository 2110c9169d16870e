"""What only the local log does: one SQLite file in WAL mode that another process reads and
writes, that outlives the process that wrote it, and that exports to Parquet."""

from __future__ import annotations

import builtins
import json
import os
import sqlite3
import subprocess
import sys
from pathlib import Path
from typing import Any

import pyarrow.parquet as pq
import pytest

from aiplane.core.errors import MissingDependencyError
from aiplane.streams.local import FILENAME, LocalInferenceLog

from .records import record

pytestmark = pytest.mark.anyio

# A writer in a process of its own: appends, says so, and exits without closing anything.
WRITER = """
import asyncio, os, sys
from pathlib import Path
from aiplane.streams.local import LocalInferenceLog
from tests.streams.records import record

async def main():
    log = LocalInferenceLog(Path(sys.argv[1]))
    await log.append([record(n, "churn") for n in range(int(sys.argv[2]), int(sys.argv[3]))])
    print("appended", flush=True)
    os._exit(0)

asyncio.run(main())
"""


ROOT = Path(__file__).resolve().parents[2]


def write_in_a_process(directory: Path, first: int, end: int) -> None:
    # This tree's aiplane and its tests package, whatever the venv's editable install points at.
    path = os.pathsep.join([str(ROOT / "src"), str(ROOT), os.environ.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", WRITER, str(directory), str(first), str(end)],
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": path},
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout == "appended\n"


async def test_records_a_process_wrote_before_it_died_are_there(tmp_path: Path) -> None:
    write_in_a_process(tmp_path, 1, 4)

    log = LocalInferenceLog(tmp_path)
    found = await log.read()
    await log.close()

    assert [(p.position, p.record) for p in found] == [(n, record(n, "churn")) for n in (1, 2, 3)]


async def test_another_process_writes_while_this_one_holds_the_log_open(tmp_path: Path) -> None:
    log = LocalInferenceLog(tmp_path)
    await log.append([record(1)])

    write_in_a_process(tmp_path, 2, 4)
    await log.append([record(4)])

    assert [(p.position, p.record.request_id) for p in await log.read()] == [
        (1, "req-1"),
        (2, "req-2"),
        (3, "req-3"),
        (4, "req-4"),
    ]
    with sqlite3.connect(tmp_path / FILENAME) as db:
        assert db.execute("PRAGMA journal_mode").fetchone() == ("wal",)
    await log.close()


async def test_positions_are_never_reused_after_records_are_deleted(tmp_path: Path) -> None:
    log = LocalInferenceLog(tmp_path)
    await log.append([record(1), record(2)])
    await log.close()
    with sqlite3.connect(tmp_path / FILENAME) as db:  # what a retention job would do
        db.execute("DELETE FROM records")

    log = LocalInferenceLog(tmp_path)
    await log.append([record(3)])

    assert [p.position for p in await log.read()] == [3]
    await log.close()


async def test_a_log_from_a_newer_aiplane_is_refused_by_its_path(tmp_path: Path) -> None:
    with sqlite3.connect(tmp_path / FILENAME) as db:
        db.execute("PRAGMA user_version=99")

    with pytest.raises(RuntimeError, match=rf"{FILENAME}: inference log schema 99 is newer"):
        LocalInferenceLog(tmp_path)


async def test_export_writes_every_field_after_a_position_to_parquet(tmp_path: Path) -> None:
    log = LocalInferenceLog(tmp_path / "log")
    await log.append([record(1), record(2, principal="svc-a", features={"x": [1, 2]})])
    await log.append([record(3, "churn")])

    assert await log.export_parquet(tmp_path / "all.parquet") == 3
    assert await log.export_parquet(tmp_path / "later.parquet", after=1) == 2
    assert await log.export_parquet(tmp_path / "none.parquet", after=3) == 0
    await log.close()

    rows = pq.read_table(tmp_path / "later.parquet").to_pylist()
    assert [r["position"] for r in rows] == [2, 3]
    second = record(2, principal="svc-a", features={"x": [1, 2]})
    assert rows[0] == {
        "position": 2,
        "request_id": "req-2",
        "endpoint": "fraud",
        "version": second.version,
        "role": "primary",
        "site": second.site,
        "at": second.at,
        "latency_ms": second.latency_ms,
        "status": 200,
        "principal": "svc-a",
        "features": json.dumps({"x": [1, 2]}, separators=(",", ":")),
        "prediction": json.dumps({"score": 0.5}, separators=(",", ":")),
    }
    assert rows[1]["principal"] is None and rows[1]["endpoint"] == "churn"
    assert pq.read_table(tmp_path / "none.parquet").num_rows == 0


async def test_export_reads_in_batches(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("aiplane.streams.local.EXPORT_BATCH", 2)
    log = LocalInferenceLog(tmp_path)
    await log.append([record(n) for n in range(1, 6)])

    assert await log.export_parquet(tmp_path / "out.parquet") == 5
    await log.close()

    table = pq.read_table(tmp_path / "out.parquet")
    assert table.column("position").to_pylist() == [1, 2, 3, 4, 5]
    assert pq.ParquetFile(tmp_path / "out.parquet").num_row_groups == 3


async def test_export_without_pyarrow_says_what_to_install(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    log = LocalInferenceLog(tmp_path)
    real_import = builtins.__import__

    def refuse_pyarrow(name: str, *args: Any, **kwargs: Any) -> Any:
        if name.startswith("pyarrow"):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse_pyarrow)

    with pytest.raises(MissingDependencyError, match=r"pip install 'aiplane\[parquet\]'"):
        await log.export_parquet(tmp_path / "out.parquet")
    await log.close()
