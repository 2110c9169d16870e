"""The gateway's composition: one port for the gateway and the API, the gateway's lifespan in
the server's, its metrics in the API's registry; and ``aiplane gateway`` as a process."""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client import CollectorRegistry, Counter

from aiplane.api.app import create_app
from aiplane.api.prometheus import registry_for
from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.auth import PrincipalKind
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.discovery import GATEWAY_TOKEN_ENV
from aiplane.gateway_wiring import Dispatch, build_gateway, is_gateway_path, metrics_app
from aiplane.server import EmbeddedServer
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane
from tests.asgi_server import Served
from tests.gateway_control import FakeGatewayControl, with_gateway
from tests.identities import grant


class EchoGateway:
    """A stand-in gateway: says it answered, and keeps its start and stop."""

    def __init__(self) -> None:
        self.events: list[str] = []

    async def app(self, scope: Any, _receive: Any, send: Any) -> None:
        body = f"gateway {scope['path']}".encode()
        await send({"type": "http.response.start", "status": 200, "headers": []})
        await send({"type": "http.response.body", "body": body})

    async def start(self) -> None:
        self.events.append("start")

    async def stop(self) -> None:
        self.events.append("stop")


@pytest.fixture
def plane(tmp_path: Path) -> ControlPlane:
    settings = Settings(home=tmp_path, database_url="memory://", catalog_dir=None)
    return ControlPlane(
        settings=settings,
        store=MemoryStore(),
        backends=PoolBackends(tmp_path / "work"),
        policy=PriorityBestFit(),
    )


@pytest.mark.parametrize(
    ("path", "gateway"),
    [
        ("/v1", True),
        ("/v1/chat/completions", True),
        ("/v2/models/fraud/infer", True),
        ("/v2", True),
        ("/v2x", False),
        ("/v10/models", False),
        ("/api/v1/health", False),
        ("/metrics", False),
        ("/", False),
    ],
)
def test_which_paths_are_the_gateways(path: str, gateway: bool) -> None:
    assert is_gateway_path(path) is gateway


def test_one_port_sends_v1_and_v2_to_the_gateway_and_the_rest_to_the_api(
    plane: ControlPlane,
) -> None:
    gateway = EchoGateway()
    served = Served(Dispatch(gateway, create_app(plane.services)), lifespan="on").start()
    try:
        assert gateway.events == ["start"]  # started with the server, before it answers
        with httpx.Client(base_url=served.url) as http:
            assert http.get("/v2/health/ready").text == "gateway /v2/health/ready"
            assert http.post("/v1/chat/completions", json={}).text == "gateway /v1/chat/completions"
            health = http.get("/api/v1/health")
            assert health.status_code == 200 and health.json()["status"] == "ok"
            assert http.get("/metrics").status_code == 200
            missing = http.get("/v2x")
            assert missing.status_code == 404 and missing.json()["error"]["code"] == "not_found"
    finally:
        served.stop()
    assert gateway.events == ["start", "stop"]


def test_the_real_gateway_behind_the_dispatcher_shares_the_apis_metrics(
    plane: ControlPlane, tmp_path: Path
) -> None:
    api = create_app(plane.services)
    registry = registry_for(plane.services.metrics)
    api.state.metrics_registry = registry
    gateway = build_gateway(
        FakeGatewayControl(),
        redis_url=None,
        nats_url=None,
        log_dir=tmp_path / "inference",
        registry=registry,
    )
    served = Served(Dispatch(gateway, api), lifespan="on").start()
    try:
        with httpx.Client(base_url=served.url) as http:
            assert http.get("/v2/health/live").status_code == 200
            unknown = http.post("/v2/models/fraud/infer", json={"inputs": []})
            assert unknown.status_code == 401  # no token: the gateway, not the API, answered
            metrics = http.get("/metrics").text
        assert "aiplane_gateway_requests" in metrics  # the gateway's series ...
        assert "aiplane_queue_pending_runs" in metrics  # ... beside the control plane's
    finally:
        served.stop()
    assert (tmp_path / "inference").is_dir()


def test_the_gateways_own_metrics_app() -> None:
    registry = CollectorRegistry()
    Counter("aiplane_gateway_probe", "a probe", registry=registry).inc()
    served = Served(metrics_app(registry)).start()
    try:
        with httpx.Client(base_url=served.url) as http:
            assert "aiplane_gateway_probe_total 1.0" in http.get("/metrics").text
            assert http.get("/api/v1/health").status_code == 404
    finally:
        served.stop()


@pytest.fixture
def control_api(plane: ControlPlane) -> Iterator[tuple[Served, str]]:
    """The control API over a fake gateway port, and a gateway service account's token."""
    headers = grant(plane.services, "gw", global_role="operator", kind=PrincipalKind.SERVICE)
    served = Served(create_app(with_gateway(plane.services, FakeGatewayControl()))).start()
    yield served, headers["Authorization"].split()[1]
    served.stop()


def test_aiplane_gateway_runs_alone_and_stops_on_sigterm(
    control_api: tuple[Served, str], tmp_path: Path
) -> None:
    """Through the CLI, which execs the gateway's process with the token in its environment."""
    served, token = control_api
    (tmp_path / "token").write_text(token)
    argv = [sys.executable, "-m", "aiplane", "gateway", "--port", "0"]
    argv += ["--control-plane", served.url, "--log-dir", str(tmp_path / "log")]
    argv += ["--token-file", str(tmp_path / "token")]
    env = {**os.environ, "AIPLANE_HOME": str(tmp_path / "home")}
    env["COLUMNS"] = "200"
    proc = subprocess.Popen(
        argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    try:
        url = _announced(proc)
        with httpx.Client(base_url=url, timeout=10) as http:
            assert http.get("/v2/health/live").status_code == 200
            # The fake's table has endpoint "fraud": its model, to this caller (no token), 401.
            assert http.get("/v2/models/fraud").status_code == 401
            assert "aiplane_gateway_requests" in http.get("/metrics").text
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=20) == 0, proc.stderr.read() if proc.stderr else ""
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(10)


def _announced(proc: subprocess.Popen[str]) -> str:
    """The URL in the gateway's first line: ``aiplane gateway at http://HOST:PORT``."""
    assert proc.stdout is not None
    ready, _, _ = select.select([proc.stdout], [], [], 30)
    assert ready, "the gateway said nothing in 30 s"
    line = proc.stdout.readline()
    assert "aiplane gateway at http://" in line, (line, proc.stderr.read() if proc.stderr else "")
    return line.split(" at ", 1)[1].strip()


def test_aiplane_up_serves_the_gateway_on_the_apis_port(tmp_path: Path) -> None:
    """The whole control plane (the endpoint service as the gateway's port, in-process): the
    gateway answers on the API's port, with the caller's token, and /metrics has its series."""
    settings = Settings(home=tmp_path / "home", database_url="memory://", catalog_dir=None)
    with EmbeddedServer(settings) as plane, httpx.Client(base_url=plane.url, timeout=10) as http:
        admin = {"Authorization": f"Bearer {plane.token}"}
        assert http.get("/v2/health/live").status_code == 200
        models = http.get("/v1/models", headers=admin)
        assert models.status_code == 200, models.text
        assert models.json()["object"] == "list"
        assert http.get("/v1/models").status_code == 401
        assert http.get("/api/v1/whoami", headers=admin).json()["name"] == "admin"
        metrics = http.get("/metrics").text
        assert "aiplane_gateway_requests" in metrics
        assert "aiplane_runs" in metrics


def test_aiplane_gateway_alone_in_front_of_a_real_control_plane(tmp_path: Path) -> None:
    """The gateway process, its port over HTTP (RemoteControl), the control plane's endpoint
    service behind it: a caller's token is known through the control API, a bad one is not."""
    settings = Settings(home=tmp_path / "home", database_url="memory://", catalog_dir=None)
    with EmbeddedServer(settings) as plane:
        gw = grant(plane.cp.services, "gw", global_role="operator", kind=PrincipalKind.SERVICE)
        env = {**os.environ, GATEWAY_TOKEN_ENV: gw["Authorization"].split()[1]}
        argv = [sys.executable, "-m", "aiplane.gateway_wiring", "--port", "0"]
        argv += ["--control-plane", plane.url, "--log-dir", str(tmp_path / "log")]
        proc = subprocess.Popen(
            argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        try:
            with httpx.Client(base_url=_announced(proc), timeout=10) as http:
                admin = {"Authorization": f"Bearer {plane.token}"}
                models = http.get("/v1/models", headers=admin)
                assert models.status_code == 200, models.text
                assert models.json()["object"] == "list"
                refused = http.get("/v1/models", headers={"Authorization": "Bearer aip_nope"})
                assert refused.status_code == 401
            proc.send_signal(signal.SIGTERM)
            assert proc.wait(timeout=20) == 0
        finally:
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
