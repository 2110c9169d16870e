"""Replicas get the base environment they are given, never the control plane's own."""

from __future__ import annotations

import json
import os
import shlex
import sys
from collections.abc import Iterator, Mapping
from pathlib import Path

import pytest

from aiplane.backends.base import Backend, Handle, ReplicaStatus
from aiplane.backends.local import LocalBackend
from aiplane.backends.process import runfiles
from aiplane.backends.registry import PoolBackends, build_backend
from aiplane.core.runs import Placement, ReplicaAssignment
from tests.backends.drivers import kill_replicas
from tests.backends.helpers import make_spec, supervisor_record, wait_status

SECRET = "s3cret-value-never-shown"
# Prints the replica's whole environment as one JSON line.
PRINT_ENV = shlex.join(
    [sys.executable, "-c", "import json, os; print('ENV=' + json.dumps(dict(os.environ)))"]
)


def _printed_env(backend: Backend, handle: Handle) -> dict[str, str]:
    wait_status(backend, handle, ReplicaStatus.EXITED)
    line = next(x for x in backend.logs(handle).splitlines() if x.startswith("ENV="))
    env: dict[str, str] = json.loads(line[len("ENV=") :])
    return env


@pytest.fixture
def work_root(tmp_path: Path) -> Iterator[Path]:
    yield tmp_path / "work"
    kill_replicas(tmp_path / "work")


@pytest.mark.parametrize("member", ["local", "emulated"])
def test_a_replica_sees_the_base_environment_the_spec_and_ours_only(
    member: str, work_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # In this process's environment, but not in the base environment given to the backend.
    monkeypatch.setenv("MY_API_KEY", SECRET)
    monkeypatch.setenv("PLAIN_BUT_NOT_GIVEN", "x")
    base = {"PATH": "/usr/bin:/bin", "KEPT": "yes", "OVERRIDDEN": "base"}
    backend = build_backend(member, work_root, {}, environment=lambda: base)
    spec = make_spec(command=PRINT_ENV, env={"OVERRIDDEN": "spec", "DECLARED_TOKEN": "mine"})
    handle = backend.launch(spec)
    env = _printed_env(backend, handle)
    assert env["KEPT"] == "yes"
    assert env["OVERRIDDEN"] == "spec"
    # A workload that needs a secret declares it in its spec: that still reaches it.
    assert env["DECLARED_TOKEN"] == "mine"
    assert env["AIPLANE_JOB_ID"] == "job-1"
    assert "MY_API_KEY" not in env and "PLAIN_BUT_NOT_GIVEN" not in env
    assert SECRET not in json.dumps(env)
    # The file that carried it is gone once read.
    assert not (Path(handle["dir"]) / runfiles.ENV).exists()


def test_the_base_environment_is_asked_for_at_each_launch(work_root: Path) -> None:
    current: dict[str, str] = {"GENERATION": "1"}
    backend = build_backend("local", work_root, {}, environment=lambda: dict(current))
    first = backend.launch(make_spec(command=PRINT_ENV, run_id="r1"))
    assert _printed_env(backend, first)["GENERATION"] == "1"
    current["GENERATION"] = "2"
    second = backend.launch(make_spec(command=PRINT_ENV, run_id="r2"))
    assert _printed_env(backend, second)["GENERATION"] == "2"


def test_the_supervisor_does_not_hold_the_secrets_either(
    work_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_API_KEY", SECRET)
    base: Mapping[str, str] = {"PATH": "/usr/bin:/bin", "KEPT": "yes"}
    backend = build_backend("local", work_root, {}, environment=lambda: base)
    handle = backend.launch(make_spec(command="sleep 30"))
    record = supervisor_record(handle)
    for pid in (int(record["pid"]), int(record["child_pid"])):
        environ = Path(f"/proc/{pid}/environ").read_bytes()
        assert SECRET.encode() not in environ
        assert b"KEPT=yes" in environ
    backend.cancel(handle, grace_s=0.5)
    wait_status(backend, handle, ReplicaStatus.EXITED)


def test_a_backend_built_on_its_own_keeps_out_what_its_names_show_secret(
    work_root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MY_API_KEY", SECRET)
    monkeypatch.setenv("AIPLANE_TOKEN", SECRET)
    monkeypatch.setenv("PLAIN_SETTING", "kept")
    backend = LocalBackend(work_root)
    env = _printed_env(backend, backend.launch(make_spec(command=PRINT_ENV)))
    assert env["PLAIN_SETTING"] == "kept"
    assert "MY_API_KEY" not in env
    assert env.get("AIPLANE_TOKEN") is None
    assert SECRET not in json.dumps(env)


def test_pool_backends_hand_the_environment_to_the_process_members(work_root: Path) -> None:
    backends = PoolBackends(work_root, environment=lambda: {"FROM_POOLS": "1"})
    placement = Placement(
        "onprem-fra/dgx-h100",
        "onprem-fra",
        "local",
        None,
        (ReplicaAssignment(0, "node-0", 0.0),),
        0.0,
        False,
    )
    backend = backends.for_placement(placement)
    env = _printed_env(backend, backend.launch(make_spec(command=PRINT_ENV)))
    assert env["FROM_POOLS"] == "1"


# Prints the environment, then the token file's mode and whether it holds the expected token.
_READ_TOKEN = (
    "import json, os; print('ENV=' + json.dumps(dict(os.environ))); "
    "p = os.environ['AIPLANE_TOKEN_FILE']; "
    "print('MODE=%o' % (os.stat(p).st_mode & 0o777)); "
    "print('SAME=%s' % (open(p).read() == int(os.environ['EXPECTED_TOKEN_LEN']) * 'k'))"
)
PRINT_ENV_AND_TOKEN = shlex.join([sys.executable, "-c", _READ_TOKEN])


@pytest.mark.parametrize("member", ["local", "emulated"])
def test_the_attempts_token_is_a_private_file_not_a_variable(member: str, work_root: Path) -> None:
    token = "k" * 40
    asked: list[int] = []

    def issue() -> str:
        asked.append(1)
        return token

    # The supervisor (which removes the file) runs with the base environment: ours to import.
    base = {"PATH": "/usr/bin:/bin", "PYTHONPATH": os.environ.get("PYTHONPATH", "")}
    backend = build_backend(member, work_root, {}, environment=lambda: base)
    spec = make_spec(
        command=PRINT_ENV_AND_TOKEN,
        # A token the spec declares gives way to the attempt's own.
        env={"AIPLANE_TOKEN": "declared", "EXPECTED_TOKEN_LEN": str(len(token))},
        token=issue,
    )
    handle = backend.launch(spec)
    env = _printed_env(backend, handle)
    output = backend.logs(handle)
    path = Path(handle["dir"]) / runfiles.TOKEN
    assert env["AIPLANE_TOKEN_FILE"] == str(path)
    assert "AIPLANE_TOKEN" not in env
    assert "MODE=600" in output and "SAME=True" in output, output
    # Neither in the log (which the team's viewers read) nor left behind once the command ended.
    assert token not in output
    assert not path.exists()
    # Launched again (recovery): the replica exists, so no token is asked for.
    assert backend.launch(spec) == handle
    assert asked == [1]


def test_no_token_file_without_a_token(work_root: Path) -> None:
    backend = build_backend("local", work_root, {}, environment=lambda: {"PATH": "/usr/bin"})
    handle = backend.launch(make_spec(command=PRINT_ENV))
    env = _printed_env(backend, handle)
    assert "AIPLANE_TOKEN_FILE" not in env
