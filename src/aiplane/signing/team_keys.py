"""Teams' signing keys: one ECDSA P-256 private key per team in ``<directory>/<team>.pem``.

A key is made on the team's first use (mode 0600; written whole, then linked into place, so
that two processes starting at once neither write a key each nor read a half-written one)
and never rewritten; its public half is what
the registry publishes (``TeamKey``) and verifies with.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
import threading
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from aiplane.core.errors import Problem, SpecError
from aiplane.core.registry.manifest import Manifest
from aiplane.core.registry.records import ArtifactSignature, TeamKey
from aiplane.core.registry.refs import name_problem
from aiplane.signing import manifests
from aiplane.signing.base import Verdict


def _publish(path: Path, pem: bytes) -> None:
    """Write ``pem`` to ``path`` unless a key is there already, never showing a half-written
    file: written whole to a file of its own (``O_EXCL``, mode 0600), then linked into place;
    ``link`` fails when ``path`` exists, so of two processes making a key at once one wins and
    both read the winner's."""
    fd, scratch = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.")
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(pem)
        with contextlib.suppress(FileExistsError):
            os.link(scratch, path)
    finally:
        os.unlink(scratch)


class TeamKeyring:
    """Implements ``signing.base.ManifestSigner``."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self._keys: dict[str, ec.EllipticCurvePrivateKey] = {}
        self._lock = threading.Lock()

    def path(self, team: str) -> Path:
        # The team name becomes a file name: only a valid name, never a path of its own.
        bad = name_problem(team, "team", "team name")
        if bad is not None:
            raise SpecError("invalid team name for a signing key", [bad])
        return self.directory / f"{team}.pem"

    def private_key(self, team: str) -> ec.EllipticCurvePrivateKey:
        with self._lock:
            key = self._keys.get(team)
            if key is None:
                key = self._keys[team] = self._load_or_make(self.path(team))
            return key

    def _load_or_make(self, path: Path) -> ec.EllipticCurvePrivateKey:
        if not path.exists():
            pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
            _publish(path, pem)
        allowed = "an ECDSA P-256 private key in PEM (PKCS#8)"
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, OSError) as exc:
            raise SpecError(
                "cannot read a team's signing key", [Problem(str(path), str(exc), None, allowed)]
            ) from exc
        if not isinstance(loaded, ec.EllipticCurvePrivateKey) or loaded.curve.name != "secp256r1":
            raise SpecError(
                "cannot read a team's signing key",
                [Problem(str(path), "not an ECDSA P-256 key", type(loaded).__name__, allowed)],
            )
        return loaded

    def public_key(self, team: str) -> TeamKey:
        """The team's public key as the registry publishes it; ``created_at`` is when its
        file was written (made now on first use)."""
        public = self.private_key(team).public_key()
        return TeamKey(
            team=team,
            key_id=manifests.key_id(public),
            algorithm=manifests.ALGORITHM,
            public_pem=manifests.public_pem(public),
            created_at=self.path(team).stat().st_mtime,
        )

    def sign(self, team: str, manifest: Manifest, signed_at: float) -> ArtifactSignature:
        return manifests.sign_manifest(manifest, self.private_key(team), signed_at)

    def verify(
        self, manifest: Manifest, signature: ArtifactSignature, public_pem: str | None
    ) -> Verdict:
        return manifests.verify(manifest, signature, public_pem)
