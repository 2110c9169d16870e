"""A workload does not inherit the control plane's secrets, and its own token is its job's only.

A real `aiplane up` process is started with fake secrets in its environment in several forms (a
token-like ``AIPLANE_*`` variable, an API key, a database URL with a password, a copy of that
password under an innocent name, the variable a budget's webhook reads its secret from). A real
workload on the local backend prints its whole environment and then, with the ``AIPLANE_URL``
and the token in the file ``AIPLANE_TOKEN_FILE`` names (read by the client), reports a
checkpoint of its own job (works), reads another job (404) and lists jobs (403). None of the
secrets, nor its own token, shows in its output, in the server's log or in any file under the
home; once the job ended its token is refused.

Run over SQLite, and over PostgreSQL when ``AIPLANE_TEST_POSTGRES_URL`` names a server (trust
authentication ignores the password, so the URL may carry a fake one).
"""

from __future__ import annotations

import json
import os
import secrets
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from sqlalchemy import create_engine
from sqlalchemy.engine import make_url

from tests.builders import local_fleet_document
from tests.e2e.server_process import ServerProcess, wait_until

pytestmark = pytest.mark.slow

HOOK_ENV = "ALERTS_HMAC"  # an innocent name: only the fleet says it holds a secret
FLEET = local_fleet_document(
    budgets=[
        {
            "name": "a-monthly",
            "team": "a",
            "amount_usd": 100,
            "webhook": {"url": "http://127.0.0.1:9/hook", "secret_env": HOOK_ENV},
        }
    ],
)

# The workload: its whole environment as it is, its token file's mode (the token itself copied
# where the test finds it, outside the home), then three calls with its own URL and token, which
# the client finds by itself.
WORKLOAD = textwrap.dedent(
    """
    import json, os, sys, time
    from pathlib import Path
    from aiplane.client import ApiError, Client

    env = dict(os.environ)
    print("ENV=" + json.dumps(env), flush=True)
    token_file = Path(env["AIPLANE_TOKEN_FILE"])
    print("TOKEN_FILE_MODE=%o" % (token_file.stat().st_mode & 0o777), flush=True)
    Path(sys.argv[1]).write_text(token_file.read_text())

    def status(call):
        try:
            call()
            return 200
        except ApiError as exc:
            return exc.status

    job = env["AIPLANE_JOB_ID"]
    with Client.from_environment() as client:
        for _ in range(300):  # until the control plane has seen the run running
            code = status(lambda: client.jobs.checkpoint(job, uri="file:///tmp/ckpt-1"))
            if code != 409:
                break
            time.sleep(0.1)
        print("CHECKPOINT", code, flush=True)
        print("OTHER", status(lambda: client.jobs.show(env["OTHER_JOB"])), flush=True)
        print("LIST", status(lambda: client.jobs.list()), flush=True)
    """
)


def _postgres_database(password: str) -> Iterator[str | None]:
    raw = os.environ.get("AIPLANE_TEST_POSTGRES_URL")
    if not raw:
        pytest.skip("AIPLANE_TEST_POSTGRES_URL is not set")
    server = make_url(raw).set(drivername="postgresql+psycopg")
    admin = create_engine(server, isolation_level="AUTOCOMMIT")
    name = f"aiplane_secrets_{secrets.token_hex(6)}"
    with admin.connect() as connection:
        connection.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        url = server.set(database=name, password=password)
        yield url.render_as_string(hide_password=False)
    finally:
        with admin.connect() as connection:
            connection.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@pytest.fixture(params=["sqlite", "postgresql"])
def database(request: pytest.FixtureRequest) -> Iterator[tuple[str, str | None]]:
    """(the store's kind, the URL with a password for AIPLANE_DATABASE_URL, or None)."""
    password = "pw-" + secrets.token_hex(8)
    if request.param == "sqlite":
        yield "sqlite", None
        return
    for url in _postgres_database(password):
        yield "postgresql", url


def _secrets(database_url: str | None) -> dict[str, str]:
    """The fake secrets in the server's environment, by variable."""
    fake = {
        "AIPLANE_TOKEN": "aip_" + secrets.token_urlsafe(24),
        "AIPLANE_WEBHOOK_SECRET": "whsec-" + secrets.token_hex(12),
        "MY_API_KEY": "key-" + secrets.token_hex(12),
        HOOK_ENV: "hmac-" + secrets.token_hex(12),
    }
    if database_url is None:
        # SQLite has no password: a password-bearing URL under another name stands in.
        password = "pw-" + secrets.token_hex(8)
        fake["BACKUP_DATABASE_URL"] = f"postgresql+psycopg://postgres:{password}@127.0.0.1/x"
    else:
        fake["AIPLANE_DATABASE_URL"] = database_url
        password = str(make_url(database_url).password)
        # The store's password again, under a name that says nothing: found by its value.
        fake["CONNECT_WITH"] = f"host=127.0.0.1 password={password}"
    fake["_PASSWORD_ITSELF"] = password  # looked for, not set
    return fake


@pytest.fixture
def fakes(database: tuple[str, str | None]) -> dict[str, str]:
    return _secrets(database[1])


@pytest.fixture
def server(tmp_path: Path, fakes: dict[str, str]) -> Iterator[ServerProcess]:
    env = {k: v for k, v in fakes.items() if not k.startswith("_")}
    env["INNOCENT_SETTING"] = "kept"
    proc = ServerProcess(tmp_path / "home", env)
    (tmp_path / "home").mkdir()
    try:
        yield proc.start()
    finally:
        proc.stop()


def _submit(client: httpx.Client, name: str, team: str, run: str) -> str:
    spec = {
        "name": name,
        "team": team,
        "kind": "batch",
        "resources": {"cpus": 1, "memory_gib": 1},
        "run": run,
    }
    response = client.post("/jobs", json={"spec": spec})
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


def _member(admin: httpx.Client, url: str, name: str, team: str) -> httpx.Client:
    """A new user, member of ``team``, and a client with its own token."""
    created = admin.post("/users", json={"name": name, "kind": "user"})
    assert created.status_code == 201, created.text
    joined = admin.put(f"/teams/{team}/members/{name}", json={"role": "member"})
    assert joined.status_code == 200, joined.text
    issued = admin.post("/tokens", json={"name": f"{name}-cli", "principal": name})
    assert issued.status_code == 201, issued.text
    headers = {"Authorization": f"Bearer {issued.json()['token']}"}
    return httpx.Client(base_url=url + "/api/v1", headers=headers, timeout=30)


def _state(client: httpx.Client, job_id: str) -> str:
    return str(client.get(f"/jobs/{job_id}").json()["state"])


def test_a_workload_sees_none_of_the_control_planes_secrets(
    server: ServerProcess, tmp_path: Path, fakes: dict[str, str]
) -> None:
    script = tmp_path / "workload.py"
    script.write_text(WORKLOAD)
    token_file = tmp_path / "workload-token"
    with server.client() as c:
        response = c.put("/fleet", json={"spec": FLEET, "source": "fleet.yaml"})
        assert response.status_code == 200, response.text
        other = _submit(c, "other", "b", "sleep 60")
        wait_until(lambda: _state(c, other) == "running", 30, "the other job running")
        run = f"OTHER_JOB={other} {sys.executable} {script} {token_file}"
        # Submitted by a member of team a: the workload's token is hers, narrowed to the job.
        with _member(c, server.url, "alice", "a") as alice:
            job = _submit(alice, "printer", "a", run)
            done = ("succeeded", "failed")
            wait_until(lambda: _state(alice, job) in done, 60, "the workload to end")
            logs = alice.get(f"/jobs/{job}/logs").json()
        output = "\n".join(r["text"] for r in logs["replicas"])
        assert _state(c, job) == "succeeded", output
        assert c.get(f"/jobs/{job}").json()["submitted_by"] == "alice"
        c.post(f"/jobs/{other}/cancel")

    line = next(x for x in output.splitlines() if x.startswith("ENV="))
    env = json.loads(line[len("ENV=") :])
    # What it should have: its own URL and token file (in its run directory, its owner's
    # only), and the harmless rest; not the token itself, which its log would show.
    assert env["AIPLANE_URL"] == server.url
    assert "AIPLANE_TOKEN" not in env
    token_path = Path(env["AIPLANE_TOKEN_FILE"])
    assert token_path.name == "token" and token_path.is_relative_to(server.home / "work" / "runs")
    assert "TOKEN_FILE_MODE=600" in output, output
    assert env["INNOCENT_SETTING"] == "kept"
    assert env["AIPLANE_JOB_ID"] == job
    # What it must not have: any of the secrets, by name or by value.
    for name, value in fakes.items():
        if not name.startswith("_"):
            assert name not in env, name
        assert value not in line, name
    assert server.token not in line
    assert "AIPLANE_HOME" not in env and "AIPLANE_DATABASE_URL" not in env

    # Its token acts on its own job only.
    assert "CHECKPOINT 200" in output, output
    assert "OTHER 404" in output, output
    assert "LIST 403" in output, output

    # In no log, and refused once the job ended.
    own = token_file.read_text()
    assert own.startswith("aip_") and own != fakes["AIPLANE_TOKEN"]
    assert own not in output
    with httpx.Client(base_url=server.url + "/api/v1", timeout=30) as anon:
        headers = {"Authorization": f"Bearer {own}"}
        refused = anon.get(f"/jobs/{job}", headers=headers)
        assert refused.status_code == 401, refused.text

    # No token or password in any file under the home, the server's log included; the
    # database, the credentials file (the admin token, by design) and the signing key aside.
    home = server.home
    assert (home / "test-server.log").exists()
    shown = {**fakes, "admin token": server.token, "workload token": own}
    for path in sorted(p for p in home.rglob("*") if p.is_file()):
        if path.name.startswith("aiplane.db") or path.name in ("credentials", "signing-key.pem"):
            continue
        assert path.name != "env.json", f"{path} was left behind"
        text = path.read_bytes().decode("utf-8", errors="replace")
        for what, value in shown.items():
            assert value not in text, f"{what} in {path}"
