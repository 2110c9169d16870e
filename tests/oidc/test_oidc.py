"""OIDC sign-in against a local issuer the test starts: the verifier's checks one by one,
then the API signing callers in by their JWTs, with teams from the claim."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from aiplane.api.app import create_app
from aiplane.backends.registry import PoolBackends
from aiplane.config import Settings
from aiplane.core.errors import AuthenticationError, SpecError
from aiplane.core.scheduling.baselines.priority_best_fit import PriorityBestFit
from aiplane.oidc.verifier import JwksVerifier
from aiplane.services.access import looks_like_jwt
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane, oidc_verifier
from tests.builders import local_fleet_document
from tests.identities import grant
from tests.oidc.issuer import AUDIENCE, Issuer, local_issuer, rsa_key

V1 = "/api/v1"


@pytest.fixture
def issuer() -> Iterator[Issuer]:
    with local_issuer() as running:
        yield running


@pytest.fixture
def verifier(issuer: Issuer) -> JwksVerifier:
    return JwksVerifier(issuer.url, AUDIENCE, "groups", refetch_cooldown_s=0.0)


def test_a_valid_token_yields_its_claims(issuer: Issuer, verifier: JwksVerifier) -> None:
    token = issuer.token(
        "u-1",
        email="ann@example.org",
        email_verified=True,
        preferred_username="ann",
        groups=["a", "b:owner"],
    )
    claims = verifier.verify(token)
    assert claims.identity == f"{issuer.url} u-1"
    assert claims.email == "ann@example.org" and claims.email_verified is True
    assert claims.preferred_username == "ann" and claims.teams == ("a", "b:owner")
    # A space-separated claim, like a scope, counts as a list.
    assert verifier.verify(issuer.token(groups="a b")).teams == ("a", "b")


def es256_under_rsa_kid(issuer: Issuer) -> str:
    """A token whose ``alg`` (ES256) does not fit the key its ``kid`` names (RSA)."""
    claims = {"iss": issuer.url, "aud": AUDIENCE, "sub": "x", "exp": int(time.time() + 300)}
    key = ec.generate_private_key(ec.SECP256R1())
    return jwt.encode(claims, key, algorithm="ES256", headers={"kid": issuer.kid})


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda i: i.token(aud="someone-else"), "audience"),
        (lambda i: i.token(iss="http://127.0.0.1:9/other"), "issuer"),
        (lambda i: i.token(now=time.time() - 3600, ttl_s=60), "expired"),
        (lambda i: i.token(nbf=int(time.time()) + 3600), "not valid yet"),
        (lambda i: i.token(key=rsa_key()), "signature"),
        (lambda i: i.token(kid="no-such-key"), "no key"),
        (lambda _: jwt.encode({"sub": "x"}, "secret-of-32-bytes-at-the-least!!", "HS256"), "HS256"),
        (lambda i: jwt.encode({"sub": "x", "iss": i.url, "aud": AUDIENCE}, "", "none"), "none"),
        (lambda i: i.token(sub=None), "sub"),
        (lambda _: "bm9wZQ.e30.AAAA", "malformed"),
        (es256_under_rsa_kid, "does not fit"),
    ],
    ids=[
        "audience",
        "issuer",
        "expired",
        "nbf",
        "another-key",
        "unknown-kid",
        "hmac",
        "unsigned",
        "no-subject",
        "malformed",
        "alg-not-the-keys",
    ],
)
def test_a_bad_token_is_refused_with_its_reason(
    issuer: Issuer, verifier: JwksVerifier, make: object, reason: str
) -> None:
    token = make(issuer)  # type: ignore[operator]
    with pytest.raises(AuthenticationError, match=reason):
        verifier.verify(token)


def test_small_clock_differences_are_tolerated(issuer: Issuer, verifier: JwksVerifier) -> None:
    # Expired 5 s ago: inside the 30 s leeway.
    assert verifier.verify(issuer.token(now=time.time() - 65, ttl_s=60)).subject == "user-1"


def test_keys_are_cached_and_a_new_kid_fetches_them_again(
    issuer: Issuer, verifier: JwksVerifier
) -> None:
    verifier.verify(issuer.token())
    verifier.verify(issuer.token())
    assert issuer.jwks_requests == 1
    rotated = rsa_key()
    issuer.extra["key-2"] = rotated
    assert verifier.verify(issuer.token(key=rotated, kid="key-2")).subject == "user-1"
    assert issuer.jwks_requests == 2


def test_an_unreachable_issuer_is_a_refusal_not_a_crash(issuer: Issuer) -> None:
    gone = JwksVerifier("http://127.0.0.1:9", AUDIENCE)
    with pytest.raises(AuthenticationError, match="discovery"):
        gone.verify(issuer.token())


def test_what_counts_as_a_jwt() -> None:
    assert looks_like_jwt("a.b.c")
    assert not looks_like_jwt("aip_a.b.c")
    assert not looks_like_jwt("a.b")
    assert not looks_like_jwt("a..c")


def test_an_issuer_needs_an_audience(tmp_path: Path) -> None:
    settings = Settings(
        home=tmp_path, database_url="memory://", catalog_dir=None, oidc_issuer="http://x"
    )
    with pytest.raises(SpecError) as missing:
        oidc_verifier(settings)
    assert missing.value.problems[0].location == "AIPLANE_OIDC_AUDIENCE"
    off = Settings(home=tmp_path, database_url="memory://", catalog_dir=None)
    assert oidc_verifier(off) is None


# -- through the API ----------------------------------------------------------------------------

FLEET = local_fleet_document()


@pytest.fixture
def cp(tmp_path: Path, issuer: Issuer) -> ControlPlane:
    settings = Settings(
        home=tmp_path,
        database_url="memory://",
        catalog_dir=None,
        oidc_issuer=issuer.url,
        oidc_audience=AUDIENCE,
    )
    return ControlPlane(
        settings=settings,
        store=MemoryStore(),
        backends=PoolBackends(tmp_path / "work"),
        policy=PriorityBestFit(),
    )


@pytest.fixture
def api(cp: ControlPlane) -> Iterator[TestClient]:
    with TestClient(create_app(cp.services)) as client:
        yield client


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_whoami_shows_the_signed_in_principal_and_claimed_teams(
    api: TestClient, cp: ControlPlane, issuer: Issuer
) -> None:
    token = issuer.token(
        "s-42",
        preferred_username="Dana",
        email="dana@example.org",
        email_verified=True,
        groups=["a", "b:viewer"],
    )
    me = api.get(f"{V1}/whoami", headers=bearer(token))
    assert me.status_code == 200, me.text
    body = me.json()
    assert body["name"] == "dana" and body["via"] == "oidc"
    assert body["teams"] == {"a": "member", "b": "viewer"}
    assert body["email"] == "dana@example.org" and body["global_role"] is None
    # Created once, bound to the identity; the claimed teams are not stored.
    stored = cp.store.principals.by_subject(f"{issuer.url} s-42")
    assert stored is not None and stored.name == "dana" and dict(stored.teams) == {}
    again = api.get(f"{V1}/whoami", headers=bearer(issuer.token("s-42", groups=[])))
    assert again.json()["name"] == "dana" and again.json()["teams"] == {}
    # Global roles never come from a claim.
    claimed = api.get(f"{V1}/whoami", headers=bearer(issuer.token("s-42", groups=["admin"])))
    assert claimed.json()["global_role"] is None
    assert api.get(f"{V1}/users", headers=bearer(issuer.token("s-42"))).status_code == 403


@pytest.mark.parametrize(
    ("claims", "reason"),
    [
        ({"aud": "other"}, "audience"),
        ({"iss": "http://127.0.0.1:9"}, "issuer"),
        ({"now": time.time() - 3600, "ttl_s": 60}, "expired"),
        ({"key": rsa_key()}, "signature"),
        ({"kid": "unknown"}, "no key"),
    ],
    ids=["audience", "issuer", "expired", "another-key", "unknown-kid"],
)
def test_a_bad_jwt_is_a_401_with_its_reason(
    api: TestClient, cp: ControlPlane, issuer: Issuer, claims: dict[str, object], reason: str
) -> None:
    refused = api.get(f"{V1}/whoami", headers=bearer(issuer.token(**claims)))  # type: ignore[arg-type]
    assert refused.status_code == 401
    assert refused.json()["error"]["code"] == "unauthenticated"
    assert reason in refused.json()["error"]["message"]
    assert cp.store.principals.count() == 0  # nobody was signed up
    denied = [e for e in cp.audit.search() if e.record.outcome == "denied"]
    assert denied and reason in denied[-1].record.detail["reason"]


def test_api_tokens_still_work_beside_oidc(api: TestClient, cp: ControlPlane) -> None:
    admin = grant(cp.services, "root", global_role="admin")
    assert api.get(f"{V1}/whoami", headers=admin).json()["via"] == "token"


def test_a_disabled_principal_cannot_sign_in(
    api: TestClient, cp: ControlPlane, issuer: Issuer
) -> None:
    admin = grant(cp.services, "root", global_role="admin")
    assert api.get(f"{V1}/whoami", headers=bearer(issuer.token("s-1", preferred_username="eve")))
    assert api.patch(f"{V1}/users/eve", json={"disabled": True}, headers=admin).status_code == 200
    refused = api.get(f"{V1}/whoami", headers=bearer(issuer.token("s-1")))
    assert refused.status_code == 401 and "disabled" in refused.json()["error"]["message"]


def test_a_member_of_a_by_claim_cannot_read_team_bs_job(
    api: TestClient, cp: ControlPlane, issuer: Issuer
) -> None:
    admin = grant(cp.services, "root", global_role="admin")
    assert api.put(f"{V1}/fleet", json={"spec": FLEET}, headers=admin).status_code == 200
    jobs = {}
    for team in ("a", "b"):
        spec = {"name": f"w-{team}", "team": team, "kind": "batch", "run": "true"}
        submitted = api.post(f"{V1}/jobs", json={"spec": spec}, headers=admin)
        assert submitted.status_code == 201, submitted.text
        jobs[team] = submitted.json()["id"]
    member_of_a = bearer(issuer.token("s-a", preferred_username="alex", groups=["a"]))
    assert api.get(f"{V1}/jobs/{jobs['a']}", headers=member_of_a).status_code == 200
    hidden = api.get(f"{V1}/jobs/{jobs['b']}", headers=member_of_a)
    assert hidden.status_code == 404
    assert "w-b" not in hidden.text


def test_an_alg_that_does_not_fit_the_key_is_a_401_and_audited(
    api: TestClient, cp: ControlPlane, issuer: Issuer
) -> None:
    refused = api.get(f"{V1}/whoami", headers=bearer(es256_under_rsa_kid(issuer)))
    assert refused.status_code == 401, refused.text
    assert "does not fit" in refused.json()["error"]["message"]
    denied = [e for e in cp.audit.search() if e.record.outcome == "denied"]
    assert denied and "does not fit" in denied[-1].record.detail["reason"]


def test_an_unverified_email_does_not_sign_in_as_its_holder(
    api: TestClient, cp: ControlPlane, issuer: Issuer
) -> None:
    root = grant(cp.services, "root", global_role="admin")
    boss = {"name": "boss", "kind": "user", "global_role": "admin", "email": "boss@corp.example"}
    assert api.post(f"{V1}/users", json=boss, headers=root).status_code == 201
    # An account at the provider with boss's address typed in, no ``email_verified`` claim;
    # then one where the provider says false.
    words: list[dict[str, Any]] = [{}, {"email_verified": False}]
    for n, word in enumerate(words):
        token = issuer.token(f"attacker-{n}", email="boss@corp.example", **word)
        me = api.get(f"{V1}/whoami", headers=bearer(token)).json()
        assert me["name"] != "boss" and me["global_role"] is None and me["email"] is None
        assert api.get(f"{V1}/users", headers=bearer(token)).status_code == 403
    assert api.get(f"{V1}/users/boss", headers=root).json()["email"] == "boss@corp.example"
    # Boss, verified: signed in as boss, and bound; the e-mail opens it to nobody else since.
    real = issuer.token("boss-sub", email="boss@corp.example", email_verified=True)
    assert api.get(f"{V1}/whoami", headers=bearer(real)).json()["name"] == "boss"
    other = issuer.token("other-sub", email="boss@corp.example", email_verified=True)
    refused = api.get(f"{V1}/whoami", headers=bearer(other))
    assert refused.status_code == 401 and "another identity" in refused.text


def test_an_owner_by_claim_cannot_make_the_membership_permanent(
    api: TestClient, cp: ControlPlane, issuer: Issuer
) -> None:
    owner_by_claim = bearer(issuer.token("s-1", preferred_username="dana", groups=["t:owner"]))
    me = api.get(f"{V1}/whoami", headers=owner_by_claim).json()
    assert me["teams"] == {"t": "owner"}
    # Reads the team's members (the claim counts there) but manages none, itself included.
    assert api.get(f"{V1}/teams/t/members", headers=owner_by_claim).status_code == 200
    for name in ("dana", "someone"):
        put = api.put(
            f"{V1}/teams/t/members/{name}", json={"role": "owner"}, headers=owner_by_claim
        )
        assert put.status_code == 403, put.text
        assert "stored" in put.json()["error"]["message"]
    assert api.delete(f"{V1}/teams/t/members/dana", headers=owner_by_claim).status_code == 403
    denied = [e for e in cp.audit.search() if e.record.outcome == "denied"]
    assert denied and denied[-1].record.action == "team.members.manage"
    # Nothing was stored: dropped from the provider's group, dana is out of the team.
    stored = cp.store.principals.by_name("dana")
    assert stored is not None and dict(stored.teams) == {}
    dropped = bearer(issuer.token("s-1", groups=[]))
    assert api.get(f"{V1}/whoami", headers=dropped).json()["teams"] == {}
    # A stored owner (made one by an admin) manages the team, signed in by OIDC as well.
    root = grant(cp.services, "root", global_role="admin")
    assert (
        api.put(f"{V1}/teams/t/members/dana", json={"role": "owner"}, headers=root).status_code
        == 200
    )
    assert (
        api.put(f"{V1}/teams/t/members/root", json={"role": "viewer"}, headers=dropped).status_code
        == 200
    )


def test_a_token_made_while_signed_in_by_oidc_expires_within_a_week(
    api: TestClient, issuer: Issuer
) -> None:
    oidc = bearer(issuer.token("s-7", preferred_username="kim"))
    week = 7 * 24 * 3600
    made = api.post(f"{V1}/tokens", json={"name": "laptop"}, headers=oidc).json()
    assert made["expires_at"] - made["created_at"] == pytest.approx(week)
    asked = {"name": "long", "expires_in_s": 365 * 24 * 3600}
    capped = api.post(f"{V1}/tokens", json=asked, headers=oidc).json()
    assert capped["expires_at"] - capped["created_at"] == pytest.approx(week)
    shorter = api.post(f"{V1}/tokens", json={"name": "s", "expires_in_s": 60}, headers=oidc)
    assert shorter.json()["expires_at"] - shorter.json()["created_at"] == pytest.approx(60)
