"""Manifest signatures as OpenSSF model-signing makes them, on ``cryptography`` (decision 0044).

What is signed is an in-toto statement whose subjects are every file of the manifest with its
sha256 (and its size), wrapped in a DSSE envelope; the signature is ECDSA P-256 over SHA-256 of
DSSE's pre-authentication encoding. A changed, added, removed or renamed file changes the
subjects, so the statement signed is no longer the manifest's. The record's ``signature`` holds
the whole envelope (its compact JSON, hex-encoded), so verification can tell a signature that
does not verify from a good signature over another manifest, and name the files that differ.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from aiplane.core.errors import SpecError
from aiplane.core.registry.manifest import Manifest, ManifestEntry, differences
from aiplane.core.registry.records import ArtifactSignature
from aiplane.signing.base import Verdict, VerdictKind

ALGORITHM = "dsse-ecdsa-p256-sha256"
PAYLOAD_TYPE = "application/vnd.in-toto+json"
STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PREDICATE_TYPE = "https://aiplane.dev/signing/manifest/v1"


def key_id(public: ec.EllipticCurvePublicKey) -> str:
    der = public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "ecdsa-p256:" + hashlib.sha256(der).hexdigest()[:16]


def public_pem(public: ec.EllipticCurvePublicKey) -> str:
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


def statement(manifest: Manifest) -> dict[str, Any]:
    """The in-toto statement for ``manifest``: one subject per file."""
    return {
        "_type": STATEMENT_TYPE,
        "subject": [
            {"name": e.path, "digest": {"sha256": e.sha256}, "annotations": {"size": e.size}}
            for e in manifest.entries
        ],
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "manifest_digest": manifest.digest,
            "serialization": {"method": "files", "hash_type": "sha256"},
        },
    }


def _compact(value: Any) -> bytes:
    return json.dumps(value, sort_keys=True, separators=(",", ":")).encode()


def pae(payload_type: str, payload: bytes) -> bytes:
    """DSSE's pre-authentication encoding: what the signature is over."""
    kind = payload_type.encode()
    return b"DSSEv1 %d %s %d %s" % (len(kind), kind, len(payload), payload)


def sign_manifest(
    manifest: Manifest, private: ec.EllipticCurvePrivateKey, signed_at: float
) -> ArtifactSignature:
    payload = _compact(statement(manifest))
    signed_by = key_id(private.public_key())
    der = private.sign(pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    envelope = {
        "payloadType": PAYLOAD_TYPE,
        "payload": base64.b64encode(payload).decode(),
        "signatures": [{"keyid": signed_by, "sig": base64.b64encode(der).decode()}],
    }
    return ArtifactSignature(signed_by, ALGORITHM, _compact(envelope).hex(), signed_at)


class _MalformedError(Exception):
    pass


def _b64(text: Any) -> bytes:
    """Strict base64: a character outside the alphabet, or bits that decoding would drop,
    make another string than the one signed, so they are refused, not ignored."""
    if not isinstance(text, str):
        raise _MalformedError("expected base64 text")
    try:
        raw = base64.b64decode(text, validate=True)
    except binascii.Error as exc:
        raise _MalformedError(f"invalid base64: {exc}") from None
    if base64.b64encode(raw).decode() != text:
        raise _MalformedError("base64 not in its canonical form")
    return raw


def envelope_of(signature: ArtifactSignature) -> dict[str, Any]:
    """The DSSE envelope a signature record carries; ValueError when it is not one."""
    try:
        raw = bytes.fromhex(signature.signature)
        envelope = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise ValueError(f"not a DSSE envelope: {exc}") from None
    # Canonical form only: any other bytes than those written at signing are a tampering.
    if not isinstance(envelope, dict) or _compact(envelope) != raw:
        raise ValueError("not a DSSE envelope in its canonical form")
    return envelope


def _signed_parts(envelope: dict[str, Any], signed_by: str) -> tuple[bytes, bytes]:
    """The payload and the signature by ``signed_by``; _MalformedError when the envelope is not
    one that ``sign_manifest`` writes."""
    if set(envelope) != {"payloadType", "payload", "signatures"}:
        raise _MalformedError("unexpected envelope fields")
    if envelope["payloadType"] != PAYLOAD_TYPE:
        raise _MalformedError(f"payload type {envelope['payloadType']!r}, expected {PAYLOAD_TYPE}")
    signatures = envelope["signatures"]
    if not isinstance(signatures, list):
        raise _MalformedError("signatures is not a list")
    sig = next((s for s in signatures if isinstance(s, dict) and s.get("keyid") == signed_by), None)
    if sig is None:
        raise _MalformedError(f"the envelope has no signature by {signed_by}")
    return _b64(envelope["payload"]), _b64(sig.get("sig"))


def _signed_manifest(payload: bytes) -> Manifest:
    try:
        body = json.loads(payload)
        if body.get("_type") != STATEMENT_TYPE or body.get("predicateType") != PREDICATE_TYPE:
            raise _MalformedError("not a manifest statement")
        signed = Manifest.of(
            ManifestEntry(s["name"], s["digest"]["sha256"], int(s["annotations"]["size"]))
            for s in body["subject"]
        )
        if body["predicate"]["manifest_digest"] != signed.digest:
            raise _MalformedError("the statement's manifest digest does not match its subjects")
    except (ValueError, KeyError, TypeError, AttributeError, SpecError) as exc:
        raise _MalformedError(f"the signed statement is malformed: {exc}") from None
    return signed


def _public(pem: str) -> ec.EllipticCurvePublicKey | None:
    try:
        loaded = serialization.load_pem_public_key(pem.encode())
    except ValueError:
        return None
    if not isinstance(loaded, ec.EllipticCurvePublicKey) or loaded.curve.name != "secp256r1":
        return None
    return loaded


def verify(manifest: Manifest, signature: ArtifactSignature, public_pem: str | None) -> Verdict:
    """Whether ``signature`` is a valid signature over ``manifest`` by the key ``public_pem``
    (the published key the signature names; None: no such key is published)."""
    if signature.algorithm != ALGORITHM:
        return Verdict(
            VerdictKind.BAD_SIGNATURE,
            f"unsupported signature algorithm {signature.algorithm!r} (supported: {ALGORITHM})",
        )
    if public_pem is None:
        return Verdict(VerdictKind.UNKNOWN_KEY, f"no public key {signature.key_id} is published")
    public = _public(public_pem)
    if public is None:
        return Verdict(VerdictKind.UNKNOWN_KEY, "the key given is not an ECDSA P-256 public key")
    if key_id(public) != signature.key_id:
        return Verdict(
            VerdictKind.UNKNOWN_KEY,
            f"signed by key {signature.key_id}, not by the key given ({key_id(public)})",
        )
    try:
        payload, der = _signed_parts(envelope_of(signature), signature.key_id)
    except (ValueError, _MalformedError) as exc:
        return Verdict(VerdictKind.BAD_SIGNATURE, f"malformed signature envelope: {exc}")
    try:
        public.verify(der, pae(PAYLOAD_TYPE, payload), ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return Verdict(VerdictKind.BAD_SIGNATURE, "the signature does not verify")
    try:
        signed = _signed_manifest(payload)
    except _MalformedError as exc:
        return Verdict(VerdictKind.BAD_SIGNATURE, str(exc))
    changed = tuple(differences(signed, manifest))
    if changed or signed.digest != manifest.digest:
        return Verdict(
            VerdictKind.MANIFEST_MISMATCH,
            "the manifest is not the one signed: " + "; ".join(str(d) for d in changed),
            changed,
        )
    return Verdict(VerdictKind.VALID, f"signed by {signature.key_id}")
