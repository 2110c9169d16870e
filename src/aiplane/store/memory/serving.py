"""Endpoints in memory, and their hourly request counters.

An endpoint is kept as JSON text of ``store/serving_codec.py`` and decoded afresh on every
read, as the jobs are, so a spec the SQL member could not keep fails here too.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from functools import partial

from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.core.serving.endpoints import Endpoint
from aiplane.core.serving.routes import RequestCount
from aiplane.store import serving_codec as sc
from aiplane.store.memory.data import Repository, freeze, thaw


class Endpoints(Repository):
    def put(self, endpoint: Endpoint, expected_generation: int | None) -> None:
        text = freeze(sc.endpoint_to(endpoint))
        name = endpoint.name
        with self._locked() as d:
            old = d.endpoints.get(name)
            if expected_generation is None:
                if old is not None:
                    raise ConflictError(sc.taken(name))
                d.endpoints[name] = text
                self._undo(lambda: d.endpoints.pop(name))
                return
            if old is None:
                raise NotFoundError(sc.not_found(name))
            stored = int(thaw(old)["generation"])
            if stored != expected_generation:
                raise ConflictError(sc.generation_conflict(name, expected_generation, stored))
            d.endpoints[name] = text
            self._undo(lambda: d.endpoints.__setitem__(name, old))

    def get(self, name: str) -> Endpoint:
        found = self.find(name)
        if found is None:
            raise NotFoundError(sc.not_found(name))
        return found

    def find(self, name: str) -> Endpoint | None:
        with self._locked() as d:
            text = d.endpoints.get(name)
        return None if text is None else sc.endpoint_from(thaw(text))

    def listing(self, teams: Collection[str] | None = None) -> list[Endpoint]:
        with self._locked() as d:
            texts = [d.endpoints[name] for name in sorted(d.endpoints)]
        endpoints = [sc.endpoint_from(thaw(t)) for t in texts]
        if teams is not None:
            among = frozenset(teams)
            endpoints = [e for e in endpoints if e.team in among]
        return endpoints

    def delete(self, name: str) -> None:
        with self._locked() as d:
            old = d.endpoints.pop(name, None)
            if old is None:
                raise NotFoundError(sc.not_found(name))
            self._undo(lambda: d.endpoints.__setitem__(name, old))

    def add_counts(self, counts: Collection[RequestCount]) -> None:
        with self._locked() as d:
            stored = d.request_counts
            for count in counts:
                key = sc.count_key(count)
                old = stored.get(key)
                if old is None:
                    stored[key] = replace(count, hour=key[3])
                    self._undo(partial(stored.pop, key))
                    continue
                # The team first stored stays, as the SQL member's upsert leaves it.
                stored[key] = replace(
                    old, **{f: getattr(old, f) + getattr(count, f) for f in sc.SUMMED}
                )
                self._undo(partial(stored.__setitem__, key, old))

    def counts(
        self,
        *,
        since: float,
        until: float,
        endpoint: str | None = None,
        teams: Collection[str] | None = None,
    ) -> list[RequestCount]:
        among = None if teams is None else frozenset(teams)
        with self._locked() as d:
            found = [
                (key, count)
                for key, count in d.request_counts.items()
                if since <= count.hour < until
                and (endpoint is None or count.endpoint == endpoint)
                and (among is None or count.team in among)
            ]
        # By hour, endpoint, principal, then token (no token first, as "" sorts in SQL).
        found.sort(key=lambda item: (item[0][3], item[0][0], item[0][1], item[0][2]))
        return [count for _, count in found]
