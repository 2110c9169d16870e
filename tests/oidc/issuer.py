"""A local OIDC issuer for tests: discovery and JWKS served on 127.0.0.1 by a thread, RSA keys
made here, tokens minted with PyJWT. Nothing leaves the machine."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
from cryptography.hazmat.primitives.asymmetric import rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from jwt.algorithms import RSAAlgorithm

AUDIENCE = "aiplane-test"


def rsa_key() -> RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


@dataclass
class Issuer:
    url: str
    key: RSAPrivateKey
    kid: str = "key-1"
    jwks_requests: int = 0
    # Published besides ``key`` (a rotation in progress); by kid.
    extra: dict[str, RSAPrivateKey] = field(default_factory=dict)

    def jwks(self) -> dict[str, Any]:
        keys = []
        for kid, key in {self.kid: self.key, **self.extra}.items():
            jwk = json.loads(RSAAlgorithm.to_jwk(key.public_key()))
            keys.append({**jwk, "kid": kid, "use": "sig", "alg": "RS256"})
        return {"keys": keys}

    def token(
        self,
        sub: str = "user-1",
        *,
        key: RSAPrivateKey | None = None,
        kid: str | None = None,
        ttl_s: float = 300.0,
        now: float | None = None,
        **claims: Any,
    ) -> str:
        at = time.time() if now is None else now
        payload: dict[str, Any] = {
            "iss": self.url,
            "aud": AUDIENCE,
            "sub": sub,
            "iat": int(at),
            "exp": int(at + ttl_s),
            **claims,
        }
        return jwt.encode(
            payload, key or self.key, algorithm="RS256", headers={"kid": kid or self.kid}
        )


def _handler(issuer_ref: list[Issuer]) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            issuer = issuer_ref[0]
            body: Mapping[str, Any]
            if self.path == "/.well-known/openid-configuration":
                body = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
            elif self.path == "/jwks":
                issuer.jwks_requests += 1
                body = issuer.jwks()
            else:
                self.send_error(404)
                return
            data = json.dumps(body).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data)

        def log_message(self, format: str, *args: Any) -> None:  # noqa: A002
            pass

    return Handler


@contextmanager
def local_issuer() -> Iterator[Issuer]:
    ref: list[Issuer] = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(ref))
    ref.append(Issuer(f"http://127.0.0.1:{server.server_address[1]}", rsa_key()))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield ref[0]
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
