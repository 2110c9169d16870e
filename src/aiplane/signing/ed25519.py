"""Ed25519 keys (``cryptography``): generated in memory, or kept in a file readable by its
owner only; and public keys trusted besides it (the keys used before a rotation), whose
signatures verify but which sign nothing."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Iterable
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from aiplane.core.errors import Problem, SpecError


def fingerprint(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return "ed25519:" + hashlib.sha256(raw).hexdigest()[:16]


def public_pem(public: Ed25519PublicKey) -> bytes:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def trusted_keys(directory: Path) -> list[Ed25519PublicKey]:
    """Every ``*.pem`` in ``directory``, each an Ed25519 public key (else a located error)."""
    if not directory.is_dir():
        raise SpecError(
            "cannot read the trusted keys",
            [Problem(str(directory), "not a directory", None, "a directory of PEM public keys")],
        )
    keys = []
    for path in sorted(directory.glob("*.pem")):
        try:
            loaded = serialization.load_pem_public_key(path.read_bytes())
        except (ValueError, OSError) as exc:
            raise SpecError(
                "cannot read a trusted key",
                [Problem(str(path), str(exc), None, "an Ed25519 public key in PEM")],
            ) from exc
        if not isinstance(loaded, Ed25519PublicKey):
            raise SpecError(
                "cannot read a trusted key",
                [Problem(str(path), "not an Ed25519 key", type(loaded).__name__, "Ed25519")],
            )
        keys.append(loaded)
    return keys


class Ed25519Signer:
    def __init__(
        self, private: Ed25519PrivateKey, trusted: Iterable[Ed25519PublicKey] = ()
    ) -> None:
        self._private = private
        self._public = private.public_key()
        self._key_id = fingerprint(self._public)
        # Verification by key id: the signing key's own, and every trusted one.
        self._known = {fingerprint(key): key for key in trusted}
        self._known[self._key_id] = self._public

    @classmethod
    def generate(cls) -> Ed25519Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_file(cls, path: Path, trusted_dir: Path | None = None) -> Ed25519Signer:
        """The key in ``path`` (PEM, PKCS#8), made there with mode 0600 when missing; also
        trusting the public keys in ``trusted_dir`` when given."""
        if not path.exists():
            fresh = Ed25519PrivateKey.generate()
            pem = fresh.private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            path.parent.mkdir(parents=True, exist_ok=True)
            # O_EXCL: two processes starting at once do not each write a key of their own.
            with contextlib.suppress(FileExistsError):
                fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
                with os.fdopen(fd, "wb") as out:
                    out.write(pem)
        try:
            loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
        except (ValueError, OSError) as exc:
            raise SpecError(
                "cannot read the signing key",
                [Problem(str(path), str(exc), None, "an Ed25519 private key in PEM (PKCS#8)")],
            ) from exc
        if not isinstance(loaded, Ed25519PrivateKey):
            raise SpecError(
                "cannot read the signing key",
                [Problem(str(path), "not an Ed25519 key", type(loaded).__name__, "Ed25519")],
            )
        return cls(loaded, trusted_keys(trusted_dir) if trusted_dir is not None else ())

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def public_pem(self) -> bytes:
        """The signing key's public half, for another control plane's trusted keys."""
        return public_pem(self._public)

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def verify(self, data: bytes, signature: bytes, key_id: str) -> bool:
        public = self._known.get(key_id)
        if public is None:
            return False
        try:
            public.verify(signature, data)
        except InvalidSignature:
            return False
        return True
