"""On PostgreSQL, a cancel and the end of the same run at once never deadlock: in every unit
of work the audit entry (which takes the log's lock until the unit ends) is the last write,
so both take the run's row first and the log's lock second (decision 0025).

The two are made to meet at the worst moment: the run end holds the run's row when it comes
to its entry (the revocation of the attempt's workload token) and lets the cancel go first;
before the fix the cancel then held the log's lock and waited for the row."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aiplane.core.auth import Caller, PrincipalKind, TeamRole
from aiplane.core.errors import ConflictError
from aiplane.core.runs import Job, Run, RunState
from aiplane.store.sql import SqlStore
from aiplane.wiring import ControlPlane
from tests.audit.conftest import control_plane
from tests.builders import workload
from tests.store.conftest import PostgresServer

# How long the run end waits for the cancel to append first: not an assertion; after the
# fix the cancel cannot append before the run end commits, and this wait simply runs out.
MEETING_S = 3.0


@pytest.fixture
def pg_cp(postgres_server: PostgresServer, tmp_path: Path) -> Iterator[ControlPlane]:
    store = SqlStore.open(postgres_server.create_database())
    try:
        yield control_plane(tmp_path / "home", store)
    finally:
        store.close()


def test_a_cancel_and_a_run_end_at_once_do_not_deadlock(
    pg_cp: ControlPlane, monkeypatch: pytest.MonkeyPatch
) -> None:
    cp = pg_cp
    alice = cp.services.identity.create_principal(
        None, "alice", PrincipalKind.USER, teams={"a": TeamRole.MEMBER}
    )
    cp.api_url = "http://127.0.0.1:9"  # so that the attempt gets a workload token
    job = Job("job-1", workload(team="a"), 1.0, "alice")
    run = Run("run-job-1", "job-1", RunState.RUNNING, 1.0, 1.0, attempt=1, started_at=1.0)
    cp.store.jobs.add(job, run)
    credentials = cp.workload_tokens.credentials(job, run)
    assert credentials is not None
    assert credentials.token()  # issued as a replica starts

    end_holds_row, cancel_appended = threading.Event(), threading.Event()
    original = cp.audit.record

    def record(repos: Any, caller: Caller | None, action: str, *args: Any, **kw: Any) -> Any:
        if action == "token.revoke":  # the run end's entry, its run row written already
            end_holds_row.set()
            cancel_appended.wait(MEETING_S)
            return original(repos, caller, action, *args, **kw)
        entry = original(repos, caller, action, *args, **kw)
        if action == "job.cancel":
            cancel_appended.set()
        return entry

    monkeypatch.setattr(cp.audit, "record", record)
    outcomes: dict[str, str] = {}

    def cancel() -> None:
        end_holds_row.wait(30)
        try:
            cp.services.jobs.cancel(Caller(alice), "job-1")
            outcomes["cancel"] = "ok"
        except ConflictError:
            outcomes["cancel"] = "conflict"  # the run ended first: nothing left to cancel
        except Exception as exc:  # noqa: BLE001 (the outcome is what the test checks)
            outcomes["cancel"] = repr(exc)

    def end() -> None:
        try:
            cp.executor._finish(run, RunState.SUCCEEDED, 2.0, "exited 0", 0)
            outcomes["end"] = "ok"
        except Exception as exc:  # noqa: BLE001
            outcomes["end"] = repr(exc)

    threads = [threading.Thread(target=cancel), threading.Thread(target=end)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert outcomes["end"] == "ok", outcomes
    assert outcomes["cancel"] in ("ok", "conflict"), outcomes
    assert cp.store.jobs.get_run(run.id).state is RunState.SUCCEEDED
    assert cp.services.audit.verify().ok
