"""What the inference gateway adds to a request's latency, at a fixed rate.

Starts a small upstream (``gateway_upstream.py``) and the gateway in front of it
(``gateway_static.py``: the real data path with a bearer token checked, a rate limit taken per
request and every request written to the inference log), then sends ``--rps`` requests per
second with ``hey`` (Debian's package ``hey``) for ``--seconds``, first straight to the
upstream, then through the gateway, ``--rounds`` times alternating, in the same run. Latencies
are each request's, from hey's CSV; percentiles over all rounds of a side.

The guards' cost: the same load, through the gateway, to an endpoint without guards and to one
with ``injection: flag`` and ``pii: redact``, each request an OIP request whose BYTES input
carries about 1,000 characters of text with an e-mail address in it (so each guarded request is
judged for injection, redacted and re-encoded); alternated with the other sides in each round.

Prints one JSON line: ``rps``, ``direct_p50_ms``, ``direct_p99_ms``, ``gateway_p50_ms``,
``gateway_p99_ms``, ``added_p50_ms``, ``added_p99_ms``; ``guards_off_p50_ms`` and
``guards_off_p99_ms`` (the text requests without guards), ``guards_gateway_p50_ms`` and
``guards_gateway_p99_ms`` (with them), ``guards_added_p50_ms`` and ``guards_added_p99_ms``
(with minus without); ``guards_cpu_p50_us`` and ``guards_cpu_p99_us``, the request guards' own
time per request measured in process; with the target beside them.
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import os
import platform
import shutil
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import httpx
import numpy as np

HERE = Path(__file__).resolve().parent
TOKEN = "bench-token"  # noqa: S105 (a benchmark's own token)
BODY = json.dumps(
    {"inputs": [{"name": "x", "shape": [1, 4], "datatype": "FP32", "data": [1, 2, 3, 4]}]}
)
# About 1,000 characters: a support request, an e-mail address in it, no injection.
TEXT = (
    "Hello, I ordered a pair of walking boots three weeks ago and they still have not "
    "arrived. The tracking page has said 'in transit' since the fourth, and the courier's "
    "hotline tells me to ask the shop. Could you check where the parcel is, and if it is "
    "lost, send a replacement in size 42 or refund the order? I would rather have the boots: "
    "I am leaving for a hiking trip at the end of the month and need to break them in first. "
    "My order number is on the confirmation you sent, and you can reach me at "
    "jane.doe@example.com or on the number in my account. Please ignore the typo in the "
    "delivery address of my last message: the street is Lindenallee, not Lindenalle, and the "
    "parcel should still have found its way with the postcode. If a replacement is sent, "
    "could it go by the express service? I am happy to pay the difference. Thank you for "
    "your help, and sorry for the long message: I have been waiting a while and wanted to "
    "give you everything at once so that we do not have to write back and forth. Best, Jane"
)
TEXT_BODY = json.dumps(
    {"inputs": [{"name": "text", "shape": [1], "datatype": "BYTES", "data": [TEXT]}]}
)
GUARDS = {"injection": "flag", "pii": "redact"}
TARGETS = {"added_p99_ms_max": 5.0}


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_ready(url: str, headers: dict[str, str] | None = None, timeout_s: float = 30.0) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, headers=headers, timeout=1.0).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.1)
    raise SystemExit(f"{url} did not answer 200 within {timeout_s:g} s")


def hey(
    url: str,
    rps: int,
    seconds: int,
    workers: int,
    headers: dict[str, str],
    body: str = BODY,
) -> list[float]:
    """Each request's latency in ms (hey's CSV), failing on any non-200 answer."""
    args = ["hey", "-z", f"{seconds}s", "-c", str(workers), "-q", str(rps / workers)]
    args += ["-m", "POST", "-T", "application/json", "-d", body, "-o", "csv"]
    for name, value in headers.items():
        args += ["-H", f"{name}: {value}"]
    out = subprocess.run([*args, url], check=True, capture_output=True, text=True).stdout
    rows = list(csv.DictReader(io.StringIO(out)))
    bad = [r["status-code"] for r in rows if r["status-code"] != "200"]
    if bad:
        raise SystemExit(f"{len(bad)} of {len(rows)} answers were not 200 (first: {bad[0]})")
    return [float(r["response-time"]) * 1000 for r in rows]


def pct(values: list[float], q: float) -> float:
    return round(float(np.percentile(values, q)), 3)


def guards_cpu_us(requests: int = 2000) -> list[float]:
    """The request guards' own time on ``TEXT_BODY`` in this process, per request, in µs:
    ``Guarding.check`` (injection judged, the e-mail redacted, the body re-encoded) on a body
    the gateway parsed already. Without hey's and the event loop's noise."""
    from prometheus_client import CollectorRegistry

    from aiplane.core.auth import Caller, Principal, PrincipalKind
    from aiplane.core.guards import GuardAction
    from aiplane.core.guards.policy import GuardPolicy
    from aiplane.core.serving.endpoints import EndpointSpec
    from aiplane.gateway import records
    from aiplane.gateway.guard_audit import GuardAudit
    from aiplane.gateway.guarding import Guarding
    from aiplane.gateway.metrics import GatewayMetrics

    metrics = GatewayMetrics(CollectorRegistry())
    audit = GuardAudit(lambda _hits: None, requests + 1, metrics.guard_audit_dropped)
    guarding = Guarding(metrics, audit)
    policy = GuardPolicy(injection=GuardAction.FLAG, pii=GuardAction.REDACT)
    spec = EndpointSpec("guarded", "bench", command="bench", guards=policy)
    who = Caller(Principal("p", "bench", PrincipalKind.SERVICE, 0.0))
    times = []
    for _ in range(requests):
        parsed = records.parse(TEXT_BODY.encode())
        started = time.perf_counter_ns()
        checked = guarding.check(spec, who, 0.0, "/v2/models/guarded/infer", parsed)
        times.append((time.perf_counter_ns() - started) / 1000.0)
        assert checked.body is not None  # redacted: re-encoded
    return times[requests // 10 :]  # past the warm-up


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rps", type=int, default=1000)
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--workers", type=int, default=20)
    args = parser.parse_args()
    apt = shutil.which("apt-get")
    if shutil.which("hey") is None and apt is not None and os.geteuid() == 0:
        # Debian's package; installed here when we may, so the benchmark runs from nothing.
        subprocess.run([apt, "install", "-y", "-q", "hey"], check=False)
    if shutil.which("hey") is None:
        raise SystemExit("needs hey (Debian's package): apt-get install hey")
    tmp = Path(tempfile.mkdtemp(prefix="aiplane-bench-gateway-"))
    up_port, gw_port = free_port(), free_port()
    config = {
        "port": gw_port,
        "token": TOKEN,
        "log_dir": str(tmp / "log"),
        "endpoints": [
            {
                "name": "bench",
                "sites": [{"name": "local"}],
                "replicas": [{"run_id": "r1", "site": "local", "address": f"127.0.0.1:{up_port}"}],
            },
            {
                "name": "guarded",
                "sites": [{"name": "local"}],
                "replicas": [{"run_id": "r2", "site": "local", "address": f"127.0.0.1:{up_port}"}],
                "guards": GUARDS,
            },
        ],
    }
    (tmp / "config.json").write_text(json.dumps(config))
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    procs = [
        subprocess.Popen(
            [sys.executable, str(HERE / "gateway_upstream.py"), str(up_port)], env=env
        ),
        subprocess.Popen(
            [sys.executable, str(HERE / "gateway_static.py"), str(tmp / "config.json")], env=env
        ),
    ]
    auth = {"Authorization": f"Bearer {TOKEN}"}
    try:
        wait_ready(f"http://127.0.0.1:{up_port}/v2/health/ready")
        wait_ready(f"http://127.0.0.1:{gw_port}/v2/models/bench/ready", auth)
        direct_url = f"http://127.0.0.1:{up_port}/v2/models/bench/infer"
        gateway_url = f"http://127.0.0.1:{gw_port}/v2/models/bench/infer"
        guarded_url = f"http://127.0.0.1:{gw_port}/v2/models/guarded/infer"
        hey(gateway_url, args.rps, 2, args.workers, auth)  # warm both: pools, caches
        hey(guarded_url, args.rps, 2, args.workers, auth, TEXT_BODY)
        direct: list[float] = []
        through: list[float] = []
        off: list[float] = []
        guarded: list[float] = []
        for _ in range(args.rounds):
            direct += hey(direct_url, args.rps, args.seconds, args.workers, {})
            through += hey(gateway_url, args.rps, args.seconds, args.workers, auth)
            off += hey(gateway_url, args.rps, args.seconds, args.workers, auth, TEXT_BODY)
            guarded += hey(guarded_url, args.rps, args.seconds, args.workers, auth, TEXT_BODY)
    finally:
        for proc in procs:
            proc.terminate()
        for proc in procs:
            proc.wait(timeout=10)
        shutil.rmtree(tmp, ignore_errors=True)
    result: dict[str, Any] = {
        "benchmark": "gateway",
        "rps": args.rps,
        "requests": len(direct) + len(through) + len(off) + len(guarded),
        "achieved_rps": round(len(through) / (args.rounds * args.seconds), 1),
        "direct_p50_ms": pct(direct, 50),
        "direct_p99_ms": pct(direct, 99),
        "gateway_p50_ms": pct(through, 50),
        "gateway_p99_ms": pct(through, 99),
    }
    result["added_p50_ms"] = round(result["gateway_p50_ms"] - result["direct_p50_ms"], 3)
    result["added_p99_ms"] = round(result["gateway_p99_ms"] - result["direct_p99_ms"], 3)
    cpu = guards_cpu_us()
    result["guards"] = GUARDS
    result["guards_cpu_p50_us"] = pct(cpu, 50)
    result["guards_cpu_p99_us"] = pct(cpu, 99)
    result["guards_text_chars"] = len(TEXT)
    result["guards_off_p50_ms"] = pct(off, 50)
    result["guards_off_p99_ms"] = pct(off, 99)
    result["guards_gateway_p50_ms"] = pct(guarded, 50)
    result["guards_gateway_p99_ms"] = pct(guarded, 99)
    for q in ("p50", "p99"):
        added = result[f"guards_gateway_{q}_ms"] - result[f"guards_off_{q}_ms"]
        result[f"guards_added_{q}_ms"] = round(added, 3)
    result["targets"] = TARGETS
    result["machine"] = {"cpus": os.cpu_count(), "python": platform.python_version()}
    print(json.dumps(result))


if __name__ == "__main__":
    main()
