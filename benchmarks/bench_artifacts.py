"""The local blob store's upload and verify rates next to ``sha256sum`` on the same file.

Target: upload (append + commit, hashing while writing, fsync before the rename) and verify
(re-hash the stored blob) at 80% or more of ``sha256sum``'s rate. Makes a file of random bytes
under a temporary directory, times ``sha256sum`` on it, then a ``LocalBlobStore`` upload of it
read in chunks, then ``verify``; each checks its answer against ``sha256sum``'s. The file is
read from the page cache in all three (it was just written), so the figures compare the work
done on the bytes; the upload also writes them and fsyncs, so a plain copy with an fsync
(``disk_copy_fsync_mb_s``) is given as the disk's own ceiling. Prints one JSON line, with this
process's peak RSS: the file never sits in memory.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from aiplane.artifacts.base import CHUNK_SIZE
from aiplane.artifacts.local import LocalBlobStore
from aiplane.artifacts.streams import chunks_of

MB = 1024 * 1024


def peak_rss() -> int:
    """This process's peak resident set, in bytes. VmHWM where Linux has it: ``ru_maxrss``
    survives ``exec`` there, so a benchmark started by a large parent (pytest) would report
    the parent's peak."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024  # KiB on Linux


def make_file(path: Path, size_mb: int) -> None:
    with path.open("wb") as sink:
        for _ in range(size_mb):
            sink.write(os.urandom(MB))


def timed_sha256sum(path: Path) -> tuple[str, float]:
    program = shutil.which("sha256sum")
    if program is None:
        raise SystemExit("sha256sum (coreutils) is needed as the ceiling to compare with")
    start = time.perf_counter()
    out = subprocess.run([program, str(path)], capture_output=True, check=True, text=True)
    return out.stdout.split()[0], time.perf_counter() - start


def timed_copy(path: Path, target: Path) -> float:
    """A plain chunked copy with an fsync, no hashing: the disk's own ceiling for an upload."""
    start = time.perf_counter()
    with path.open("rb") as source, target.open("wb") as sink:
        for chunk in chunks_of(source, CHUNK_SIZE):
            sink.write(chunk)
        sink.flush()
        os.fsync(sink.fileno())
    elapsed = time.perf_counter() - start
    target.unlink()
    return elapsed


def timed_upload(store: LocalBlobStore, path: Path, digest: str) -> float:
    start = time.perf_counter()
    with path.open("rb") as source:
        store.append(digest, chunks_of(source, CHUNK_SIZE), 0)
    store.commit(digest)
    return time.perf_counter() - start


def timed_verify(store: LocalBlobStore, digest: str) -> float:
    start = time.perf_counter()
    found = store.verify(digest)
    elapsed = time.perf_counter() - start
    assert found == digest, (found, digest)
    return elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--size-mb", type=int, default=1024)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-artifacts-") as tmp:
        source = Path(tmp) / "artifact.bin"
        make_file(source, args.size_mb)
        digest, sha256sum_s = timed_sha256sum(source)
        copy_s = timed_copy(source, Path(tmp) / "copy.bin")
        store = LocalBlobStore(Path(tmp) / "store")
        upload_s = timed_upload(store, source, digest)
        assert store.size(digest) == args.size_mb * MB
        verify_s = timed_verify(store, digest)
    timings = [("sha", sha256sum_s), ("copy", copy_s), ("up", upload_s), ("ver", verify_s)]
    rate = {k: args.size_mb / s for k, s in timings}
    peak_rss_mb = peak_rss() / MB
    print(
        json.dumps(
            {
                "size_mb": args.size_mb,
                "chunk_mb": CHUNK_SIZE / MB,
                "sha256sum_mb_s": round(rate["sha"], 1),
                "disk_copy_fsync_mb_s": round(rate["copy"], 1),
                "upload_mb_s": round(rate["up"], 1),
                "verify_mb_s": round(rate["ver"], 1),
                "upload_vs_sha256sum": round(rate["up"] / rate["sha"], 3),
                "verify_vs_sha256sum": round(rate["ver"] / rate["sha"], 3),
                "peak_rss_mb": round(peak_rss_mb, 1),
                "python": sys.version.split()[0],
            }
        )
    )


if __name__ == "__main__":
    main()
