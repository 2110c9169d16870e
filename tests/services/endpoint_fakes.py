"""Until the memory store has its endpoints member (helper E1's): a small one, patched onto
the memory store's repositories for these tests. Without rollback: the tests do not need it."""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import replace
from typing import Any

from aiplane.core.errors import ConflictError, NotFoundError
from aiplane.core.serving.endpoints import Endpoint
from aiplane.core.serving.routes import RequestCount


class FakeEndpoints:
    def __init__(self) -> None:
        self.items: dict[str, Endpoint] = {}
        self.counters: dict[tuple[str, str, str | None, float], RequestCount] = {}

    def put(self, endpoint: Endpoint, expected_generation: int | None) -> None:
        held = self.items.get(endpoint.name)
        if expected_generation is None:
            if held is not None:
                raise ConflictError(f"endpoint {endpoint.name} exists")
        elif held is None:
            raise NotFoundError(f"endpoint {endpoint.name} not found")
        elif held.generation != expected_generation:
            raise ConflictError("generation changed")
        self.items[endpoint.name] = endpoint

    def get(self, name: str) -> Endpoint:
        if name not in self.items:
            raise NotFoundError(f"endpoint {name} not found")
        return self.items[name]

    def find(self, name: str) -> Endpoint | None:
        return self.items.get(name)

    def listing(self, teams: Collection[str] | None = None) -> list[Endpoint]:
        return [e for _, e in sorted(self.items.items()) if teams is None or e.team in teams]

    def delete(self, name: str) -> None:
        self.get(name)
        del self.items[name]

    def add_counts(self, counts: Collection[RequestCount]) -> None:
        for c in counts:
            key = (c.endpoint, c.principal, c.token_id, c.hour)
            held = self.counters.get(key)
            self.counters[key] = (
                c
                if held is None
                else replace(
                    held,
                    requests=held.requests + c.requests,
                    errors=held.errors + c.errors,
                    tokens_in=held.tokens_in + c.tokens_in,
                    tokens_out=held.tokens_out + c.tokens_out,
                )
            )

    def counts(self, **_: Any) -> list[RequestCount]:
        return list(self.counters.values())


def install() -> None:
    """Give the memory store an endpoints member, unless it has its own already."""
    from aiplane.store import memory

    repositories: Any = memory._Repositories
    if "endpoints" in vars(repositories) or hasattr(memory.MemoryStore(), "endpoints"):
        return

    def endpoints(self: Any) -> FakeEndpoints:
        data = self.jobs._data if hasattr(self.jobs, "_data") else self.jobs.__dict__
        holder = data.__dict__ if hasattr(data, "__dict__") else data
        return holder.setdefault("_fake_endpoints", FakeEndpoints())  # type: ignore[no-any-return]

    repositories.endpoints = property(endpoints)
