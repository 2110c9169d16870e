"""`aiplane up --port` on a port in use: a clear message naming the port, exit 2, no
traceback, through the CLI (which execs the server) rather than the server module alone."""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

from aiplane.exits import EXIT_BAD_INPUT


def test_up_on_a_port_in_use_says_so(tmp_path: Path) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen(1)
        port = holder.getsockname()[1]
        env = {**os.environ, "AIPLANE_HOME": str(tmp_path / "home")}
        done = subprocess.run(
            [sys.executable, "-m", "aiplane", "up", "--port", str(port), "--quiet"],
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
    assert done.returncode == EXIT_BAD_INPUT, done.stderr
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr
    assert "--port" in done.stderr
    assert "Traceback" not in done.stdout + done.stderr
