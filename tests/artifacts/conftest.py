"""Blob store members for the contract suite: memory, a local folder, and the fsspec store on
a ``file://`` URL and on S3 (moto's standalone server, one per test session, on 127.0.0.1 and
a free port, each test under its own prefix of one bucket)."""

from __future__ import annotations

import socket
import subprocess
import sys
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from aiplane.artifacts.base import BlobStore
from aiplane.artifacts.fsspec import FsspecBlobStore
from aiplane.artifacts.local import LocalBlobStore
from aiplane.artifacts.memory import MemoryBlobStore

BUCKET = "aiplane-artifacts"


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture(scope="session")
def s3_options() -> Iterator[dict[str, Any]]:
    """A moto S3 server for the session, and the storage options that reach it."""
    port = _free_port()
    server = subprocess.Popen(
        [sys.executable, "-m", "moto.server", "-H", "127.0.0.1", "-p", str(port)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.5).close()
                break
            except OSError:
                if server.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError("moto server did not start") from None
                time.sleep(0.1)
        options: dict[str, Any] = {
            "key": "testing",
            "secret": "testing",
            "client_kwargs": {"endpoint_url": f"http://127.0.0.1:{port}"},
            # A fresh client per store: the cached one would outlive the session's server.
            "skip_instance_cache": True,
        }
        FsspecBlobStore(f"s3://{BUCKET}", options).fs.mkdir(BUCKET)
        yield options
    finally:
        server.terminate()
        server.wait(timeout=10)


@pytest.fixture(params=["memory", "local", "s3", "fsspec-file"])
def make_store(request: pytest.FixtureRequest, tmp_path: Path) -> Callable[[], BlobStore]:
    """Makes a store; called twice, the second sees the first's blobs and uploads, as a
    restarted process would (with none of its in-memory state)."""
    if request.param == "memory":
        one = MemoryBlobStore()
        return lambda: one
    if request.param == "local":
        return lambda: LocalBlobStore(tmp_path / "store")
    if request.param == "fsspec-file":  # the generic path: no S3 semantics to lean on
        return lambda: FsspecBlobStore((tmp_path / "store").as_uri())
    options = request.getfixturevalue("s3_options")
    url = f"s3://{BUCKET}/{uuid.uuid4().hex}"
    return lambda: FsspecBlobStore(url, options)


@pytest.fixture
def store(make_store: Callable[[], BlobStore]) -> BlobStore:
    return make_store()
