"""The model registry through its API: registrations per second, ``name@alias`` lookups per
second and their p99, and a large artifact's upload and verify rates next to ``sha256sum``.

Starts ``aiplane up`` in its own process under a temporary AIPLANE_HOME (SQLite there, or the
empty database ``--database-url`` names; blobs under the home), then, over HTTP:

- registers ``--versions`` versions from several client threads, each a small manifest of one
  tiny blob uploaded once (``versions_per_s``: the server's signing, access checks, audit
  entry and conditional insert per version);
- promotes one version to ``production`` (a policy of no approvals, set first) and resolves
  ``GET /models/{name}/versions/production`` ``--lookups`` times from several keep-alive
  clients (``alias_lookups_per_s``, ``alias_lookup_p99_ms``);
- makes a file of ``--size-gb`` random bytes (written in chunks, never held in memory), times
  ``sha256sum`` on it as the ceiling, registers a folder of it through ``aiplane.client``
  (``upload_mb_s``: the client's hashing, the transfer and the server's commit), and verifies
  it through the API (``verify_mb_s``: the server re-reads and re-hashes the blob).

``server_peak_rss_mb`` is the server process's VmHWM (``/proc/<pid>/status``) at the end.
Prints one JSON line with the targets beside the figures.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from waiting_fleet import start_server

from aiplane.client import Client

MB = 1024 * 1024
TEAM = "bench"
ALIAS_MODEL = "bench-0"
TARGETS = {
    "upload_vs_sha256sum_min": 0.8,
    "verify_vs_sha256sum_min": 0.8,
    "server_peak_rss_mb_max": 300,
    "alias_lookup_p99_ms_max": 10,
}


def server_peak_rss_mb(pid: int) -> float:
    """The peak resident set of process ``pid`` (VmHWM), in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    raise SystemExit(f"no VmHWM in /proc/{pid}/status (Linux is needed)")


def api(url: str, token: str) -> httpx.Client:
    return httpx.Client(
        base_url=url + "/api/v1",
        headers={"Authorization": f"Bearer {token}"},
        timeout=60,
        limits=httpx.Limits(max_connections=1, max_keepalive_connections=1),
    )


def checked(response: httpx.Response) -> dict[str, Any]:
    if response.status_code >= 400:
        raise SystemExit(f"{response.request.method} {response.request.url}: {response.text}")
    body: dict[str, Any] = response.json()
    return body


def in_threads(count: int, work: Callable[[int], None]) -> float:
    """``work(i)`` in ``count`` threads at once; the seconds until all finished. An exception
    in one is raised here."""
    failures: list[BaseException] = []

    def run(i: int) -> None:
        try:
            work(i)
        except BaseException as exc:  # noqa: BLE001 - reported by the caller's thread
            failures.append(exc)

    threads = [threading.Thread(target=run, args=(i,)) for i in range(count)]
    start = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - start
    if failures:
        raise failures[0]
    return elapsed


def register_versions(
    url: str, token: str, client: Client, tmp: Path, versions: int, threads: int
) -> float:
    """``versions`` registrations over ``threads`` models, one thread each; the versions per
    second."""
    tiny = tmp / "tiny"
    tiny.mkdir()
    (tiny / "weights.bin").write_bytes(b"a tiny model\n")
    manifest = client.models.register(ALIAS_MODEL, tiny, team=TEAM).artifact
    files = client.models.manifest(f"{ALIAS_MODEL}@1").model_dump()["files"]
    assert manifest and files
    share, extra = divmod(versions - 1, threads)  # the first is registered above

    def work(i: int) -> None:
        model = f"bench-{i}"
        with api(url, token) as http:
            for n in range(share + (1 if i < extra else 0)):
                body = {
                    "team": TEAM,
                    "manifest": {"files": files},
                    "flavor": "generic",
                    "metrics": {"auc": 0.5 + n * 1e-6},
                    "params": {"n": str(n)},
                }
                checked(http.post(f"/models/{model}/versions", json=body))

    elapsed = in_threads(threads, work)
    return (versions - 1) / elapsed


def promote_one(client: Client) -> None:
    client.models.set_policy(ALIAS_MODEL, {"aliases": {"production": {"approvals": 0}}})
    client.models.promote([(f"{ALIAS_MODEL}@1", "production")])


def time_lookups(url: str, token: str, lookups: int, threads: int) -> tuple[float, list[float]]:
    """(lookups per second, each lookup's seconds) of ``name@production`` from ``threads``
    keep-alive clients."""
    per = [lookups // threads + (1 if i < lookups % threads else 0) for i in range(threads)]
    latencies: list[list[float]] = [[] for _ in range(threads)]
    path = f"/models/{ALIAS_MODEL}/versions/production"

    def work(i: int) -> None:
        with api(url, token) as http:
            assert checked(http.get(path))["version"] == 1  # warm the connection, check once
            mine = latencies[i]
            for _ in range(per[i]):
                start = time.perf_counter()
                response = http.get(path)
                mine.append(time.perf_counter() - start)
                if response.status_code != 200:
                    raise SystemExit(f"GET {path}: {response.status_code} {response.text}")

    elapsed = in_threads(threads, work)
    return lookups / elapsed, [x for one in latencies for x in one]


def p99(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * 0.99))]


def make_file(path: Path, size: int) -> None:
    with path.open("wb") as sink:
        left = size
        while left:
            n = min(left, 8 * MB)
            sink.write(os.urandom(n))
            left -= n


def timed_sha256sum(path: Path) -> tuple[str, float]:
    program = shutil.which("sha256sum")
    if program is None:
        raise SystemExit("sha256sum (coreutils) is needed as the ceiling to compare with")
    start = time.perf_counter()
    out = subprocess.run([program, str(path)], capture_output=True, check=True, text=True)
    return out.stdout.split()[0], time.perf_counter() - start


def upload_and_verify(client: Client, tmp: Path, size: int) -> dict[str, float]:
    folder = tmp / "big"
    folder.mkdir()
    source = folder / "model.bin"
    make_file(source, size)
    digest, sha_s = timed_sha256sum(source)
    start = time.perf_counter()
    registered = client.models.register("bench-big", folder, team=TEAM)
    upload_s = time.perf_counter() - start
    manifest = client.models.manifest(f"bench-big@{registered.version}")
    assert [f.sha256 for f in manifest.files] == [digest], (manifest.files, digest)
    source.unlink()  # the disk holds one copy at a time: the blob now
    start = time.perf_counter()
    verified = client.models.verify(f"bench-big@{registered.version}")
    verify_s = time.perf_counter() - start
    assert verified.ok and verified.bytes == size, verified
    size_mb = size / MB
    return {
        "size_mb": round(size_mb, 1),
        "sha256sum_mb_s": round(size_mb / sha_s, 1),
        "upload_mb_s": round(size_mb / upload_s, 1),
        "verify_mb_s": round(size_mb / verify_s, 1),
        "upload_vs_sha256sum": round(sha_s / upload_s, 3),
        "verify_vs_sha256sum": round(sha_s / verify_s, 3),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--versions", type=int, default=10_000)
    parser.add_argument("--lookups", type=int, default=100_000)
    parser.add_argument("--size-gb", type=float, default=5.0)
    parser.add_argument("--threads", type=int, default=4, help="client threads")
    parser.add_argument("--database-url", help="an empty database (default: SQLite)")
    args = parser.parse_args()
    if args.versions < args.threads + 1:
        parser.error(f"--versions must be at least --threads + 1 ({args.threads + 1})")
    with tempfile.TemporaryDirectory(prefix="bench-registry-") as name:
        tmp = Path(name)
        home = tmp / "home"
        env = {"AIPLANE_TELEMETRY": "off"}
        if args.database_url:
            env["AIPLANE_DATABASE_URL"] = args.database_url
        proc, url, token = start_server(home, env, timeout_s=60)
        try:
            with Client(url, token, timeout=600) as client:
                versions_per_s = register_versions(
                    url, token, client, tmp, args.versions, args.threads
                )
                promote_one(client)
                rate, latencies = time_lookups(url, token, args.lookups, args.threads)
                big = upload_and_verify(client, tmp, int(args.size_gb * 1024 * MB))
            rss = server_peak_rss_mb(proc.pid)
        finally:
            proc.terminate()
            proc.wait(timeout=30)
    figures = {
        "versions": args.versions,
        "versions_per_s": round(versions_per_s, 1),
        "lookups": args.lookups,
        "alias_lookups_per_s": round(rate, 1),
        "alias_lookup_p99_ms": round(p99(latencies) * 1000, 2),
        **big,
        "server_peak_rss_mb": round(rss, 1),
        "targets": TARGETS,
        "database": "postgresql" if args.database_url else "sqlite",
        "threads": args.threads,
        "cpus": os.cpu_count(),
        "python": sys.version.split()[0],
        "platform": platform.platform(),
    }
    print(json.dumps(figures))


if __name__ == "__main__":
    main()
