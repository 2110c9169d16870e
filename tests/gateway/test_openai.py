"""The OpenAI-compatible routes, called with the official ``openai`` client."""

from __future__ import annotations

import threading
from collections.abc import Callable
from typing import Any

import httpx
import openai
import pytest
from openai.types.chat import ChatCompletionMessageParam
from starlette.types import ASGIApp

from aiplane.core.serving.endpoints import KeyLimits, Protocol
from tests.gateway.conftest import ALICE, BOB, Running
from tests.gateway.fakes import FakeControl, replica, route, spec, table
from tests.gateway.servers import OipUpstream, OpenAiUpstream, Served

MESSAGES: list[ChatCompletionMessageParam] = [{"role": "user", "content": "hi"}]


def _llm(
    control: FakeControl,
    serve: Callable[[ASGIApp], Served],
    upstream: OpenAiUpstream | None = None,
    **fields: Any,
) -> OpenAiUpstream:
    upstream = upstream or OpenAiUpstream()
    served = serve(upstream.app)
    llm = route(
        spec("llm", protocol=Protocol.OPENAI, **fields),
        [replica("run-llm", served.address, version="command")],
    )
    oip = route(spec("fraud"), [replica("run-fraud", serve(OipUpstream("o").app).address)])
    other = route(
        spec("web-llm", team="web", protocol=Protocol.OPENAI), [replica("run-w", served.address)]
    )
    control.set_table(table(llm, oip, other))
    return upstream


def _client(gw: Running, key: str = ALICE) -> openai.OpenAI:
    return openai.OpenAI(base_url=f"{gw.url}/v1", api_key=key, max_retries=0, timeout=10)


def test_chat_completions_embeddings_and_the_model_list(control, serve, gateway):
    upstream = _llm(control, serve)
    gw = gateway()
    client = _client(gw)
    raw = client.chat.completions.with_raw_response.create(model="llm", messages=MESSAGES)
    chat = raw.parse()
    assert chat.choices[0].message.content == "hello"
    assert chat.usage is not None and chat.usage.total_tokens == 8
    assert raw.headers["x-aiplane-replica"] == "run-llm"
    completion = client.completions.create(model="llm", prompt="hello")
    assert completion.choices[0].text == " world"
    embedding = client.embeddings.create(model="llm", input="hello")
    assert embedding.data[0].embedding == [0.1, 0.2, 0.3]
    # Only the OpenAI endpoints alice may invoke: not the OIP one, not team web's.
    assert [m.id for m in client.models.list()] == ["llm"]
    assert upstream.received[0] == {"messages": MESSAGES, "model": "llm"}
    gw.stop()
    chat_record = gw.log.records[0]
    assert chat_record.features == {"messages": MESSAGES, "model": "llm"}
    assert chat_record.prediction["usage"]["total_tokens"] == 8
    assert chat_record.prediction["choices"][0]["message"]["content"] == "hello"
    assert gw.log.records[1].features["prompt"] == "hello"
    counts = [c for c in control.counts if c.endpoint == "llm"]
    assert sum(c.requests for c in counts) == 3
    assert sum(c.tokens_in for c in counts) == 5 + 5 + 4
    assert sum(c.tokens_out for c in counts) == 3 + 3


def test_a_stream_reaches_the_caller_in_chunks_before_the_upstream_finishes(
    control, serve, gateway
):
    upstream = _llm(control, serve)
    gw = gateway()
    stream = _client(gw).chat.completions.create(model="llm", messages=MESSAGES, stream=True)
    chunks = iter(stream)
    first = next(chunks)
    assert first.choices[0].delta.content == "hel"
    # The upstream holds the rest until the gate opens: the first chunk was not buffered.
    assert not upstream.finished.is_set()
    upstream.gate.set()
    rest = list(chunks)
    assert "".join(c.choices[0].delta.content or "" for c in rest) == "lo"
    assert upstream.finished.is_set()
    gw.stop()
    (record,) = gw.log.records
    assert record.prediction == {
        "usage": {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    }
    assert sum(c.tokens_out for c in control.counts) == 3


def test_errors_come_in_openai_shape_as_the_client_expects(control, serve, gateway):
    _llm(control, serve)
    gw = gateway()
    with pytest.raises(openai.AuthenticationError) as unknown:
        _client(gw, key="wrong").chat.completions.create(model="llm", messages=MESSAGES)
    assert unknown.value.code == "invalid_api_key"
    with pytest.raises(openai.PermissionDeniedError) as denied:
        _client(gw, key=BOB).chat.completions.create(model="llm", messages=MESSAGES)
    assert "bob may not invoke endpoint llm" in denied.value.message
    with pytest.raises(openai.NotFoundError) as missing:
        _client(gw).chat.completions.create(model="fraud", messages=MESSAGES)  # an OIP endpoint
    assert missing.value.code == "model_not_found"
    no_model = httpx.post(
        f"{gw.url}/v1/chat/completions", json={"messages": MESSAGES}, headers={"x-api-key": ALICE}
    )
    assert no_model.status_code == 400
    assert no_model.json()["error"]["type"] == "invalid_request_error"
    assert "body.model" in no_model.json()["error"]["message"]


def test_the_daily_token_quota_refuses_once_the_answers_went_over(control, serve, gateway):
    _llm(control, serve, limits=KeyLimits(tokens_per_day=10))
    gw = gateway()
    client = _client(gw)
    client.chat.completions.create(model="llm", messages=MESSAGES)  # 8 tokens
    client.chat.completions.create(model="llm", messages=MESSAGES)  # 16: the answer is given
    with pytest.raises(openai.RateLimitError) as refused:
        client.chat.completions.create(model="llm", messages=MESSAGES)
    assert "daily quota of 10 tokens" in refused.value.message
    assert int(refused.value.response.headers["retry-after"]) >= 1


def test_a_caller_that_leaves_mid_stream_is_still_booked_and_logged(control, serve, gateway):
    upstream = _llm(control, serve)
    gw = gateway()
    body = {"model": "llm", "messages": MESSAGES, "stream": True}
    with httpx.stream(
        "POST", f"{gw.url}/v1/chat/completions", json=body, headers={"x-api-key": ALICE}
    ) as answer:
        assert answer.status_code == 200
        first = next(answer.iter_raw())
        assert b"hel" in first
    # Gone before the end: the gateway must neither hang on it nor lose its bookkeeping.
    upstream.gate.set()
    for _ in range(500):  # bounded: 5 s
        if (
            gw.sample("aiplane_gateway_requests_total", endpoint="llm", site="edge", code="200")
            == 1
        ):
            break
        threading.Event().wait(0.01)
    assert gw.sample("aiplane_gateway_in_flight", endpoint="llm", site="edge") == 0
    gw.stop()
    assert len(gw.log.records) == 1
    assert sum(c.requests for c in control.counts) == 1
