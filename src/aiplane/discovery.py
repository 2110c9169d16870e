"""Finding the local control plane: its home directory, the server file, the health check.

A server writes ``server.json`` (its URL and pid) and, on its first start, ``credentials`` (the
admin token) under its home; clients read them and check that the process the file names is the
one that answers there. The server and every client share this module, so it stays cheap to
import: the CLI reads it on every command (decision 0016). Starting a server is a subprocess
(``python -m aiplane.server``), never an import of the server's code.
"""

from __future__ import annotations

import fcntl
import json
import logging
import os
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TextIO

import httpx

from aiplane.wire import API_PREFIX

DEFAULT_PORT = 8470
START_TIMEOUT_S = 30.0
SERVER_MODULE = "aiplane.server"
# ``aiplane gateway``: the process it becomes, where it listens, and the variable it hands the
# gateway's credential in (an argument would be on display to every user of the machine).
GATEWAY_MODULE = "aiplane.gateway_wiring"
DEFAULT_GATEWAY_PORT = 8081
GATEWAY_TOKEN_ENV = "AIPLANE_GATEWAY_TOKEN"  # noqa: S105 (a variable's name, not a secret)
# What a server exits with when another one holds its home (running, or still starting).
HOME_TAKEN_EXIT = 75
# What it exits with when a control plane with another home holds its database (decision 0035):
# not 75, since the client that started it must not wait for a server over its own home.
DATABASE_TAKEN_EXIT = 76
# How the server's refusal begins (``DatabaseTakenError.held_by``); it prints it on one line.
DATABASE_TAKEN_TEXT = "another control plane already runs over the database"
# How much of the end of ``server.log`` a refused start's message is looked for in.
_LOG_TAIL_BYTES = 64 * 1024

log = logging.getLogger(__name__)


class UnreachableError(Exception):
    """No control plane answers where one was expected."""


def home_from_env() -> Path:
    """``$AIPLANE_HOME``, else ``~/.aiplane``: where a local control plane keeps its state."""
    root = Path(os.environ.get("AIPLANE_HOME") or Path.home() / ".aiplane")
    return root.expanduser().resolve()


def make_home(home: Path) -> None:
    """A control plane's home, readable by its owner only when we create it: it holds the
    credentials, the signing key and, with SQLite, the database. One that exists is left as
    its owner made it (a client does not change it; the server does, ``secure_home``)."""
    if not home.is_dir():
        home.mkdir(mode=0o700, parents=True, exist_ok=True)
        home.chmod(0o700)  # mkdir's mode is narrowed by the umask, never widened


def secure_home(home: Path) -> None:
    """At a server's start: the home made, or made its owner's only (0700) when it exists with a
    wider mode and belongs to this user; a home of another user's is left as it is, with a
    warning (we may not change it, and must not guess that we should)."""
    make_home(home)
    info = home.stat()
    mode = info.st_mode & 0o777
    if mode == 0o700:
        return
    if info.st_uid != os.getuid():
        log.warning(
            "AIPLANE_HOME %s (mode %o) belongs to uid %d, not to this user (uid %d): left as it "
            "is; others may read the credentials, the signing key and the database in it",
            home,
            mode,
            info.st_uid,
            os.getuid(),
        )
        return
    home.chmod(0o700)
    log.info("AIPLANE_HOME %s was mode %o: made 0700 (it holds credentials)", home, mode)


def write_private(path: Path, text: str) -> None:
    """Write a file readable only by its owner, atomically."""
    tmp = path.with_suffix(path.suffix + ".tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # a stale temp file keeps its mode through O_CREAT
    with os.fdopen(fd, "w") as f:
        f.write(text)
    os.replace(tmp, path)


def needs_tls(url: str) -> bool:
    """Whether ``url`` speaks TLS. A plain-HTTP client need not load the CA bundle, which is
    about a tenth of a second of every CLI command (httpx loads it for each client)."""
    return not url.lower().startswith("http://")


def health(url: str, timeout: float = 1.0) -> dict[str, object] | None:
    """The server's ``/health`` body, or None when nothing healthy answers at ``url``."""
    try:
        response = httpx.get(f"{url}{API_PREFIX}/health", timeout=timeout, verify=needs_tls(url))
        if response.status_code == 200:
            data: dict[str, object] = response.json()
            return data
    except (httpx.HTTPError, ValueError):
        return None
    return None


@dataclass(frozen=True)
class ServerInfo:
    url: str
    pid: int
    started_at: float


@dataclass(frozen=True)
class LocalHome:
    """A control plane's home directory and the discovery files in it."""

    root: Path

    @classmethod
    def from_env(cls) -> LocalHome:
        return cls(home_from_env())

    @property
    def server_file(self) -> Path:
        return self.root / "server.json"

    @property
    def credentials_file(self) -> Path:
        return self.root / "credentials"

    @property
    def log_file(self) -> Path:
        return self.root / "server.log"

    @property
    def lock_file(self) -> Path:
        return self.root / "server.lock"

    def claim(self) -> TextIO | None:
        """Hold this home for one server: the open lock file, which the server keeps for its
        lifetime (the lock goes when the process does, however it ends), or None when another
        process holds it. Two servers started at once over one home cannot both run."""
        make_home(self.root)
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o600)
        lock = os.fdopen(fd, "r+")  # held open for the process's lifetime
        try:
            fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            lock.close()
            return None
        # Who holds it, for the message of a server refused before this one wrote server.json.
        lock.truncate(0)
        lock.write(f"{os.getpid()}\n")
        lock.flush()
        return lock

    def lock_holder(self) -> int | None:
        """The pid the lock file names: the server that holds the home, or held it last."""
        try:
            return int(self.lock_file.read_text().strip())
        except (OSError, ValueError):
            return None

    def server_info(self) -> ServerInfo | None:
        """What ``server.json`` says, whether or not that process still runs."""
        try:
            data = json.loads(self.server_file.read_text())
            return ServerInfo(str(data["url"]), int(data["pid"]), float(data["started_at"]))
        except (OSError, ValueError, KeyError, TypeError):
            return None

    def write_server_info(self, info: ServerInfo) -> None:
        write_private(
            self.server_file,
            json.dumps({"url": info.url, "pid": info.pid, "started_at": info.started_at}),
        )

    def remove_server_info(self, pid: int) -> None:
        """Remove ``server.json`` if it still names ``pid`` (a newer server may own it)."""
        info = self.server_info()
        if info is not None and info.pid == pid:
            self.server_file.unlink(missing_ok=True)

    def token(self) -> str | None:
        """The local admin token, saved for this user like a kubeconfig."""
        try:
            data = json.loads(self.credentials_file.read_text())
            token = data.get("token")
            return str(token) if token else None
        except (OSError, ValueError, AttributeError):
            return None

    def write_token(self, token: str) -> None:
        write_private(self.credentials_file, json.dumps({"token": token}))

    def running(self, timeout: float = 1.0) -> ServerInfo | None:
        """The server ``server.json`` names, if it answers and really is that process."""
        info = self.server_info()
        if info is None:
            return None
        found = health(info.url, timeout)
        if found is None or found.get("pid") != info.pid:
            return None
        return info

    def spawn(
        self, env: Mapping[str, str] | None = None, detach: bool = True
    ) -> subprocess.Popen[bytes]:
        """Start a server on any free port over this home, logging to ``server.log``.

        ``env`` replaces the environment (default: this process's); detached, the server
        outlives this process, as ``aiplane up`` would.
        """
        make_home(self.root)
        # The owner's only, like everything the server writes (it runs with umask 077).
        fd = os.open(self.log_file, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o600)
        with os.fdopen(fd, "ab") as server_log:
            return subprocess.Popen(  # noqa: S603 (a fixed argv: this interpreter, our module)
                [sys.executable, "-m", SERVER_MODULE, "--port", "0", "--quiet"],
                stdin=subprocess.DEVNULL,
                stdout=server_log,
                stderr=server_log,
                start_new_session=detach,
                env={**(os.environ if env is None else env), "AIPLANE_HOME": str(self.root)},
            )

    def wait_until_up(
        self,
        process: subprocess.Popen[bytes],
        before: ServerInfo | None,
        timeout: float = START_TIMEOUT_S,
    ) -> ServerInfo:
        """Wait until ``process`` has written a new ``server.json`` and answers there.

        If it exits because another server holds this home (one started at the same time by
        another command, say), that server is as good: wait for it to answer instead."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            exited = process.poll() is not None
            info = self.server_info()
            if exited or (info is not None and info != before and info.pid == process.pid):
                running = self.running()
                if running is not None:
                    return running
            if exited and process.returncode == DATABASE_TAKEN_EXIT:
                raise UnreachableError(self._database_taken())
            if exited and process.returncode != HOME_TAKEN_EXIT:
                raise UnreachableError(
                    f"the local control plane exited with status {process.returncode}; "
                    f"see {self.log_file}"
                )
            time.sleep(0.05)
        raise UnreachableError(
            f"the local control plane did not start within {timeout:.0f} s; see {self.log_file}"
        )

    def _database_taken(self) -> str:
        """Why a server exited with ``DATABASE_TAKEN_EXIT``: the holder its log's last line
        names, or, without that line, where to look."""
        try:
            with self.log_file.open("rb") as log_file:
                log_file.seek(max(0, log_file.seek(0, os.SEEK_END) - _LOG_TAIL_BYTES))
                lines = log_file.read().decode(errors="replace").splitlines()
        except OSError:
            lines = []
        last = next((line.strip() for line in reversed(lines) if line.strip()), "")
        if DATABASE_TAKEN_TEXT in last:
            return (
                f"the local control plane did not start: {last[last.index(DATABASE_TAKEN_TEXT) :]}"
            )
        return (
            "the local control plane did not start: another control plane holds its database "
            f"(AIPLANE_DATABASE_URL); see {self.log_file}"
        )

    def start(self, notice: Callable[[str], object] | None = None) -> ServerInfo:
        """Start a detached server over this home and wait until it answers."""
        before = self.server_info()
        info = self.wait_until_up(self.spawn(), before)
        if notice is not None:
            notice(f"started a local control plane at {info.url} (log: {self.log_file})")
        return info
