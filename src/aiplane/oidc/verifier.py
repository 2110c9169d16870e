"""Bearer JWTs verified against the issuer's published keys (PyJWT).

The issuer's discovery document (``<issuer>/.well-known/openid-configuration``) is read on
the first token, not at start-up, so that the control plane starts while the provider is
down; it names the ``jwks_uri``, whose keys PyJWT's ``PyJWKClient`` caches (a token with a
key id it does not hold makes it fetch the set again, at most every
``refetch_cooldown_s``, which is how a provider's key rotation is picked up).
"""

from __future__ import annotations

import inspect
import threading
from typing import Any

import httpx
import jwt
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from aiplane.core.errors import AuthenticationError
from aiplane.oidc.base import Claims

# Asymmetric algorithms only: an HMAC-signed token would be checked with a public key as
# its secret, and "none" is no signature at all.
ALGORITHMS = (
    "RS256",
    "RS384",
    "RS512",
    "PS256",
    "PS384",
    "PS512",
    "ES256",
    "ES384",
    "ES512",
    "EdDSA",
)
# The key each algorithm verifies with (the curve too, for ECDSA): a token's ``alg`` header
# is the signer's word, so a key of another type is a refusal here, not a TypeError in PyJWT.
_EC_CURVES = {"ES256": "secp256r1", "ES384": "secp384r1", "ES512": "secp521r1"}
DEFAULT_LEEWAY_S = 30.0
# An unknown key id fetches the key set again at most this often: a stream of tokens with
# made-up key ids does not become a stream of requests to the provider.
DEFAULT_REFETCH_COOLDOWN_S = 30.0
_KEYS_LIFESPAN_S = 300


def _fits(algorithm: str, key: Any) -> bool:
    """Whether ``key`` (a ``cryptography`` public key) is one that ``algorithm`` verifies with."""
    if algorithm.startswith(("RS", "PS")):
        return isinstance(key, rsa.RSAPublicKey)
    if algorithm in _EC_CURVES:
        return (
            isinstance(key, ec.EllipticCurvePublicKey) and key.curve.name == _EC_CURVES[algorithm]
        )
    if algorithm == "EdDSA":
        return isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
    return False


def _kind(key: Any) -> str:
    if isinstance(key, rsa.RSAPublicKey):
        return "an RSA key"
    if isinstance(key, ec.EllipticCurvePublicKey):
        return f"an EC key on {key.curve.name}"
    if isinstance(key, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey):
        return "an EdDSA key"
    return "no public key"


def _claim_values(value: Any) -> tuple[str, ...]:
    """A teams claim is a list of strings, or one string (space-separated, like scopes)."""
    if isinstance(value, str):
        return tuple(value.split())
    if isinstance(value, list):
        return tuple(v for v in value if isinstance(v, str))
    return ()


class JwksVerifier:
    """Checks signature (against the issuer's JWKS), ``iss``, ``aud``, ``exp`` and ``nbf``
    (with ``leeway_s`` for clocks that differ), that ``sub`` is there, and that the key fits
    the ``alg`` header."""

    def __init__(
        self,
        issuer: str,
        audience: str,
        teams_claim: str = "groups",
        *,
        leeway_s: float = DEFAULT_LEEWAY_S,
        timeout_s: float = 5.0,
        refetch_cooldown_s: float = DEFAULT_REFETCH_COOLDOWN_S,
    ) -> None:
        self.issuer = issuer  # what ``iss`` must equal, exactly
        self._base = issuer.rstrip("/")
        self.audience = audience
        self.teams_claim = teams_claim
        self._leeway_s = leeway_s
        self._timeout_s = timeout_s
        self._cooldown_s = refetch_cooldown_s
        self._keys: jwt.PyJWKClient | None = None
        self._lock = threading.Lock()

    def _key_client(self) -> jwt.PyJWKClient:
        with self._lock:
            if self._keys is None:
                options: dict[str, Any] = {}
                if "cooldown_duration" in inspect.signature(jwt.PyJWKClient).parameters:
                    options["cooldown_duration"] = self._cooldown_s  # PyJWT 2.10 and later
                self._keys = jwt.PyJWKClient(
                    self._discover(),
                    cache_keys=True,
                    lifespan=_KEYS_LIFESPAN_S,
                    timeout=int(max(1, self._timeout_s)),
                    **options,
                )
            return self._keys

    def _discover(self) -> str:
        url = f"{self._base}/.well-known/openid-configuration"
        try:
            response = httpx.get(url, timeout=self._timeout_s)
            response.raise_for_status()
            document = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            raise AuthenticationError(
                f"cannot read the issuer's discovery document: {exc}"
            ) from exc
        if not isinstance(document, dict) or not isinstance(document.get("jwks_uri"), str):
            raise AuthenticationError(f"{url} names no jwks_uri")
        published = str(document.get("issuer", "")).rstrip("/")
        if published != self._base:
            raise AuthenticationError(
                f"{url} is the document of issuer {published!r}, not {self.issuer!r}"
            )
        return str(document["jwks_uri"])

    def _signing_key(self, token: str, algorithm: str, kid: object) -> Any:
        """The issuer's public key that ``kid`` names, once it is of the type ``algorithm``
        verifies with."""
        try:
            key = self._key_client().get_signing_key_from_jwt(token).key
        except jwt.PyJWKClientConnectionError as exc:
            raise AuthenticationError(f"cannot read the issuer's keys: {exc}") from exc
        except jwt.PyJWKClientError as exc:
            raise AuthenticationError(f"no key of the issuer signs this token: {exc}") from exc
        except (jwt.PyJWTError, ValueError) as exc:
            # A key set PyJWT cannot read (no usable key, a malformed one).
            raise AuthenticationError(f"cannot use the issuer's keys: {exc}") from exc
        if not _fits(algorithm, key):
            raise AuthenticationError(
                f"token algorithm {algorithm!r} does not fit the issuer's key {kid!r} "
                f"({_kind(key)})"
            )
        return key

    def verify(self, token: str) -> Claims:
        try:
            header = jwt.get_unverified_header(token)
        except jwt.DecodeError as exc:
            raise AuthenticationError(f"malformed token: {exc}") from exc
        if header.get("alg") not in ALGORITHMS:
            raise AuthenticationError(
                f"token algorithm {header.get('alg')!r} is not accepted; allowed: "
                + ", ".join(ALGORITHMS)
            )
        algorithm = str(header["alg"])
        key = self._signing_key(token, algorithm, header.get("kid"))
        try:
            payload: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[algorithm],
                audience=self.audience,
                issuer=self.issuer,
                leeway=self._leeway_s,
                options={"require": ["exp", "iss", "aud", "sub"]},
            )
        except jwt.ExpiredSignatureError as exc:
            raise AuthenticationError("token expired") from exc
        except jwt.ImmatureSignatureError as exc:
            raise AuthenticationError("token not valid yet (nbf or iat in the future)") from exc
        except jwt.InvalidAudienceError as exc:
            raise AuthenticationError(f"token is not for audience {self.audience!r}") from exc
        except jwt.InvalidIssuerError as exc:
            raise AuthenticationError(f"token is not from issuer {self.issuer!r}") from exc
        except jwt.InvalidSignatureError as exc:
            raise AuthenticationError("token signature does not verify") from exc
        except jwt.MissingRequiredClaimError as exc:
            raise AuthenticationError(f"token lacks a claim: {exc}") from exc
        except (jwt.PyJWTError, TypeError, ValueError) as exc:
            # Whatever else PyJWT or the key refuses with (a key and algorithm that do not fit
            # raise TypeError, not a PyJWT error): a refusal, answered 401 and audited.
            raise AuthenticationError(f"invalid token: {exc}") from exc
        verified = payload.get("email_verified")
        email = payload.get("email")
        username = payload.get("preferred_username")
        return Claims(
            issuer=self.issuer,
            subject=str(payload["sub"]),
            email=email if isinstance(email, str) else None,
            email_verified=verified if isinstance(verified, bool) else None,
            preferred_username=username if isinstance(username, str) else None,
            teams=_claim_values(payload.get(self.teams_claim)),
        )
