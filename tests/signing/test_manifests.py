"""Manifest signatures: a DSSE envelope over an in-toto statement of every file, ECDSA P-256.
Every tampering is refused, and why: a flipped byte, an edited entry, a file added, removed or
renamed, another team's key."""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import replace

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from aiplane.core.registry.manifest import Difference, Manifest, ManifestEntry
from aiplane.core.registry.records import ArtifactSignature
from aiplane.signing.base import VerdictKind
from aiplane.signing.manifests import (
    ALGORITHM,
    PAYLOAD_TYPE,
    envelope_of,
    key_id,
    pae,
    public_pem,
    sign_manifest,
    statement,
    verify,
)


def entry(path: str, content: bytes) -> ManifestEntry:
    return ManifestEntry(path, hashlib.sha256(content).hexdigest(), len(content))


MANIFEST = Manifest.of(
    [
        entry("model.pkl", b"weights"),
        entry("config.json", b"{}"),
        entry("tokenizer/vocab.txt", b"a b c"),
    ]
)
KEY = ec.generate_private_key(ec.SECP256R1())
PEM = public_pem(KEY.public_key())
SIGNED = sign_manifest(MANIFEST, KEY, 1234.5)


def reenvelope(signature: ArtifactSignature, **changes: object) -> ArtifactSignature:
    envelope = envelope_of(signature) | changes
    raw = json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()
    return replace(signature, signature=raw.hex())


def test_a_signature_verifies() -> None:
    assert SIGNED.key_id == key_id(KEY.public_key())
    assert SIGNED.key_id.startswith("ecdsa-p256:")
    assert (SIGNED.algorithm, SIGNED.signed_at) == (ALGORITHM, 1234.5)
    verdict = verify(MANIFEST, SIGNED, PEM)
    assert verdict.valid, verdict.message
    assert verdict.kind is VerdictKind.VALID


def test_the_envelope_is_dsse_over_an_in_toto_statement_of_every_file() -> None:
    envelope = envelope_of(SIGNED)
    assert envelope["payloadType"] == "application/vnd.in-toto+json"
    payload = base64.b64decode(envelope["payload"])
    body = json.loads(payload)
    assert body["_type"] == "https://in-toto.io/Statement/v1"
    assert body["subject"] == [
        {"name": e.path, "digest": {"sha256": e.sha256}, "annotations": {"size": e.size}}
        for e in MANIFEST.entries
    ]
    assert body["predicate"]["manifest_digest"] == MANIFEST.digest
    assert body == statement(MANIFEST)
    # The signature is ECDSA P-256 / SHA-256 over DSSE's pre-authentication encoding, so any
    # DSSE verifier with the public key checks it.
    (sig,) = envelope["signatures"]
    assert sig["keyid"] == SIGNED.key_id
    KEY.public_key().verify(
        base64.b64decode(sig["sig"]), pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256())
    )
    assert pae("t", b"xy") == b"DSSEv1 1 t 2 xy"


def test_a_flipped_byte_in_the_signature_is_refused() -> None:
    envelope = envelope_of(SIGNED)
    der = bytearray(base64.b64decode(envelope["signatures"][0]["sig"]))
    der[-1] ^= 0x01
    flipped = {"keyid": SIGNED.key_id, "sig": base64.b64encode(bytes(der)).decode()}
    verdict = verify(MANIFEST, reenvelope(SIGNED, signatures=[flipped]), PEM)
    assert verdict.kind is VerdictKind.BAD_SIGNATURE
    assert verdict.message == "the signature does not verify"


def test_an_edited_payload_is_refused_even_when_it_matches_the_manifest() -> None:
    """An attacker who edits the registry's manifest and the statement alike still needs the
    team's private key."""
    edited = Manifest.of([*MANIFEST.entries[:-1], entry("tokenizer/vocab.txt", b"evil")])
    payload = json.dumps(statement(edited), sort_keys=True, separators=(",", ":")).encode()
    forged = reenvelope(SIGNED, payload=base64.b64encode(payload).decode())
    assert verify(edited, forged, PEM).kind is VerdictKind.BAD_SIGNATURE


def test_every_single_bit_flip_anywhere_in_the_signature_record_is_refused() -> None:
    """Every bit of the envelope, exhaustively (a thousand bytes, well under a second): the
    bits that base64 decoding would drop included."""
    raw = bytes.fromhex(SIGNED.signature)
    accepted = []
    for i in range(len(raw)):
        for bit in range(8):
            flipped = bytearray(raw)
            flipped[i] ^= 1 << bit
            verdict = verify(MANIFEST, replace(SIGNED, signature=bytes(flipped).hex()), PEM)
            if verdict.kind is not VerdictKind.BAD_SIGNATURE:
                accepted.append((i, bit, verdict.kind))
    assert accepted == []


def test_not_hex_is_refused() -> None:
    verdict = verify(MANIFEST, replace(SIGNED, signature="zz"), PEM)
    assert verdict.kind is VerdictKind.BAD_SIGNATURE
    assert verdict.message.startswith("malformed signature envelope")


@pytest.mark.parametrize(
    ("manifest", "named"),
    [
        # an edited entry: the file's bytes are other than the ones signed
        (
            Manifest.of([*MANIFEST.entries[:2], entry("tokenizer/vocab.txt", b"a b d")]),
            [("tokenizer/vocab.txt", Difference.CHANGED)],
        ),
        # same digest, other size
        (
            Manifest.of([*MANIFEST.entries[:2], replace(MANIFEST.entries[2], size=99)]),
            [("tokenizer/vocab.txt", Difference.CHANGED)],
        ),
        # a file added
        (
            Manifest.of([*MANIFEST.entries, entry("extra.py", b"import os")]),
            [("extra.py", Difference.ADDED)],
        ),
        # a file removed
        (Manifest.of(MANIFEST.entries[1:]), [("config.json", Difference.MISSING)]),
        # a file renamed
        (
            Manifest.of(
                [*MANIFEST.entries[:2], replace(MANIFEST.entries[2], path="tokenizer/v.txt")]
            ),
            [("tokenizer/v.txt", Difference.ADDED), ("tokenizer/vocab.txt", Difference.MISSING)],
        ),
        # two files' contents swapped
        (
            Manifest.of(
                [
                    replace(MANIFEST.entries[0], path="model.pkl"),
                    replace(MANIFEST.entries[1], path="config.json"),
                    MANIFEST.entries[2],
                ]
            ),
            [("config.json", Difference.CHANGED), ("model.pkl", Difference.CHANGED)],
        ),
    ],
)
def test_a_manifest_not_the_one_signed_is_refused_naming_the_files(
    manifest: Manifest, named: list[tuple[str, Difference]]
) -> None:
    verdict = verify(manifest, SIGNED, PEM)
    assert verdict.kind is VerdictKind.MANIFEST_MISMATCH
    assert [(d.path, d.kind) for d in verdict.differences] == named
    for path, _ in named:
        assert path in verdict.message


def test_another_key_is_refused() -> None:
    other = public_pem(ec.generate_private_key(ec.SECP256R1()).public_key())
    verdict = verify(MANIFEST, SIGNED, other)
    assert verdict.kind is VerdictKind.UNKNOWN_KEY
    assert SIGNED.key_id in verdict.message


def test_no_published_key_or_a_key_of_another_kind_is_unknown() -> None:
    assert verify(MANIFEST, SIGNED, None).kind is VerdictKind.UNKNOWN_KEY
    edwards = ed25519.Ed25519PrivateKey.generate().public_key()
    pem = edwards.public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo).decode()
    assert verify(MANIFEST, SIGNED, pem).kind is VerdictKind.UNKNOWN_KEY
    p384 = public_pem(ec.generate_private_key(ec.SECP384R1()).public_key())
    assert verify(MANIFEST, SIGNED, p384).kind is VerdictKind.UNKNOWN_KEY
    assert verify(MANIFEST, SIGNED, "not a key").kind is VerdictKind.UNKNOWN_KEY


def test_a_record_naming_another_key_than_its_envelope_is_refused() -> None:
    """The record's key id is what picks the published key; it must be the envelope's too."""
    thief = ec.generate_private_key(ec.SECP256R1())
    relabelled = replace(SIGNED, key_id=key_id(thief.public_key()))
    verdict = verify(MANIFEST, relabelled, public_pem(thief.public_key()))
    assert verdict.kind is VerdictKind.BAD_SIGNATURE


def test_an_unknown_algorithm_is_refused() -> None:
    verdict = verify(MANIFEST, replace(SIGNED, algorithm="ed25519"), PEM)
    assert verdict.kind is VerdictKind.BAD_SIGNATURE


def test_an_empty_manifest_signs_and_verifies() -> None:
    empty = Manifest.of([])
    assert verify(empty, sign_manifest(empty, KEY, 0.0), PEM).valid


def _signed_payload(payload: bytes, payload_type: str = PAYLOAD_TYPE) -> ArtifactSignature:
    """A record over any payload, signed with the real key (what a signer with a bug, or a
    key holder writing by hand, could make)."""
    der = KEY.sign(pae(payload_type, payload), ec.ECDSA(hashes.SHA256()))
    envelope = {
        "payloadType": payload_type,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": SIGNED.key_id, "sig": base64.b64encode(der).decode()}],
    }
    raw = json.dumps(envelope, sort_keys=True, separators=(",", ":")).encode()
    return replace(SIGNED, signature=raw.hex())


def _payload(body: object) -> bytes:
    return json.dumps(body, sort_keys=True, separators=(",", ":")).encode()


@pytest.mark.parametrize(
    ("payload", "says"),
    [
        (b"not json", "the signed statement is malformed"),
        (_payload({**statement(MANIFEST), "_type": "other"}), "not a manifest statement"),
        (_payload({**statement(MANIFEST), "subject": [{"name": "x"}]}), "malformed"),
        (
            _payload({**statement(MANIFEST), "predicate": {"manifest_digest": "sha256:00"}}),
            "the statement's manifest digest does not match its subjects",
        ),
    ],
)
def test_a_good_signature_over_a_malformed_statement_is_refused(payload: bytes, says: str) -> None:
    verdict = verify(MANIFEST, _signed_payload(payload), PEM)
    assert verdict.kind is VerdictKind.BAD_SIGNATURE
    assert says in verdict.message


def test_a_signed_payload_of_another_type_is_refused() -> None:
    signed = _signed_payload(_payload(statement(MANIFEST)), "text/plain")
    verdict = verify(MANIFEST, signed, PEM)
    assert verdict.kind is VerdictKind.BAD_SIGNATURE
    assert "payload type" in verdict.message
    # and the same statement under the right type verifies: the check above is the type's
    assert verify(MANIFEST, _signed_payload(_payload(statement(MANIFEST))), PEM).valid
