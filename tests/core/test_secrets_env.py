"""What a workload inherits of the control plane's environment: a table of names and values."""

from __future__ import annotations

import pytest

from aiplane.core.secrets_env import secret_reason, value_forms, workload_environment

# (name, kept?) by name alone.
NAMES: list[tuple[str, bool]] = [
    ("PATH", True),
    ("HOME", True),
    ("PYTHONPATH", True),
    ("LANG", True),
    ("CUDA_VISIBLE_DEVICES", True),
    ("TOKENIZERS_PARALLELISM", True),  # begins with TOKEN: a setting, not a secret
    ("HF_TOKEN", False),
    ("GITHUB_AUTHTOKEN", False),
    ("MY_API_KEYS", False),
    ("AIPLANE_TOKEN", False),
    ("AIPLANE_HOME", False),
    ("aiplane_url", False),
    ("AIPLANE_DATABASE_URL", False),
    ("DATABASE_URL", False),
    ("APP_DATABASE_URL", False),
    ("GITHUB_TOKEN", False),
    ("hf_token", False),
    ("MY_API_KEY", False),
    ("OPENAI_API_KEY", False),
    ("AWS_ACCESS_KEY_ID", False),
    ("AWS_SECRET_ACCESS_KEY", False),
    ("SSH_PRIVATE_KEY", False),
    ("DB_PASSWORD", False),
    ("MYSQL_PASSWD", False),
    ("GOOGLE_APPLICATION_CREDENTIALS", False),
    ("WEBHOOK_SECRET", False),
    ("PGPASSWORD", False),
    ("PGPASSFILE", False),
    ("pgpass", False),
    ("PGHOST", True),
    ("PGUSER", True),
    ("KEYBOARD", True),
    # Credentials by another name: the SSH agent, Kerberos' ticket cache and keytab.
    ("SSH_AUTH_SOCK", False),
    ("ssh_auth_sock", False),
    ("KRB5CCNAME", False),
    ("KRB5_KTNAME", False),
    ("SSH_CONNECTION", True),
    ("KRB5_CONFIG", True),
]


@pytest.mark.parametrize(("name", "kept"), NAMES)
def test_names(name: str, kept: bool) -> None:
    assert (secret_reason(name) is None) is kept
    assert (name in workload_environment({name: "x"})) is kept


def test_the_names_a_fleet_gives_its_webhook_secrets_are_kept_out_exactly() -> None:
    environ = {"ALERT_HOOK": "h", "ALERT_HOOK_2": "i", "alert_hook": "j"}
    assert workload_environment(environ, secret_names=["ALERT_HOOK"]) == {
        "ALERT_HOOK_2": "i",
        "alert_hook": "j",
    }


# (value, kept?) with the database password "s3cr:t/pw".
VALUES: list[tuple[str, bool]] = [
    ("nothing to see", True),
    ("s3cr:t/pw", False),
    ("postgresql://u:s3cr:t/pw@db/x", False),
    ("postgresql://u:s3cr%3At%2Fpw@db/x", False),  # URL-encoded, as in a URL
    ("s3cr%3At%2Fpw", False),
    ("s3cr", True),
    # Inside another value but not as a URL's password: kept (else a password such as
    # "postgres" would take PATH=/usr/lib/postgresql/bin with it).
    ("/opt/s3cr:t/pw/bin", True),
    ("host=db password=s3cr:t/pw user=u", False),  # a libpq connection string
    ("https://x/?user=u&pw=s3cr%3At%2Fpw&a=1", False),
]


@pytest.mark.parametrize(("value", "kept"), VALUES)
def test_values_holding_the_database_password(value: str, kept: bool) -> None:
    environ = {"CONNECT": value, "PATH": "/usr/bin"}
    got = workload_environment(environ, secret_values=["s3cr:t/pw"])
    assert ("CONNECT" in got) is kept
    assert got["PATH"] == "/usr/bin"


def test_no_password_filters_nothing_by_value() -> None:
    environ = {"A": "", "B": "x"}
    assert workload_environment(environ, secret_values=["", None or ""]) == environ


def test_value_forms() -> None:
    assert value_forms("a b/c") == {"a b/c", "a%20b%2Fc", "a+b%2Fc"}
