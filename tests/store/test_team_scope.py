"""The scoped listing's filter on every member: ``page(teams=...)`` returns the jobs of those
teams only, pages without gaps or repeats, and combines with the state and team filters."""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Any

from aiplane.core.runs import RunState
from aiplane.store.base import Store

from . import factories as f


def _ids(store: Store, page_size: int = 4, **filters: Any) -> list[str]:
    out: list[str] = []
    before = None
    while True:
        page = store.jobs.page(limit=page_size, before=before, **filters)
        out += [job.id for job, _ in page]
        if len(page) < page_size:
            return out
        before = page[-1][0].id


def test_list_jobs_filters_to_a_set_of_teams(store: Store) -> None:
    states = [RunState.PENDING, RunState.RUNNING, RunState.SUCCEEDED]
    teams = ["research", "prod", "infra"]
    for n in range(1, 31):
        job, run = f.job_and_run(n, team=teams[n % 3], state=states[n % 2])
        store.jobs.add(job, run)

    def expected(keep: Callable[[int], bool]) -> list[str]:
        return [f.job_id(n) for n in range(30, 0, -1) if keep(n)]

    def among(*names: str) -> Collection[str]:
        return frozenset(names)

    assert _ids(store, teams=among("research", "infra")) == expected(lambda n: n % 3 != 1)
    assert _ids(store, teams=among("prod")) == expected(lambda n: n % 3 == 1)
    assert _ids(store, teams=among("research", "prod"), states=[RunState.RUNNING]) == expected(
        lambda n: n % 3 != 2 and n % 2 == 1
    )
    assert _ids(store, teams=among("research", "prod"), team="prod") == expected(
        lambda n: n % 3 == 1
    )
    assert _ids(store, teams=among("prod"), team="infra") == []
    assert _ids(store, teams=among("nobody")) == []
    assert store.jobs.page(limit=10, teams=frozenset()) == []
    assert store.jobs.page(limit=10, teams=frozenset(), states=[RunState.RUNNING]) == []
