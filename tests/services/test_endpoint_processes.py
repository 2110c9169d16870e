"""A command endpoint on the local backend: a real HTTP server process on $AIPLANE_PORT becomes
a ready replica in the gateway's table, answers there, and stops when the endpoint is
deleted."""

from __future__ import annotations

import sys
import time
import urllib.request
from pathlib import Path

from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.auth import Caller, GlobalRole, TeamRole
from aiplane.core.runs import RunState
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.core.serving.routes import EndpointRoute
from aiplane.services.jobs import stop_processes
from aiplane.services.scheduling import run_cycle
from aiplane.specs.endpoint import endpoint_from_document
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane
from tests.builders import local_fleet_document
from tests.identities import grant_principal

SERVER = """\
import http.server, os

class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self):
        ok = self.path == "/v2/health/ready"
        self.send_response(200 if ok else 404)
        self.end_headers()
        self.wfile.write(b"ready" if ok else b"no")

    def log_message(self, *args):
        pass

address = ("127.0.0.1", int(os.environ["AIPLANE_PORT"]))
http.server.ThreadingHTTPServer(address, Handler).serve_forever()
"""


def step(cp: ControlPlane) -> None:
    now = time.time()
    cp.endpoints.reconcile(now)
    fleet = cp.fleets.current()
    assert fleet is not None
    run_cycle(cp.store, fleet, cp.policy, now, backends=cp.backends)
    cp.executor.launch_admitted(now)
    cp.executor.reconcile(now)


def ready_route(cp: ControlPlane, timeout_s: float = 30.0) -> EndpointRoute:
    deadline = time.monotonic() + timeout_s
    while True:
        step(cp)
        cp.services.gateway._cached = None  # type: ignore[attr-defined]  # no 1 s cache here
        route = cp.services.gateway.table().endpoint("echo")
        if route is not None and any(r.ready for r in route.replicas):
            return route
        assert time.monotonic() < deadline, f"no ready replica in {timeout_s} s: {route}"
        time.sleep(0.2)


def test_a_command_endpoint_becomes_a_ready_replica_and_stops_when_deleted(
    tmp_path: Path,
) -> None:
    script = tmp_path / "serve.py"
    script.write_text(SERVER)
    settings = Settings(home=tmp_path / "home", database_url="memory://", catalog_dir=None)
    cp = ControlPlane(
        settings=settings,
        store=MemoryStore(),
        backends=PoolBackends(tmp_path / "work"),
        policy=PriorityBestFit(),
    )
    services = cp.services
    try:
        admin, _ = grant_principal(services, "root", global_role=GlobalRole.ADMIN)
        services.fleet.apply(Caller(admin), local_fleet_document(teams=[{"name": "t"}]), "f")
        member, _ = grant_principal(services, "alice", teams={"t": TeamRole.MEMBER})
        document = {
            "name": "echo",
            "team": "t",
            "command": f"{sys.executable} {script}",
            "sites": [{"site": "here", "min": 1, "max": 1}],
            "drain": 0,
        }
        services.endpoints.apply(Caller(member), endpoint_from_document(document, "e.yaml"))
        route = ready_route(cp)
        (replica,) = route.replicas
        assert replica.site == "here" and replica.version == "command"
        assert route.sites["here"].kind == "onprem" and not route.sites["here"].emulated
        with urllib.request.urlopen(f"http://{replica.address}/v2/health/ready", timeout=5) as r:
            assert r.read() == b"ready"
        services.endpoints.delete(Caller(member), "echo")
        assert cp.store.jobs.get_run(replica.run_id).state is RunState.CANCELLED
        step(cp)
        cp.services.gateway._cached = None  # type: ignore[attr-defined]
        assert cp.services.gateway.table().endpoint("echo") is None
    finally:
        # Whatever is left running is stopped (by its pid, through the backend).
        for run in cp.store.jobs.runs_in_states([RunState.RUNNING, RunState.STARTING]):
            stop_processes(cp.backends, run, 1.0)
        cp.stop()
