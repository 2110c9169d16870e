"""What only the NATS member does: positions that are the stream's sequences, a stream made
when missing and checked when found, subjects per endpoint, and no consumers left behind."""

from __future__ import annotations

import builtins
import json
from collections.abc import AsyncIterator
from typing import Any

import nats
import pytest

from aiplane.core.errors import ConflictError, MissingDependencyError
from aiplane.streams.nats import NatsInferenceLog, subject_token

from .conftest import NATS_URL, delete_stream, nats_names
from .records import record

pytestmark = pytest.mark.anyio


@pytest.fixture
async def names() -> AsyncIterator[tuple[str, str]]:
    made = nats_names()
    try:
        yield made
    finally:
        await delete_stream(made[0])


@pytest.fixture
async def js() -> AsyncIterator[Any]:
    nc = await nats.connect(NATS_URL)
    try:
        yield nc.jetstream()
    finally:
        await nc.close()


async def test_positions_are_the_stream_sequences(names: tuple[str, str], js: Any) -> None:
    stream, subject = names
    log = NatsInferenceLog(NATS_URL, stream=stream, subject=subject)
    await log.append([record(1, "fraud"), record(2, "churn"), record(3, "fraud")])

    found = await log.read(endpoint="fraud")
    await log.close()

    assert [p.position for p in found] == [1, 3]
    stored = await js.get_msg(stream, 3)
    assert stored.subject == f"{subject}.fraud"
    assert json.loads(stored.data)["request_id"] == "req-3"
    assert (await js.stream_info(stream)).state.last_seq == 3


async def test_the_stream_is_made_when_missing_and_reads_leave_no_consumer(
    names: tuple[str, str], js: Any
) -> None:
    stream, subject = names
    log = NatsInferenceLog(NATS_URL, stream=stream, subject=subject)

    assert await log.read() == []
    await log.append([record(1)])
    await log.read()
    await log.read(endpoint="fraud")
    await log.close()

    info = await js.stream_info(stream)
    assert info.config.subjects == [f"{subject}.>"]
    assert info.state.consumer_count == 0


async def test_two_writers_share_one_stream_and_its_positions(names: tuple[str, str]) -> None:
    stream, subject = names
    one = NatsInferenceLog(NATS_URL, stream=stream, subject=subject)
    other = NatsInferenceLog(NATS_URL, stream=stream, subject=subject)

    await one.append([record(1)])
    await other.append([record(2)])
    await one.append([record(3)])

    assert [(p.position, p.record.request_id) for p in await other.read()] == [
        (1, "req-1"),
        (2, "req-2"),
        (3, "req-3"),
    ]
    await one.close()
    await other.close()


async def test_a_stream_of_other_subjects_is_refused_by_name(
    names: tuple[str, str], js: Any
) -> None:
    stream, subject = names
    await js.add_stream(name=stream, subjects=[f"{subject}-other.>"])
    log = NatsInferenceLog(NATS_URL, stream=stream, subject=subject)

    with pytest.raises(ConflictError, match=rf"NATS stream {stream} .* not '{subject}\.>'"):
        await log.append([record(1)])
    await log.close()


async def test_endpoint_names_that_mean_something_in_a_subject_get_subjects_of_their_own(
    names: tuple[str, str],
) -> None:
    stream, subject = names
    log = NatsInferenceLog(NATS_URL, stream=stream, subject=subject)
    awkward = ["a.b", "a", "a*", "a>", "a%2Eb", "ä"]
    await log.append([record(n, name) for n, name in enumerate(awkward)])

    for name in awkward:
        assert [p.record.endpoint for p in await log.read(endpoint=name)] == [name]
    await log.close()
    assert subject_token("fraud-v2_x") == "fraud-v2_x"
    assert subject_token("a.b") == "a%2Eb"
    assert subject_token("a%2Eb") == "a%252Eb"


def test_without_nats_py_the_error_says_what_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    real_import = builtins.__import__

    def refuse_nats(name: str, *args: Any, **kwargs: Any) -> Any:
        if name == "nats" or name.startswith("nats."):
            raise ImportError(f"No module named {name!r}")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse_nats)

    with pytest.raises(MissingDependencyError, match=r"pip install 'aiplane\[nats\]'"):
        NatsInferenceLog(NATS_URL)


async def test_a_server_that_does_not_answer_is_an_error_naming_it() -> None:
    log = NatsInferenceLog("nats://127.0.0.1:1", timeout_s=1.0)

    with pytest.raises(ConnectionError, match=r"NATS server at nats://127\.0\.0\.1:1 did not"):
        await log.append([record(1)])
    await log.close()
