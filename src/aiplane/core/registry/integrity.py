"""Whether a served version is still the one the registry vouches for (decision 0069).

Pure: the service reads the version, its alias and the alias's moves, and runs the registry's
signature check; this module says what a verdict is keyed on and judges an alias. An alias is
written by a promotion (which passed the policy) together with its move, in one unit of work;
an alias whose target is not the version its last move put there was written around the
policy (a store write, a restored backup of the aliases alone).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable

from aiplane.core.registry.history import timeline
from aiplane.core.registry.records import Alias, AliasMove, ModelVersion


def signature_digest(version: ModelVersion) -> str:
    """A digest of what a signature verdict depends on in the version record: its artifact
    and its whole signature. Another signature (or none) or another manifest digest is
    another key, so a verdict cached under it is never reused for them."""
    signature = version.signature
    parts = [version.ref, version.artifact]
    if signature is not None:
        parts += [
            signature.key_id,
            signature.algorithm,
            signature.signature,
            repr(signature.signed_at),
        ]
    return hashlib.sha256("\n".join(parts).encode()).hexdigest()


def signature_refusal(ref: str, problems: Iterable[str]) -> str | None:
    """The refusal of ``ref`` for what the registry's check found (None: nothing)."""
    found = list(problems)
    if not found:
        return None
    return f"{ref}: its signature does not verify ({'; '.join(found)})"


_AROUND = "the alias was moved around the promotion policy"


def alias_refusal(
    model: str, alias: str, current: Alias | None, moves: Iterable[AliasMove], served: int
) -> str | None:
    """Why version ``served``, reached through ``model@alias``, may not be served; None when
    it may. The alias's current target must be the version its last move put there. A
    replica of another version is one the alias held before (a roll-out under way): a move
    of the history must have put that version there once."""
    periods = timeline(moves, alias)
    where = f"{model}@{alias}"
    if current is not None and current.version == served:
        put = periods[-1].version if periods else None
        if put == served:
            return None
        if not periods:
            why = "which no promotion in the registry's history put there"
        elif put is None:
            why = "but the registry's history says it was removed"
        else:
            why = f"but the last promotion in the registry's history put version {put} there"
        return f"{where} holds version {served}, {why}: {_AROUND}"
    if any(p.version == served for p in periods):
        return None
    return f"{where} reached version {served} by no promotion in the registry's history: {_AROUND}"
