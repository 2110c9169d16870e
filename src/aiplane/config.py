"""Settings from the environment. Read once at the edges and passed inward."""

from __future__ import annotations

import json
import math
import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from aiplane.core.errors import Problem, SpecError
from aiplane.discovery import home_from_env


@dataclass(frozen=True)
class Settings:
    home: Path
    # Out of the repr: a URL may hold a password, and settings end up in tracebacks and logs.
    database_url: str = field(repr=False)
    catalog_dir: Path | None
    scheduler_interval_s: float = 0.5
    reconciler_interval_s: float = 0.5
    cancel_grace_s: float = 5.0
    # GPU telemetry: "auto" (NVML when it works here, else none), "nvml", or "off";
    # ``telemetry_replay`` (a recording) wins over all of them.
    telemetry: str = "auto"
    telemetry_replay: Path | None = None
    telemetry_interval_s: float = 1.0
    # OIDC sign-in (decision 0023): on when an issuer is set; the audience is then required.
    oidc_issuer: str | None = None
    oidc_audience: str | None = None
    # The claim that lists the caller's teams: ``team`` (member) or ``team:role``.
    oidc_teams_claim: str = "groups"
    # The audit log's signing key (decision 0022): None is ``signing-key.pem`` under the home.
    # Replicas on one database name one shared file, or each reports the others' entries as
    # forged. ``trusted_keys``: a directory of PEM public keys whose signatures verify too
    # (the keys used before a rotation).
    signing_key: Path | None = None
    trusted_keys: Path | None = None
    # The registry's content-addressed artifacts: None is ``artifacts/`` under the home; else
    # any fsspec URL (``s3://bucket/prefix``, with the ``s3`` extra). Team signing keys are
    # kept under the home (``keys/teams``).
    artifacts_url: str | None = None
    # The fsspec storage options of ``artifacts_url`` (``AIPLANE_ARTIFACTS_OPTIONS``, a JSON
    # object), e.g. ``{"client_kwargs": {"endpoint_url": "http://minio:9000"}}`` for an
    # S3-compatible server; else the file system's own defaults (for S3 the standard AWS_*
    # variables). Out of the repr: options may hold a secret key.
    artifacts_options: Mapping[str, Any] = field(default_factory=dict, repr=False, hash=False)
    # The gateway's rate limits: in this process's memory when None, else shared by every
    # gateway through Redis (``redis://HOST:PORT/DB``). Out of the repr: it may hold a password.
    redis_url: str | None = field(default=None, repr=False)
    # The inference log: SQLite files under ``inference_log_dir`` when None, else NATS
    # JetStream (``nats://HOST:PORT``). Out of the repr, as the Redis URL.
    nats_url: str | None = field(default=None, repr=False)

    @property
    def work_root(self) -> Path:
        return self.home / "work"

    @property
    def inference_log_dir(self) -> Path:
        return self.home / INFERENCE_LOG_DIR

    @classmethod
    def from_env(cls, home: Path | None = None) -> Settings:
        root = home.expanduser().resolve() if home else home_from_setting()
        url = database_url_from_env() or f"sqlite:///{root / 'aiplane.db'}"
        telemetry = os.environ.get("AIPLANE_TELEMETRY") or "auto"
        if telemetry not in TELEMETRY_MODES:
            allowed = ", ".join(TELEMETRY_MODES)
            raise _bad("AIPLANE_TELEMETRY", "unknown mode", telemetry, allowed)
        issuer = os.environ.get("AIPLANE_OIDC_ISSUER") or None
        if issuer is not None:
            url_setting("AIPLANE_OIDC_ISSUER", issuer)
        return cls(
            home=root,
            database_url=url,
            catalog_dir=path_setting("AIPLANE_CATALOG", "dir"),
            scheduler_interval_s=interval_from_env("AIPLANE_SCHEDULER_INTERVAL_S", 0.5),
            reconciler_interval_s=interval_from_env("AIPLANE_RECONCILER_INTERVAL_S", 0.5),
            telemetry=telemetry,
            telemetry_replay=path_setting("AIPLANE_TELEMETRY_REPLAY", "file"),
            telemetry_interval_s=interval_from_env("AIPLANE_TELEMETRY_INTERVAL_S", 1.0),
            oidc_issuer=issuer,
            oidc_audience=os.environ.get("AIPLANE_OIDC_AUDIENCE") or None,
            oidc_teams_claim=os.environ.get("AIPLANE_OIDC_TEAMS_CLAIM") or "groups",
            signing_key=path_setting("AIPLANE_SIGNING_KEY", "new-file"),
            trusted_keys=path_setting("AIPLANE_TRUSTED_KEYS", "dir"),
            artifacts_url=artifacts_url_from_env(),
            artifacts_options=artifacts_options_from_env(),
            redis_url=service_url_from_env("AIPLANE_REDIS_URL", REDIS_SCHEMES),
            nats_url=service_url_from_env("AIPLANE_NATS_URL", NATS_SCHEMES),
        )


TELEMETRY_MODES = ("auto", "nvml", "off")
# The inference log's directory under the home, when it is not on NATS.
INFERENCE_LOG_DIR = "inference"
REDIS_SCHEMES = ("redis", "rediss", "unix")
NATS_SCHEMES = ("nats", "tls", "ws", "wss")
_ARTIFACTS_URL = re.compile(r"[a-z][a-z0-9+.-]*://\S+")


def artifacts_url_from_env() -> str | None:
    """``AIPLANE_ARTIFACTS_URL``: an fsspec URL (``s3://bucket/prefix``, ``file:///path``), or
    a SpecError naming the variable."""
    text = (os.environ.get("AIPLANE_ARTIFACTS_URL") or "").strip()
    if not text:
        return None
    if not _ARTIFACTS_URL.fullmatch(text):
        raise _bad(
            "AIPLANE_ARTIFACTS_URL", "not a URL", text, "an fsspec URL, e.g. s3://bucket/prefix"
        )
    return text


def artifacts_options_from_env() -> dict[str, Any]:
    """``AIPLANE_ARTIFACTS_OPTIONS``: a JSON object of fsspec storage options (empty when
    unset), or a SpecError naming the variable; the value is not echoed (it may hold a
    secret key)."""
    name = "AIPLANE_ARTIFACTS_OPTIONS"
    text = (os.environ.get(name) or "").strip()
    if not text:
        return {}
    allowed = 'a JSON object, e.g. {"client_kwargs": {"endpoint_url": "http://HOST:PORT"}}'
    hidden = "(not shown: it may hold a secret key)"
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise _bad(name, f"not JSON: {exc}", hidden, allowed) from None
    if not isinstance(value, dict):
        raise _bad(name, f"a JSON {type(value).__name__}, not an object", hidden, allowed)
    if not os.environ.get("AIPLANE_ARTIFACTS_URL", "").strip():
        raise _bad(name, "set without AIPLANE_ARTIFACTS_URL", hidden, "set with that URL")
    return value


# ``dialect[+driver]://...``: what SQLAlchemy reads; the store reports what it cannot open.
_DATABASE_URL = re.compile(r"[A-Za-z][A-Za-z0-9]*(\+[A-Za-z0-9_]+)?://.*", re.DOTALL)


def _bad(name: str, what: str, given: str, allowed: str) -> SpecError:
    return SpecError("bad setting", [Problem(name, what, given, allowed)])


def home_from_setting() -> Path:
    """``AIPLANE_HOME`` (default ``~/.aiplane``): a directory, or a path where one can be made
    (nothing there, under directories only); a SpecError naming the variable otherwise."""
    root = home_from_env()
    given = os.environ.get("AIPLANE_HOME") or str(root)
    if root.exists() and not root.is_dir():
        raise _bad("AIPLANE_HOME", "is a file, not a directory", given, "a directory")
    _under_directories("AIPLANE_HOME", root, given)
    return root


def _under_directories(name: str, path: Path, given: str) -> None:
    """A path that can be made: the nearest of its parents that exists is a directory."""
    above = next((p for p in path.parents if p.exists()), None)
    if above is not None and not above.is_dir():
        raise _bad(name, f"{above} is a file, not a directory", given, "a path under directories")


def path_setting(name: str, kind: str) -> Path | None:
    """The path in the variable ``name`` (None when unset or empty), which must be an existing
    ``"dir"``, an existing ``"file"``, or a ``"new-file"``: a file, or nothing yet under
    directories only (made on the first start). A SpecError names the variable and what it
    must be."""
    text = os.environ.get(name)
    if not text:
        return None
    path = Path(text).expanduser()
    if kind == "dir" and not path.is_dir():
        what = "is a file, not a directory" if path.exists() else "no such directory"
        raise _bad(name, what, text, "an existing directory")
    if kind == "file" and not path.is_file():
        what = "is a directory, not a file" if path.is_dir() else "no such file"
        raise _bad(name, what, text, "an existing file")
    if kind == "new-file":
        if path.is_dir():
            raise _bad(name, "is a directory, not a file", text, "a file path")
        _under_directories(name, path, text)
    return path


def database_url_from_env() -> str | None:
    """``AIPLANE_DATABASE_URL`` when set: its form checked here, its value never echoed (it
    may hold a password)."""
    text = os.environ.get("AIPLANE_DATABASE_URL")
    if not text:
        return None
    if not _DATABASE_URL.fullmatch(text.strip()):
        raise _bad(
            "AIPLANE_DATABASE_URL",
            "not a database URL",
            "(not shown: it may hold a password)",
            "sqlite:///PATH or postgresql+psycopg://USER@HOST/DB",
        )
    return text


def url_setting(name: str, text: str) -> str:
    """``text``, from the variable ``name``, as an http(s) URL with a host and, if any, a port
    in range; a SpecError naming the variable otherwise (httpx would raise its own error, or
    try to connect to nothing, much later)."""
    allowed = "http(s)://HOST[:PORT][/PATH], e.g. http://127.0.0.1:8470"
    try:
        parts = urlsplit(text.strip())
        port = parts.port  # raises on a port out of range or not a number
    except ValueError as exc:
        raise _bad(name, f"not a URL: {exc}", text, allowed) from None
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise _bad(name, "not an http(s) URL with a host", text, allowed)
    if port == 0:
        raise _bad(name, "port 0 is not a port to connect to", text, allowed)
    return text


def service_url_from_env(name: str, schemes: tuple[str, ...]) -> str | None:
    """The URL in the variable ``name`` (None when unset or empty), checked by
    :func:`service_url`."""
    text = (os.environ.get(name) or "").strip()
    return service_url(name, text, schemes) if text else None


def service_url(name: str, text: str, schemes: tuple[str, ...]) -> str:
    """``text`` (from the variable or option ``name``) as a URL of one of ``schemes`` with a
    host (a socket path for ``unix``) and a port in range; a SpecError naming ``name``
    otherwise. The value is not echoed: it may hold a password."""
    example = f"{schemes[0]}://HOST:PORT"
    allowed = f"a URL of {', '.join(s + '://' for s in schemes)}, e.g. {example}"
    hidden = "(not shown: it may hold a password)"
    try:
        parts = urlsplit(text)
        port = parts.port  # raises on a port out of range or not a number
    except ValueError as exc:
        raise _bad(name, f"not a URL: {exc}", hidden, allowed) from None
    if parts.scheme not in schemes:
        raise _bad(name, f"scheme {parts.scheme or 'none'!r} is not one of these", hidden, allowed)
    if not (parts.hostname or (parts.scheme == "unix" and parts.path)):
        raise _bad(name, "no host", hidden, allowed)
    if port == 0:
        raise _bad(name, "port 0 is not a port to connect to", hidden, allowed)
    return text


# Loop intervals: long enough not to spin, short enough to be a loop at all.
INTERVAL_RANGE_S = (0.01, 3600.0)


def interval_from_env(name: str, default: float) -> float:
    """A loop interval from the environment variable ``name``, in seconds; a SpecError naming
    the variable when it is not a number in ``INTERVAL_RANGE_S``."""
    text = os.environ.get(name)
    if text is None or not text.strip():
        return default
    low, high = INTERVAL_RANGE_S
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not low <= value <= high:  # NaN fails this too
        raise SpecError(
            "bad setting",
            [Problem(name, "not a number of seconds in range", text, f"{low:g} to {high:g}")],
        )
    return value
