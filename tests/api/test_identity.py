"""``/whoami``, ``/users``, ``/teams/{team}/members`` and ``/tokens`` over HTTP: who may do
what, what a listing shows, and that a revoked or expired token is refused at once."""

from __future__ import annotations

import time

from fastapi.testclient import TestClient

from aiplane.wiring import ControlPlane
from tests.api.conftest import Clock
from tests.identities import grant

V1 = "/api/v1"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_whoami_names_the_caller_and_its_roles(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    member = api.get(f"{V1}/whoami", headers=tokens["member"]).json()
    assert member["name"] == "member-user" and member["teams"] == {"t": "member"}
    assert member["via"] == "token" and member["global_role"] is None
    assert api.get(f"{V1}/whoami", headers=tokens["operator"]).json()["global_role"] == "operator"
    refused = api.get(f"{V1}/whoami", headers=bearer("aip_not-a-token"))
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "unauthenticated"


def test_admins_manage_users(api: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    admin = tokens["admin"]
    created = api.post(
        f"{V1}/users",
        json={"name": "ci-bot", "kind": "service", "email": "ci@example.org"},
        headers=admin,
    )
    assert created.status_code == 201, created.text
    assert created.json()["kind"] == "service" and created.json()["sso"] is False
    again = api.post(f"{V1}/users", json={"name": "ci-bot"}, headers=admin)
    assert again.status_code == 409
    names = [u["name"] for u in api.get(f"{V1}/users", headers=admin).json()]
    assert "ci-bot" in names and "member-user" in names
    patched = api.patch(
        f"{V1}/users/ci-bot", json={"global_role": "operator"}, headers=admin
    ).json()
    assert patched["global_role"] == "operator" and patched["email"] == "ci@example.org"
    cleared = api.patch(
        f"{V1}/users/ci-bot", json={"global_role": None, "email": None}, headers=admin
    ).json()
    assert cleared["global_role"] is None and cleared["email"] is None
    api.patch(f"{V1}/users/ci-bot", json={"global_role": "admin"}, headers=admin)
    by_word = api.patch(f"{V1}/users/ci-bot", json={"global_role": "none"}, headers=admin)
    assert by_word.json()["global_role"] is None  # what `aiplane users update --role none` sends
    assert api.get(f"{V1}/users/ci-bot", headers=admin).json()["name"] == "ci-bot"
    assert api.get(f"{V1}/users/nobody", headers=admin).status_code == 404


def test_users_are_admin_only_but_self(api: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    member = tokens["member"]
    assert api.get(f"{V1}/users", headers=member).status_code == 403
    assert api.post(f"{V1}/users", json={"name": "x"}, headers=member).status_code == 403
    assert api.get(f"{V1}/users/member-user", headers=member).status_code == 200
    # Another principal, existing or not: refused alike.
    assert api.get(f"{V1}/users/viewer-user", headers=member).status_code == 403
    assert api.get(f"{V1}/users/nobody", headers=member).status_code == 403
    denied = api.patch(f"{V1}/users/member-user", json={"global_role": "admin"}, headers=member)
    assert denied.status_code == 403
    assert api.get(f"{V1}/users", headers=tokens["operator"]).status_code == 403


def test_a_bad_name_is_located(api: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    bad = api.post(f"{V1}/users", json={"name": "Bad Name"}, headers=tokens["admin"])
    assert bad.status_code == 422
    assert bad.json()["error"]["problems"][0]["location"] == "body.name"
    bad_team = api.put(
        f"{V1}/teams/Bad%20Team/members/member-user",
        json={"role": "viewer"},
        headers=tokens["admin"],
    )
    assert bad_team.status_code == 422
    problem = bad_team.json()["error"]["problems"][0]
    assert problem["location"] == "team" and problem["given"] == "'Bad Team'"
    bad_role = api.put(
        f"{V1}/teams/t/members/member-user", json={"role": "boss"}, headers=tokens["admin"]
    )
    assert bad_role.status_code == 422


def test_team_members_by_role(
    api: TestClient, cp: ControlPlane, tokens: dict[str, dict[str, str]]
) -> None:
    owner = grant(cp.services, "olga", teams={"t": "owner"})
    outsider = grant(cp.services, "otto", teams={"other": "owner"})
    path = f"{V1}/teams/t/members"
    listed = api.get(path, headers=tokens["viewer"])
    assert listed.status_code == 200
    assert {m["name"]: m["role"] for m in listed.json()} == {
        "viewer-user": "viewer",
        "member-user": "member",
        "olga": "owner",
    }
    assert api.get(path, headers=tokens["operator"]).status_code == 200
    assert api.get(path, headers=outsider).status_code == 404

    # Managing: the team's owner or an admin; its members and operators (who read every team)
    # are refused, others are not told it exists.
    def put(headers: dict[str, str]) -> int:
        answer = api.put(f"{path}/otto", json={"role": "member"}, headers=headers)
        return int(answer.status_code)

    assert put(tokens["member"]) == 403
    assert put(outsider) == 404
    assert put(tokens["operator"]) == 403
    added = api.put(f"{path}/otto", json={"role": "approver"}, headers=owner)
    assert added.status_code == 200 and added.json() == {
        "team": "t",
        "name": "otto",
        "kind": "user",
        "role": "approver",
        "disabled": False,
    }
    # Otto is in the team now, and that counts at once.
    assert api.get(path, headers=outsider).status_code == 200
    removed = api.delete(f"{path}/otto", headers=tokens["admin"])
    assert removed.status_code == 204 and removed.content == b""
    assert api.delete(f"{path}/otto", headers=tokens["admin"]).status_code == 404
    assert api.get(path, headers=outsider).status_code == 404
    assert api.delete(f"{path}/ghost", headers=owner).status_code == 404


def test_token_listing_shows_no_secret(api: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    made = api.post(
        f"{V1}/tokens", json={"name": "laptop", "expires_in_s": 3600}, headers=tokens["member"]
    )
    assert made.status_code == 201
    plaintext = made.json()["token"]
    assert plaintext.startswith(made.json()["prefix"]) and made.json()["principal"] == "member-user"
    listed = api.get(f"{V1}/tokens", headers=tokens["member"])
    assert listed.status_code == 200
    items = listed.json()
    assert {t["name"] for t in items} == {"laptop", "member-user-token"}
    assert all(t["state"] == "active" and t["principal"] == "member-user" for t in items)
    assert plaintext not in listed.text
    assert set(items[0]) == {
        "id",
        "name",
        "principal",
        "prefix",
        "created_at",
        "expires_at",
        "revoked_at",
        "state",
        "scope_team",
        "scope_job_id",
    }


def test_tokens_of_others_are_admins(api: TestClient, tokens: dict[str, dict[str, str]]) -> None:
    member, admin = tokens["member"], tokens["admin"]
    refused = api.post(
        f"{V1}/tokens", json={"name": "x", "principal": "viewer-user"}, headers=member
    )
    assert refused.status_code == 403
    assert api.get(f"{V1}/tokens?principal=viewer-user", headers=member).status_code == 403
    assert api.get(f"{V1}/tokens?all=true", headers=member).status_code == 403
    made = api.post(f"{V1}/tokens", json={"name": "ci", "principal": "viewer-user"}, headers=admin)
    assert made.status_code == 201 and made.json()["principal"] == "viewer-user"
    theirs = api.get(f"{V1}/tokens?principal=viewer-user", headers=admin).json()
    assert {t["name"] for t in theirs} == {"ci", "viewer-user-token"}
    every = api.get(f"{V1}/tokens?all=true", headers=admin).json()
    assert {t["principal"] for t in every} >= {"viewer-user", "member-user", "admin-user"}
    # Another's token: not found for a non-admin, revoked by an admin.
    token_id = made.json()["id"]
    assert api.delete(f"{V1}/tokens/{token_id}", headers=member).status_code == 404
    assert api.delete(f"{V1}/tokens/{token_id}", headers=admin).status_code == 204
    assert api.get(f"{V1}/whoami", headers=bearer(made.json()["token"])).status_code == 401


def test_a_revoked_token_is_refused_at_once(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    made = api.post(f"{V1}/tokens", json={"name": "short"}, headers=tokens["viewer"]).json()
    own = bearer(made["token"])
    assert api.get(f"{V1}/whoami", headers=own).status_code == 200  # cached by the server now
    assert api.delete(f"{V1}/tokens/{made['id']}", headers=own).status_code == 204
    refused = api.get(f"{V1}/whoami", headers=own)
    assert refused.status_code == 401 and "revoked" in refused.json()["error"]["message"]
    listed = api.get(f"{V1}/tokens", headers=tokens["viewer"]).json()
    assert {t["id"]: t["state"] for t in listed}[made["id"]] == "revoked"


def test_an_expired_token_is_refused_at_once(
    api: TestClient, clock: Clock, tokens: dict[str, dict[str, str]]
) -> None:
    start = time.time()
    clock.fixed = start
    made = api.post(
        f"{V1}/tokens", json={"name": "brief", "expires_in_s": 60}, headers=tokens["member"]
    ).json()
    assert made["expires_at"] == start + 60
    own = bearer(made["token"])
    assert api.get(f"{V1}/whoami", headers=own).status_code == 200
    clock.fixed = start + 60
    refused = api.get(f"{V1}/whoami", headers=own)
    assert refused.status_code == 401 and "expired" in refused.json()["error"]["message"]
    assert refused.headers["WWW-Authenticate"] == "Bearer"
    listed = api.get(f"{V1}/tokens", headers=tokens["member"]).json()
    assert {t["id"]: t["state"] for t in listed}[made["id"]] == "expired"


def test_a_disabled_user_is_refused_at_once(
    api: TestClient, tokens: dict[str, dict[str, str]]
) -> None:
    viewer = tokens["viewer"]
    assert api.get(f"{V1}/whoami", headers=viewer).status_code == 200
    disabled = api.patch(
        f"{V1}/users/viewer-user", json={"disabled": True}, headers=tokens["admin"]
    )
    assert disabled.status_code == 200 and disabled.json()["disabled"] is True
    assert api.get(f"{V1}/whoami", headers=viewer).status_code == 401
    api.patch(f"{V1}/users/viewer-user", json={"disabled": False}, headers=tokens["admin"])
    assert api.get(f"{V1}/whoami", headers=viewer).status_code == 200


def test_changes_and_refusals_are_audited(
    api: TestClient, cp: ControlPlane, tokens: dict[str, dict[str, str]]
) -> None:
    api.post(f"{V1}/users", json={"name": "audited"}, headers=tokens["admin"])
    api.get(f"{V1}/users", headers=tokens["member"])
    seen = {(e.record.actor, e.record.action, e.record.outcome) for e in cp.audit.search()}
    assert ("admin-user", "principal.create", "ok") in seen
    assert ("member-user", "principal.list", "denied") in seen
    assert cp.audit.verify().ok
