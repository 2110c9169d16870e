"""kill -9 of the control plane under concurrent submissions, then a count of what went wrong.

Starts `aiplane up` as a child process on 127.0.0.1 with its own temporary AIPLANE_HOME and a
one-node local fleet, runs ``--clients`` concurrent submitting clients (``--submissions`` in
all: short jobs of low and high priority, so that some preempt others), kills the control
plane with SIGKILL ``--kills`` times at random moments (restarting it each time), waits for
every job to end and counts:

    lost          acknowledged submissions (201) the store does not have
    replayed      acknowledgements that were replays (``Idempotent-Replayed: true``): a try
                  whose connection broke after the job was stored, answered on a retry
    duplicated    submissions stored more than once (one name per submission): every try of
                  a submission carries one Idempotency-Key (uuid5 of its name), so 0
    never_started runs failed with "supervisor never started the command"
    ran_twice     jobs whose command completed more than once (each appends a line to a file
                  named by its job id)
    stuck         runs still starting or preempted (or not ended) at the end
    orphans       supervisors or commands alive after every job ended

With ``--fault-at-launch`` the first life of the control plane also SIGKILLs itself when it
is about to start its third replica supervisor (after the launch marker: the window of
"supervisor never started", too narrow for random kills to hit often), through a
``sitecustomize`` on its PYTHONPATH, probe code, not the product's. Prints one JSON line.
``--store postgres`` uses AIPLANE_TEST_POSTGRES_URL (or ``--postgres``), whose tables are
dropped first. Bounded: the defaults take two to three minutes.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import random
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

import httpx

FLEET = {
    "sites": [
        {
            "name": "here",
            "kind": "onprem",
            "region": "local",
            "jurisdiction": "EU",
            "pools": [
                {
                    "name": "cpu",
                    "backend": "local",
                    "nodes": 1,
                    "node": {"cpus": 4, "memory_gib": 8},
                    "pricing": {"model": "owned", "usd_per_node_hour": 0.5},
                }
            ],
        }
    ]
}
NEVER_STARTED = "never started"
# Put first on the first life's PYTHONPATH by --fault-at-launch.
DIE_AT_LAUNCH = """
import os, signal, subprocess

_popen, _seen = subprocess.Popen, [0]


class _DiesAtLaunch(_popen):
    def __init__(self, args, *rest, **kw):
        if "aiplane.backends.process.supervise" in list(map(str, args)):
            _seen[0] += 1
            if _seen[0] == 3:
                os.kill(os.getpid(), signal.SIGKILL)
        super().__init__(args, *rest, **kw)


subprocess.Popen = _DiesAtLaunch
"""
START_S = 240  # a liveness bound: a loaded machine may take a minute to start it


class Plane:
    def __init__(self, home: Path, database_url: str | None) -> None:
        self.home = home
        self.database_url = database_url
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.token = ""

    def start(self, hook: Path | None = None) -> None:
        env = {**os.environ, "AIPLANE_HOME": str(self.home)}
        if hook is not None:
            env["PYTHONPATH"] = os.pathsep.join([str(hook), env.get("PYTHONPATH", "")])
        env.pop("AIPLANE_DATABASE_URL", None)
        if self.database_url:
            env["AIPLANE_DATABASE_URL"] = self.database_url
        env["AIPLANE_SCHEDULER_INTERVAL_S"] = "0.2"
        env["AIPLANE_RECONCILER_INTERVAL_S"] = "0.2"
        with (self.home / "probe-server.log").open("ab") as log:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "aiplane", "up", "--port", "0", "--quiet"],
                env=env,
                stdout=log,
                stderr=log,
            )
        deadline = time.monotonic() + START_S
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise SystemExit(f"the control plane exited ({self.proc.returncode}); see log")
            try:
                info = json.loads((self.home / "server.json").read_text())
                health = httpx.get(info["url"] + "/api/v1/health", timeout=1).json()
                if health.get("pid") == self.proc.pid:
                    self.url = info["url"] + "/api/v1"
                    self.token = json.loads((self.home / "credentials").read_text())["token"]
                    return
            except (OSError, ValueError, KeyError, httpx.HTTPError):
                pass
            time.sleep(0.1)
        raise SystemExit(f"the control plane did not start within {START_S} s")

    def kill9(self) -> None:
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(10)

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url, headers={"Authorization": f"Bearer {self.token}"}, timeout=10
        )


def spec(name: str, marks: Path, rng: random.Random) -> dict[str, Any]:
    high = rng.random() < 0.3
    seconds = rng.choice((0.3, 0.8, 1.5))
    return {
        "name": name,
        "team": "probe",
        "kind": "batch",
        "priority": "high" if high else "low",
        "resources": {"cpus": 4 if high else 1, "memory_gib": 1},  # high: the whole node
        # The line is appended when the work is done: two lines, two completed runs.
        "run": f'sleep {seconds}; echo "$AIPLANE_RUN_ID" >> {marks}/"$AIPLANE_JOB_ID"',
    }


# The submissions' keys: uuid5 of the name, so that every try of one submission carries the
# same Idempotency-Key (decision 0034) and a retry after a broken connection is deduplicated.
KEYS = uuid.UUID("5b0c6a2e-6f1d-4c8e-9a57-1d2c3b4a5f60")


def submitter(
    plane: Plane,
    names: list[str],
    marks: Path,
    seed: int,
    acked: dict[str, str],
    replayed: dict[str, int],
) -> None:
    rng = random.Random(seed)
    for name in names:
        body = {"spec": spec(name, marks, rng)}
        headers = {"Idempotency-Key": str(uuid.uuid5(KEYS, name))}
        for _ in range(600):  # retried while the control plane is down, with the same key
            try:
                with plane.client() as c:
                    r = c.post("/jobs", json=body, headers=headers)
                if r.status_code == 201:
                    acked[name] = r.json()["id"]
                    if r.headers.get("Idempotent-Replayed") == "true":
                        replayed[name] = replayed.get(name, 0) + 1
                    break
                in_flight = r.status_code == 409 and "idempotency_key_in_flight" in r.text
                if r.status_code < 500 and not in_flight:
                    break
            except (httpx.HTTPError, OSError):
                pass
            time.sleep(0.1)
        time.sleep(rng.random() * 0.1)


def listing(plane: Plane) -> list[dict[str, Any]]:
    items: list[dict[str, Any]] = []
    before: str | None = None
    with plane.client() as c:
        while True:
            params: dict[str, Any] = {"limit": 1000}
            if before:
                params["before"] = before
            page = c.get("/jobs", params=params).json()
            items.extend(page["items"])
            before = page.get("next_cursor")
            if not before:
                return items


def alive_processes(home: Path) -> int:
    count = 0
    for sup in home.glob("work/runs/*/a*/r*/supervisor.json"):
        record = json.loads(sup.read_text())
        for pid in (record["pid"], record["child_pid"]):
            try:
                stat = Path(f"/proc/{pid}/stat").read_text()
            except OSError:
                continue
            if stat.rsplit(")", 1)[1].split()[0] not in "ZX":
                count += 1
    return count


def reset_postgres(url: str) -> None:
    from sqlalchemy import create_engine, text

    engine = create_engine(url)
    with engine.begin() as conn:
        conn.execute(text("DROP SCHEMA public CASCADE"))
        conn.execute(text("CREATE SCHEMA public"))
    engine.dispose()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--postgres", default=os.environ.get("AIPLANE_TEST_POSTGRES_URL"))
    parser.add_argument("--kills", type=int, default=3)
    parser.add_argument("--submissions", type=int, default=60)
    parser.add_argument("--clients", type=int, default=4)
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--fault-at-launch", action="store_true", help="see the module doc")
    parser.add_argument("--settle-s", type=float, default=90.0, help="wait for jobs to end")
    args = parser.parse_args()
    rng = random.Random(args.seed)
    url = None
    if args.store == "postgres":
        if not args.postgres:
            raise SystemExit("--store postgres: set AIPLANE_TEST_POSTGRES_URL or --postgres")
        url = args.postgres
        reset_postgres(url)
    with tempfile.TemporaryDirectory(prefix="aiplane-probe-") as tmp:
        home, marks = Path(tmp) / "home", Path(tmp) / "marks"
        home.mkdir(mode=0o700)
        marks.mkdir()
        plane = Plane(home, url)
        started = time.monotonic()
        hook = None
        if args.fault_at_launch:
            hook = Path(tmp) / "hook"
            hook.mkdir()
            (hook / "sitecustomize.py").write_text(DIE_AT_LAUNCH)
        try:
            plane.start(hook)
            with plane.client() as c:
                r = c.put("/fleet", json={"spec": FLEET, "source": "probe.yaml"})
                if r.status_code != 200:
                    raise SystemExit(f"fleet refused: {r.text}")
            acked: dict[str, str] = {}
            replayed: dict[str, int] = {}
            names = [f"p{i:04d}" for i in range(args.submissions)]
            threads = [
                threading.Thread(
                    target=submitter,
                    args=(
                        plane,
                        names[k :: args.clients],
                        marks,
                        args.seed * 100 + k,
                        acked,
                        replayed,
                    ),
                )
                for k in range(args.clients)
            ]
            for t in threads:
                t.start()
            for _ in range(args.kills):
                time.sleep(rng.uniform(1.0, 4.0))
                plane.kill9()
                time.sleep(rng.uniform(0.0, 1.0))
                plane.start()
            for t in threads:
                t.join()
            deadline = time.monotonic() + args.settle_s
            while True:
                jobs = listing(plane)
                active = [j for j in jobs if j["state"] not in ("succeeded", "failed", "cancelled")]
                if not active or time.monotonic() > deadline:
                    break
                time.sleep(0.5)
            time.sleep(1.0)  # supervisors write exit.json before they exit
            by_name: dict[str, int] = {}
            for j in jobs:
                by_name[j["name"]] = by_name.get(j["name"], 0) + 1
            ids = {j["id"] for j in jobs}
            completions = {p.name: len(p.read_text().splitlines()) for p in marks.iterdir()}
            result = {
                "probe": "kill9",
                "store": args.store,
                "kills": args.kills,
                "fault_at_launch": args.fault_at_launch,
                "submissions": args.submissions,
                "clients": args.clients,
                "acknowledged": len(acked),
                "replayed": sum(replayed.values()),
                "lost": sum(1 for i in acked.values() if i not in ids),
                "duplicated": sum(n - 1 for n in by_name.values() if n > 1),
                "never_started": sum(
                    1
                    for j in jobs
                    if j["state"] == "failed" and NEVER_STARTED in (j["reason"] or "")
                ),
                "ran_twice": sum(1 for n in completions.values() if n > 1),
                "stuck": len(active),
                "stuck_states": sorted({j["state"] for j in active}),
                "preempted_attempts": sum(1 for j in jobs if j["attempt"] > 1),
                "succeeded": sum(1 for j in jobs if j["state"] == "succeeded"),
                "failed": sum(1 for j in jobs if j["state"] == "failed"),
                "orphans": alive_processes(home) if not active else None,
                "wall_s": round(time.monotonic() - started, 1),
            }
        finally:
            plane.stop()
            for sup in home.glob("work/runs/*/a*/r*/supervisor.json"):
                with_pg = json.loads(sup.read_text())
                with contextlib.suppress(ProcessLookupError, PermissionError):
                    os.killpg(with_pg["child_pgid"], signal.SIGKILL)
    print(json.dumps(result))


if __name__ == "__main__":
    main()
