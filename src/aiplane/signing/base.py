"""The signer protocols: the control plane's (sign with the current key, verify with any key
known by id), and the teams' manifest signer with its verdicts."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import Protocol

from aiplane.core.registry.manifest import FileDifference, Manifest
from aiplane.core.registry.records import ArtifactSignature, TeamKey


class Signer(Protocol):
    @property
    def key_id(self) -> str:
        """A short fingerprint of the public key that ``sign`` uses."""
        ...

    def sign(self, data: bytes) -> bytes: ...

    def verify(self, data: bytes, signature: bytes, key_id: str) -> bool:
        """True when ``signature`` over ``data`` is by the key ``key_id`` (False for a key
        this signer does not know)."""
        ...


class VerdictKind(StrEnum):
    VALID = "valid"
    UNKNOWN_KEY = "unknown_key"  # signed by a key other than the one given (another team's)
    BAD_SIGNATURE = "bad_signature"  # the envelope is malformed or its signature does not verify
    MANIFEST_MISMATCH = "manifest_mismatch"  # a valid signature over another manifest


@dataclass(frozen=True)
class Verdict:
    """A manifest signature checked: valid, or why not; for a manifest that is not the one
    signed, every file that differs from what was signed."""

    kind: VerdictKind
    message: str
    differences: tuple[FileDifference, ...] = ()

    @property
    def valid(self) -> bool:
        return self.kind is VerdictKind.VALID


class ManifestSigner(Protocol):
    """Signs artifact manifests with a team's key (``signing.team_keys``) and verifies them
    with a published public key (``TeamKey.public_pem``)."""

    def sign(self, team: str, manifest: Manifest, signed_at: float) -> ArtifactSignature: ...

    def public_key(self, team: str) -> TeamKey:
        """The team's public key, made on first use."""
        ...

    def verify(
        self, manifest: Manifest, signature: ArtifactSignature, public_pem: str | None
    ) -> Verdict:
        """``public_pem`` None: no key with the signature's id is published."""
        ...
