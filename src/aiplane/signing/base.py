"""The signer protocol: sign with the current key, verify with any key known by id."""

from __future__ import annotations

from typing import Protocol


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
