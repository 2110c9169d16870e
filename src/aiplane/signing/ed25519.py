"""Ed25519 keys (``cryptography``): generated in memory, or kept in a file readable by its
owner only."""

from __future__ import annotations

import contextlib
import hashlib
import os
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


class Ed25519Signer:
    def __init__(self, private: Ed25519PrivateKey) -> None:
        self._private = private
        self._public = private.public_key()
        self._key_id = fingerprint(self._public)

    @classmethod
    def generate(cls) -> Ed25519Signer:
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_file(cls, path: Path) -> Ed25519Signer:
        """The key in ``path`` (PEM, PKCS#8), made there with mode 0600 when missing."""
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
        return cls(loaded)

    @property
    def key_id(self) -> str:
        return self._key_id

    def sign(self, data: bytes) -> bytes:
        return self._private.sign(data)

    def verify(self, data: bytes, signature: bytes, key_id: str) -> bool:
        if key_id != self._key_id:
            return False
        try:
            self._public.verify(signature, data)
        except InvalidSignature:
            return False
        return True
