"""The ``backend_config`` of a pool whose replicas are local processes.

backend_config:
  serve_host: 10.0.0.7          # where serving replicas listen and are reached (127.0.0.1)
  ports: {min: 20000, max: 20999}   # the ports they get (default: any free port)
"""

from __future__ import annotations

from dataclasses import dataclass

from aiplane.backends.base import BackendConfig
from aiplane.backends.config import ConfigReader

DEFAULT_HOST = "127.0.0.1"
_LOWEST_PORT = 1024  # below it a replica would need root to listen
_HIGHEST_PORT = 65535

SETTINGS = {
    "serve_host": "a host name or IP address that serving replicas listen on and are reached "
    f"at (default {DEFAULT_HOST})",
    "ports": f"{{min, max}}: whole numbers from {_LOWEST_PORT} to {_HIGHEST_PORT}, min <= max "
    "(default: any free port)",
}


@dataclass(frozen=True)
class ProcessConfig:
    serve_host: str = DEFAULT_HOST
    # None: the kernel picks a free port; else the first free port in [min, max].
    ports: tuple[int, int] | None = None


def read_process_config(backend: str, config: BackendConfig) -> ProcessConfig:
    """The settings in ``config``, or a BackendConfigError naming every bad one."""
    reader = ConfigReader(backend, config, SETTINGS)
    host = reader.text("serve_host", DEFAULT_HOST)
    ports = _ports(reader)
    reader.done()
    return ProcessConfig(host, ports)


def _ports(reader: ConfigReader) -> tuple[int, int] | None:
    raw = reader.mapping("ports")
    if raw is None:
        return None
    for key, value in raw.items():
        if key not in ("min", "max"):
            reader.add(f"ports.{key}", "unknown setting", value, "min, max")
    bounds = [
        reader.integer(f"ports.{key}", raw.get(key), _LOWEST_PORT, _HIGHEST_PORT)
        for key in ("min", "max")
    ]
    low, high = bounds
    if low is None or high is None:
        return None
    if low > high:
        reader.add("ports", "min is greater than max", dict(raw), "min <= max")
        return None
    return low, high
