"""Settings from the environment are validated, naming the variable."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from aiplane.config import Settings
from aiplane.core.errors import SpecError


@pytest.mark.parametrize("value", ["fast", "nan", "-1", "0", "1e9", "inf"])
def test_a_bad_interval_names_its_variable(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, value: str
) -> None:
    monkeypatch.setenv("AIPLANE_SCHEDULER_INTERVAL_S", value)
    with pytest.raises(SpecError) as raised:
        Settings.from_env(tmp_path)
    (problem,) = raised.value.problems
    assert problem.location == "AIPLANE_SCHEDULER_INTERVAL_S"
    assert problem.given == value


def test_good_and_unset_intervals(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIPLANE_RECONCILER_INTERVAL_S", "0.25")
    monkeypatch.delenv("AIPLANE_TELEMETRY_INTERVAL_S", raising=False)
    settings = Settings.from_env(tmp_path)
    assert settings.reconciler_interval_s == 0.25
    assert settings.telemetry_interval_s == 1.0


def test_aiplane_up_reports_a_bad_setting_without_a_traceback(tmp_path: Path) -> None:
    env = {**os.environ, "AIPLANE_HOME": str(tmp_path), "AIPLANE_TELEMETRY_INTERVAL_S": "soon"}
    done = subprocess.run(
        [sys.executable, "-m", "aiplane.server", "--quiet", "--port", "0"],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert done.returncode == 2, done.stderr
    assert "AIPLANE_TELEMETRY_INTERVAL_S" in done.stderr
    assert "Traceback" not in done.stderr


# Each setting the server reads, with a value that cannot work: the SpecError names the
# variable ({file}, {dir}, {missing} and {under_file} are made per test).
BAD_SETTINGS = [
    ("AIPLANE_HOME", "{file}"),
    ("AIPLANE_HOME", "{under_file}"),
    ("AIPLANE_DATABASE_URL", "not a url"),
    ("AIPLANE_DATABASE_URL", "/var/lib/aiplane.db"),
    ("AIPLANE_TELEMETRY", "foo"),
    ("AIPLANE_CATALOG", "{missing}"),
    ("AIPLANE_CATALOG", "{file}"),
    ("AIPLANE_TELEMETRY_REPLAY", "{missing}"),
    ("AIPLANE_TELEMETRY_REPLAY", "{dir}"),
    ("AIPLANE_SIGNING_KEY", "{dir}"),
    ("AIPLANE_SIGNING_KEY", "{under_file}"),
    ("AIPLANE_TRUSTED_KEYS", "{missing}"),
    ("AIPLANE_TRUSTED_KEYS", "{file}"),
    ("AIPLANE_OIDC_ISSUER", "not-a-url"),
    ("AIPLANE_OIDC_ISSUER", "https://"),
    ("AIPLANE_SCHEDULER_INTERVAL_S", "-1"),
    ("AIPLANE_RECONCILER_INTERVAL_S", "soon"),
    ("AIPLANE_TELEMETRY_INTERVAL_S", "nan"),
]


@pytest.mark.parametrize(("name", "value"), BAD_SETTINGS)
def test_a_bad_setting_is_named(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str
) -> None:
    (tmp_path / "a-file").write_text("x")
    (tmp_path / "a-dir").mkdir()
    places = {
        "file": tmp_path / "a-file",
        "dir": tmp_path / "a-dir",
        "missing": tmp_path / "missing",
        "under_file": tmp_path / "a-file" / "below",
    }
    monkeypatch.setenv("AIPLANE_HOME", str(tmp_path / "home"))
    monkeypatch.setenv(name, value.format(**places))
    with pytest.raises(SpecError) as raised:
        Settings.from_env()
    (problem,) = raised.value.problems
    assert problem.location == name
    assert problem.allowed  # and says what would do


def test_a_database_url_is_never_echoed(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIPLANE_DATABASE_URL", "postgres-with-password-s3cret")
    with pytest.raises(SpecError) as raised:
        Settings.from_env(tmp_path)
    assert "s3cret" not in str(raised.value.problems)


def test_good_paths_and_modes_pass(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    (tmp_path / "catalog").mkdir()
    monkeypatch.setenv("AIPLANE_CATALOG", str(tmp_path / "catalog"))
    monkeypatch.setenv("AIPLANE_SIGNING_KEY", str(tmp_path / "keys" / "signing.pem"))
    monkeypatch.setenv("AIPLANE_TELEMETRY", "off")
    monkeypatch.setenv("AIPLANE_DATABASE_URL", "postgresql+psycopg://u@127.0.0.1/db")
    monkeypatch.setenv("AIPLANE_OIDC_ISSUER", "https://idp.example.org/realms/x")
    settings = Settings.from_env(tmp_path)
    assert settings.catalog_dir == tmp_path / "catalog"
    assert settings.telemetry == "off"
    assert settings.oidc_issuer == "https://idp.example.org/realms/x"


@pytest.mark.parametrize(
    ("url", "options", "what"),
    [
        ("s3://b/p", '{"key": "s3cret"', "not JSON"),
        ("s3://b/p", '["s3cret"]', "not an object"),
        ("", '{"key": "s3cret"}', "without AIPLANE_ARTIFACTS_URL"),
    ],
)
def test_bad_artifact_options_are_named_and_not_echoed(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, url: str, options: str, what: str
) -> None:
    monkeypatch.setenv("AIPLANE_ARTIFACTS_URL", url)
    monkeypatch.setenv("AIPLANE_ARTIFACTS_OPTIONS", options)
    with pytest.raises(SpecError) as raised:
        Settings.from_env(tmp_path)
    (problem,) = raised.value.problems
    assert problem.location == "AIPLANE_ARTIFACTS_OPTIONS"
    assert what in problem.message
    assert "s3cret" not in str(raised.value.problems)


def test_artifact_options_reach_the_settings(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIPLANE_ARTIFACTS_URL", "s3://bucket/prefix")
    options = '{"client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}}'
    monkeypatch.setenv("AIPLANE_ARTIFACTS_OPTIONS", options)
    settings = Settings.from_env(tmp_path)
    assert settings.artifacts_options == {
        "client_kwargs": {"endpoint_url": "http://127.0.0.1:9000"}
    }
    assert "127.0.0.1:9000" not in repr(settings)
    monkeypatch.delenv("AIPLANE_ARTIFACTS_OPTIONS")
    assert Settings.from_env(tmp_path).artifacts_options == {}


def test_redis_and_nats_urls_are_read_and_kept_out_of_the_repr(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("AIPLANE_REDIS_URL", "redis://:s3cret@127.0.0.1:6379/2")
    monkeypatch.setenv("AIPLANE_NATS_URL", "nats://127.0.0.1:4222")
    settings = Settings.from_env(tmp_path)
    assert settings.redis_url == "redis://:s3cret@127.0.0.1:6379/2"
    assert settings.nats_url == "nats://127.0.0.1:4222"
    assert "s3cret" not in repr(settings)
    assert settings.inference_log_dir == tmp_path.resolve() / "inference"
    monkeypatch.delenv("AIPLANE_REDIS_URL")
    monkeypatch.setenv("AIPLANE_NATS_URL", " ")
    unset = Settings.from_env(tmp_path)
    assert (unset.redis_url, unset.nats_url) == (None, None)


@pytest.mark.parametrize(
    ("name", "value", "what"),
    [
        ("AIPLANE_REDIS_URL", "127.0.0.1:6379", "scheme"),
        ("AIPLANE_REDIS_URL", "http://127.0.0.1:6379", "scheme"),
        ("AIPLANE_REDIS_URL", "redis://:pw@127.0.0.1:70000", "not a URL"),
        ("AIPLANE_NATS_URL", "nats://", "no host"),
        ("AIPLANE_NATS_URL", "nats://127.0.0.1:0", "port 0"),
    ],
)
def test_a_bad_service_url_names_its_variable_and_hides_its_value(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str, what: str
) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(SpecError) as raised:
        Settings.from_env(tmp_path)
    (problem,) = raised.value.problems
    assert problem.location == name
    assert what in problem.message
    assert value not in str(problem.given)
