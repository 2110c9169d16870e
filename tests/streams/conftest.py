"""Inference log members for the contract suite: memory, the local SQLite log in tmp_path, and
NATS JetStream on the real server at 127.0.0.1:4222, each test with a stream (and subjects)
of its own, deleted after it."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import nats
import pytest
from nats.js.errors import NotFoundError

from aiplane.streams.base import InferenceLog
from aiplane.streams.local import LocalInferenceLog
from aiplane.streams.memory import MemoryInferenceLog
from aiplane.streams.nats import NatsInferenceLog

NATS_URL = "nats://127.0.0.1:4222"


@pytest.fixture
def anyio_backend() -> str:
    return "asyncio"


def nats_names() -> tuple[str, str]:
    """A stream name and a subject for one test, in no other test's way."""
    tag = uuid.uuid4().hex
    return f"AIPLANE_TEST_{tag}", f"aiplane-test.{tag}"


async def delete_stream(name: str) -> None:
    nc = await nats.connect(NATS_URL)
    try:
        await nc.jetstream().delete_stream(name)
    except NotFoundError:
        pass
    finally:
        await nc.close()


@pytest.fixture(params=["memory", "local", "nats"])
async def make_log(
    request: pytest.FixtureRequest, tmp_path: Path
) -> AsyncIterator[Callable[[], InferenceLog]]:
    """Makes a log; called again, the new one reads what the first wrote, as a restarted
    process would (the memory log is the same object)."""
    made: list[InferenceLog] = []
    if request.param == "memory":
        one = MemoryInferenceLog()

        def make() -> InferenceLog:
            return one
    elif request.param == "local":

        def make() -> InferenceLog:
            made.append(LocalInferenceLog(tmp_path / "log"))
            return made[-1]
    else:
        stream, subject = nats_names()

        def make() -> InferenceLog:
            made.append(NatsInferenceLog(NATS_URL, stream=stream, subject=subject))
            return made[-1]

    try:
        yield make
    finally:
        for log in made:
            await log.close()
        if request.param == "nats":
            await delete_stream(stream)


@pytest.fixture
def log(make_log: Callable[[], InferenceLog]) -> InferenceLog:
    return make_log()
