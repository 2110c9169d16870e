"""Judging an alias against its history, keying a signature verdict, and an endpoint whose
every replica is refused."""

from __future__ import annotations

from dataclasses import replace

import pytest

from aiplane.core.registry.integrity import alias_refusal, signature_digest, signature_refusal
from aiplane.core.registry.records import Alias, AliasMove, ArtifactSignature, Flavor, ModelVersion
from aiplane.core.serving.endpoints import EndpointSpec, Role
from aiplane.core.serving.routes import EndpointRoute, ReplicaRoute


def alias(version: int) -> Alias:
    return Alias("fraud", "production", version, 10.0, "p-bob")


def move(version: int | None, at: float, alias_name: str = "production") -> AliasMove:
    return AliasMove("fraud", alias_name, version, None, at, "p-bob", ("p-bob",), f"mv-{at}")


@pytest.mark.parametrize(
    ("current", "moves", "served", "refused_with"),
    [
        (alias(3), [move(3, 1.0)], 3, None),
        (alias(3), [move(2, 1.0), move(3, 2.0)], 3, None),
        # Moved by a store write: the history's last move put another version there.
        (alias(3), [move(3, 1.0), move(2, 2.0)], 3, "put version 2 there"),
        (alias(3), [], 3, "no promotion in the registry's history"),
        (alias(3), [move(3, 1.0), move(None, 2.0)], 3, "says it was removed"),
        # Another alias's moves say nothing about this one.
        (alias(3), [move(3, 1.0, "staging")], 3, "no promotion"),
        # A replica of a version the alias held before: a roll-out under way.
        (alias(3), [move(2, 1.0), move(3, 2.0)], 2, None),
        (None, [move(2, 1.0)], 2, None),
        # ... but only one a move put there once.
        (alias(3), [move(3, 2.0)], 2, "reached version 2 by no promotion"),
        (None, [], 2, "reached version 2 by no promotion"),
    ],
)
def test_an_alias_is_judged_by_its_last_move(
    current: Alias | None, moves: list[AliasMove], served: int, refused_with: str | None
) -> None:
    found = alias_refusal("fraud", "production", current, moves, served)
    if refused_with is None:
        assert found is None
    else:
        assert found is not None and refused_with in found
        assert found.startswith("fraud@production ")
        assert found.endswith("the alias was moved around the promotion policy")


def test_moves_at_the_same_instant_keep_their_order() -> None:
    """The last of them is in force, as the history reads it."""
    assert alias_refusal("fraud", "production", alias(3), [move(2, 1.0), move(3, 1.0)], 3) is None
    assert alias_refusal("fraud", "production", alias(3), [move(3, 1.0), move(2, 1.0)], 3)


def test_the_signature_digest_changes_with_anything_the_verdict_reads() -> None:
    signature = ArtifactSignature("ecdsa-p256:ab", "dsse-ecdsa-p256-sha256", "00ff", 5.0)
    version = ModelVersion("fraud", 2, "sha256:" + "a" * 64, Flavor.GENERIC, 1.0, "p-al", signature)
    base = signature_digest(version)
    variants = [
        replace(version, signature=None),
        replace(version, artifact="sha256:" + "b" * 64),
        replace(version, version=3),
        replace(version, signature=replace(signature, signature="00fe")),
        replace(version, signature=replace(signature, key_id="ecdsa-p256:cd")),
        replace(version, signature=replace(signature, signed_at=6.0)),
    ]
    digests = [signature_digest(v) for v in variants]
    assert base not in digests and len(set(digests)) == len(digests)
    # What the verdict does not read (tags, metrics) keeps the key.
    assert signature_digest(replace(version, tags={"x": "y"}, metrics={"auc": 0.9})) == base


def test_a_signature_refusal_names_every_problem() -> None:
    assert signature_refusal("fraud@2", []) is None
    found = signature_refusal("fraud@2", ["manifest: changed", "signature: bad"])
    assert found == "fraud@2: its signature does not verify (manifest: changed; signature: bad)"


def _replica(run_id: str, refused: str | None) -> ReplicaRoute:
    return ReplicaRoute(run_id, "edge", "pool", Role.PRIMARY, "fraud@2", "h:1", True, 0.0, refused)


def test_an_endpoint_is_refused_only_when_every_replica_is() -> None:
    spec = EndpointSpec(name="fraud", team="t", model="fraud@2")
    assert EndpointRoute(spec, 1).refusal() is None  # none at all: a 503, not a 403
    mixed = EndpointRoute(spec, 1, (_replica("a", "bad"), _replica("b", None)))
    assert mixed.refusal() is None
    every = EndpointRoute(
        spec, 1, (_replica("a", "bad"), _replica("b", "bad"), _replica("c", "worse"))
    )
    assert every.refusal() == "bad; worse"
