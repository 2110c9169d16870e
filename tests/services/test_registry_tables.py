"""A dataset version's table summaries computed by the control plane from the stored bytes
when the registration brings none: Parquet and CSV files, from a local blob store (read where
they lie) or any other (streamed to a scratch file in chunks)."""

from __future__ import annotations

import io
from pathlib import Path
from typing import Any, BinaryIO

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from aiplane.artifacts.memory import MemoryBlobStore
from aiplane.core.errors import NotFoundError, SpecError
from aiplane.core.registry.records import ColumnSummary, TableSummary
from aiplane.registry_wiring import COPY_CHUNK
from aiplane.services.registry_types import DatasetRegistration
from tests.services.registry_plane import TEAM, Plane, fleet


def parquet_bytes(rows: int) -> bytes:
    sink = io.BytesIO()
    table = pa.table({"user": pa.array(range(rows), pa.int64()), "country": ["de"] * rows})
    pq.write_table(table, sink, row_group_size=100)
    return sink.getvalue()


FILES = {
    "clicks/day1.csv": b"user,clicks,when\nu1,3,2024-01-01\nu2,5,2024-01-02\n",
    "users.parquet": parquet_bytes(250),
    "README.md": b"# not a table",
}
EXPECTED = (
    TableSummary(
        "clicks/day1.csv",
        (
            ColumnSummary("user", "string"),
            ColumnSummary("clicks", "int64"),
            ColumnSummary("when", "date32[day]"),
        ),
        2,
    ),
    TableSummary(
        "users.parquet", (ColumnSummary("user", "int64"), ColumnSummary("country", "string")), 250
    ),
)


class ChunkedMemoryBlobs(MemoryBlobStore):
    """A blob store that is no local folder and refuses to be read whole: each read is of at
    most one chunk (what bounds the control plane's memory while it summarizes)."""

    def open_read(self, sha256: str, offset: int = 0) -> BinaryIO:
        inner = super().open_read(sha256, offset)

        class Bounded(io.RawIOBase):
            def readable(self) -> bool:
                return True

            def readinto(self, buffer: Any) -> int:
                assert 0 < len(buffer) <= COPY_CHUNK, f"a read of {len(buffer)} bytes"
                data = inner.read(len(buffer))
                buffer[: len(data)] = data
                return len(data)

        return Bounded()  # type: ignore[return-value]


@pytest.mark.parametrize("store", ["local", "streamed"])
def test_the_tables_are_read_from_the_stored_files(tmp_path: Path, store: str) -> None:
    plane = Plane(tmp_path, ChunkedMemoryBlobs() if store == "streamed" else None)
    plane.apply(fleet())
    version = plane.register("clicks", FILES)
    assert version.tables == EXPECTED
    assert plane.services.datasets.resolve(plane.alice, "clicks@1").tables == EXPECTED
    # Nothing is left in the scratch folder.
    scratch = plane.cp.settings.home / "scratch"
    assert not scratch.exists() or list(scratch.iterdir()) == []


def test_tables_the_client_sends_are_kept(tmp_path: Path) -> None:
    plane = Plane(tmp_path)
    plane.apply(fleet())
    given = (TableSummary("clicks/day1.csv", (ColumnSummary("user", "string"),), 2),)
    registration = DatasetRegistration("clicks", TEAM, plane.upload(FILES), "here", tables=given)
    assert plane.services.datasets.register(plane.alice, registration).tables == given


def test_a_file_that_is_no_table_it_claims_to_be_is_named_and_nothing_stored(
    tmp_path: Path,
) -> None:
    plane = Plane(tmp_path)
    plane.apply(fleet())
    with pytest.raises(SpecError) as err:
        plane.register("clicks", {**FILES, "broken.parquet": b"not parquet at all"})
    assert [p.location for p in err.value.problems] == ["broken.parquet"]
    with pytest.raises(NotFoundError):
        plane.services.datasets.show(plane.alice, "clicks")
