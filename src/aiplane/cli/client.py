"""Finding the control plane and talking to it.

With ``AIPLANE_URL`` (and ``AIPLANE_TOKEN``) the CLI talks to that server. Otherwise it uses the
local one described in ``$AIPLANE_HOME/server.json``, starting it in the background when none
is running, as SkyPilot's CLI does with its API server.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from aiplane.config import Settings
from aiplane.server import read_server_info

API = "/api/v1"
START_TIMEOUT_S = 30.0


@dataclass
class ApiError(Exception):
    status: int
    code: str
    message: str
    problems: list[dict[str, Any]] = field(default_factory=list)

    def __str__(self) -> str:
        return self.message


class UnreachableError(Exception):
    pass


def _healthy(url: str, timeout: float = 1.0) -> dict[str, Any] | None:
    try:
        response = httpx.get(f"{url}{API}/health", timeout=timeout)
        if response.status_code == 200:
            data: dict[str, Any] = response.json()
            return data
    except httpx.HTTPError:
        return None
    return None


def local_server(settings: Settings) -> str | None:
    """URL of the local server if it is up (and really is the process the file names)."""
    info = read_server_info(settings)
    if info is None:
        return None
    health = _healthy(info.url)
    if health is None or health.get("pid") != info.pid:
        return None
    return info.url


def start_local_server(settings: Settings, notice: Any = None) -> str:
    """Start ``aiplane up`` detached, logging to ``server.log``, and wait until it answers."""
    settings.home.mkdir(parents=True, exist_ok=True)
    before = read_server_info(settings)
    with open(settings.log_file, "ab") as log:
        subprocess.Popen(
            [sys.executable, "-m", "aiplane", "up", "--port", "0", "--quiet"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            start_new_session=True,
            env={**os.environ, "AIPLANE_HOME": str(settings.home)},
        )
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        info = read_server_info(settings)
        if info is not None and info != before:
            url = local_server(settings)
            if url is not None:
                if notice is not None:
                    notice(f"started a local control plane at {url} (log: {settings.log_file})")
                return url
        time.sleep(0.1)
    raise UnreachableError(
        f"the local control plane did not start within {START_TIMEOUT_S:.0f} s; "
        f"see {settings.log_file}"
    )


def local_token(settings: Settings) -> str | None:
    try:
        data = json.loads(settings.credentials_file.read_text())
        token = data.get("token")
        return str(token) if token else None
    except (OSError, ValueError):
        return None


class Client:
    def __init__(self, url: str, token: str | None, timeout: float = 30.0) -> None:
        self.url = url.rstrip("/")
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        self._http = httpx.Client(base_url=self.url + API, headers=headers, timeout=timeout)

    @classmethod
    def connect(cls, settings: Settings, autostart: bool = True, notice: Any = None) -> Client:
        url = os.environ.get("AIPLANE_URL")
        token = os.environ.get("AIPLANE_TOKEN")
        if url:
            return cls(url, token)
        local = local_server(settings)
        if local is None:
            if not autostart:
                raise UnreachableError(
                    f"no local control plane is running (AIPLANE_HOME={settings.home})"
                )
            local = start_local_server(settings, notice)
        return cls(local, token or local_token(settings))

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        try:
            response = self._http.request(method, path, **kwargs)
        except httpx.HTTPError as exc:
            raise UnreachableError(f"cannot reach {self.url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                err = response.json()["error"]
                raise ApiError(
                    response.status_code, err["code"], err["message"], err.get("problems", [])
                )
            except (ValueError, KeyError, TypeError):
                raise ApiError(response.status_code, "http_error", response.text[:500]) from None
        return response.json()

    def get(self, path: str, **params: Any) -> Any:
        clean = {k: v for k, v in params.items() if v is not None}
        return self.request("GET", path, params=clean)

    def post(self, path: str, body: Any = None) -> Any:
        return self.request("POST", path, json=body)

    def put(self, path: str, body: Any) -> Any:
        return self.request("PUT", path, json=body)

    def download(self, path: str, out: Path, params: dict[str, Any]) -> int:
        """Stream a GET response body into ``out``; returns the bytes written."""
        try:
            with self._http.stream("GET", path, params=params) as response:
                if response.status_code >= 400:
                    response.read()
                    self._raise(response)
                written = 0
                with open(out, "wb") as f:
                    for chunk in response.iter_bytes():
                        written += f.write(chunk)
                return written
        except httpx.HTTPError as exc:
            raise UnreachableError(f"cannot reach {self.url}: {exc}") from exc

    @staticmethod
    def _raise(response: httpx.Response) -> None:
        try:
            err = response.json()["error"]
            raise ApiError(
                response.status_code, err["code"], err["message"], err.get("problems", [])
            )
        except (ValueError, KeyError, TypeError):
            raise ApiError(response.status_code, "http_error", response.text[:500]) from None

    def close(self) -> None:
        self._http.close()
