"""`aiplane datasets` as a user runs it: real processes against a real control plane. The
same bytes registered twice are one version; another folder is the next; a version's files
come back byte for byte; a replica at another site is recorded."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.cli.registry_plane import Plane, folder, plane

pytestmark = pytest.mark.slow
__all__ = ["plane"]  # the fixture, imported to be found

ROWS = b"user,clicked\n" + b"".join(f"{i},{i % 2}\n".encode() for i in range(2000))


def test_register_get_download_and_add_a_replica(plane: Plane, tmp_path: Path) -> None:
    blob = os.urandom(50_000)
    data = folder(tmp_path / "clicks", {"part-0.csv": ROWS, "raw/blob.bin": blob})
    register = ("datasets", "register", "clicks", "--path", str(data), "--team", "risk")
    first = plane.ok("ana", *register, "--site", "here", "--jurisdiction", "EU", "--json")
    assert (first["version"], first["file_count"], first["size"]) == (1, 2, len(ROWS) + 50_000)
    assert first["jurisdiction"] == "EU" and [r["site"] for r in first["replicas"]] == ["here"]
    again = plane.ok("ana", *register, "--site", "here", "--json")
    assert again["version"] == 1 and again["artifact"] == first["artifact"]
    folder(data, {"part-1.csv": b"user,clicked\n9,1\n"})
    text = plane.ok("ana", *register, "--site", "here")
    assert "clicks@2" in text and "3 files" in text

    versions = plane.ok("bob", "datasets", "versions", "clicks", "--json")["items"]
    assert [v["version"] for v in versions] == [2, 1]
    assert [d["name"] for d in plane.ok("bob", "datasets", "list", "--json")] == ["clicks"]
    assert plane.ok("bob", "datasets", "show", "clicks", "--json")["latest_version"] == 2

    out = tmp_path / "out"
    plane.ok("bob", "datasets", "download", "clicks@1", "--to", str(out))
    assert (out / "part-0.csv").read_bytes() == ROWS
    assert (out / "raw/blob.bin").read_bytes() == blob
    assert not (out / "part-1.csv").exists()

    added = plane.ok(
        "ana",
        *("datasets", "replica", "add", "clicks@1", "--site", "eu-2", "--uri", "s3://dc2/c1"),
        "--json",
    )
    assert {(r["site"], r["uri"]) for r in added["replicas"]} >= {("eu-2", "s3://dc2/c1")}
    shown = plane.ok("bob", "datasets", "get", "clicks@1")
    assert "eu-2" in shown and "s3://dc2/c1" in shown and first["artifact"] in shown
    # A viewer of no team of the dataset's: not found, exit 1, no traceback.
    refused = plane.aiplane("bob", "datasets", "get", "nothing@1")
    assert refused.returncode == 1 and "Traceback" not in refused.stderr
