"""OIDC sign-in: bearer JWTs from an identity provider, verified against its published keys.

``base.py`` is what the services see (:class:`Claims`, :class:`TokenVerifier`); the JWT and
JWKS code (PyJWT) is in ``verifier.py``, built by ``wiring.py`` when an issuer is configured.
"""
