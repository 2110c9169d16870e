"""Settings from the environment. Read once at the edges and passed inward."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from pathlib import Path

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

    @property
    def work_root(self) -> Path:
        return self.home / "work"

    @classmethod
    def from_env(cls, home: Path | None = None) -> Settings:
        root = home.expanduser().resolve() if home else home_from_env()
        url = os.environ.get("AIPLANE_DATABASE_URL") or f"sqlite:///{root / 'aiplane.db'}"
        catalog = os.environ.get("AIPLANE_CATALOG")
        replay = os.environ.get("AIPLANE_TELEMETRY_REPLAY")
        key = os.environ.get("AIPLANE_SIGNING_KEY")
        trusted = os.environ.get("AIPLANE_TRUSTED_KEYS")
        return cls(
            home=root,
            database_url=url,
            catalog_dir=Path(catalog).expanduser() if catalog else None,
            scheduler_interval_s=interval_from_env("AIPLANE_SCHEDULER_INTERVAL_S", 0.5),
            reconciler_interval_s=interval_from_env("AIPLANE_RECONCILER_INTERVAL_S", 0.5),
            telemetry=os.environ.get("AIPLANE_TELEMETRY", "auto"),
            telemetry_replay=Path(replay).expanduser() if replay else None,
            telemetry_interval_s=interval_from_env("AIPLANE_TELEMETRY_INTERVAL_S", 1.0),
            oidc_issuer=os.environ.get("AIPLANE_OIDC_ISSUER") or None,
            oidc_audience=os.environ.get("AIPLANE_OIDC_AUDIENCE") or None,
            oidc_teams_claim=os.environ.get("AIPLANE_OIDC_TEAMS_CLAIM") or "groups",
            signing_key=Path(key).expanduser() if key else None,
            trusted_keys=Path(trusted).expanduser() if trusted else None,
        )


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
