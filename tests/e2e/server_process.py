"""Running `aiplane up` as a real separate process for end-to-end tests."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

import httpx


def wait_until(predicate: Callable[[], Any], timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.1)
    raise AssertionError(f"timed out after {timeout:g}s waiting for {what}")


class ServerProcess:
    def __init__(self, home: Path, env: Mapping[str, str] | None = None) -> None:
        self.home = home
        self.extra_env = dict(env or {})  # added to the server's environment last
        self.proc: subprocess.Popen[bytes] | None = None
        self.url = ""
        self.token = ""

    def start(self, timeout_s: float = 30) -> ServerProcess:
        env = {**os.environ, "AIPLANE_HOME": str(self.home)}
        env.pop("AIPLANE_DATABASE_URL", None)
        env["AIPLANE_SCHEDULER_INTERVAL_S"] = "0.2"
        env["AIPLANE_RECONCILER_INTERVAL_S"] = "0.2"
        env.update(self.extra_env)
        old = self._info()
        log = open(self.home / "test-server.log", "ab")  # noqa: SIM115 - lives with the process
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "aiplane", "up", "--port", "0", "--quiet"],
            env=env,
            stdout=log,
            stderr=log,
        )

        def ready() -> bool:
            info = self._info()
            if info is None or info == old or self.proc is None:
                return False
            try:
                health = httpx.get(info["url"] + "/api/v1/health", timeout=1).json()
            except httpx.HTTPError:
                return False
            if health.get("pid") != self.proc.pid:
                return False
            self.url = info["url"]
            return True

        wait_until(ready, timeout_s, "the control plane to start")
        self.token = json.loads((self.home / "credentials").read_text())["token"]
        return self

    def _info(self) -> dict[str, Any] | None:
        try:
            data: dict[str, Any] = json.loads((self.home / "server.json").read_text())
            return data
        except (OSError, ValueError):
            return None

    def client(self) -> httpx.Client:
        return httpx.Client(
            base_url=self.url + "/api/v1",
            headers={"Authorization": f"Bearer {self.token}"},
            timeout=30,
        )

    def kill9(self) -> None:
        assert self.proc is not None
        self.proc.kill()
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()
