"""The guards' parts on their own: what of a request is judged as what, redaction across a
request's strings, the canary's place, and an event stream gathered and rebuilt."""

from __future__ import annotations

import json
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from aiplane.core.guards import Span, plant_canary
from aiplane.core.serving.endpoints import Protocol
from aiplane.gateway import guarding
from aiplane.gateway.gathered_stream import gather
from aiplane.gateway.guard_audit import GuardAudit
from aiplane.gateway.guard_texts import (
    CHAT,
    COMPLETION,
    EMBEDDING,
    OIP,
    answer_texts,
    kind_of,
    request_texts,
)
from aiplane.gateway.guarding import _plant, redact_slots
from aiplane.gateway.metrics import GatewayMetrics


def test_the_kind_of_request_by_protocol_and_path() -> None:
    assert kind_of(Protocol.OIP, "/v2/models/m/infer") == OIP
    assert kind_of(Protocol.OPENAI, "/v1/chat/completions") == CHAT
    assert kind_of(Protocol.OPENAI, "/v1/completions") == COMPLETION
    assert kind_of(Protocol.OPENAI, "/v1/embeddings") == EMBEDDING


def test_a_chats_turns_are_judged_by_who_wrote_them() -> None:
    body: dict[str, Any] = {
        "messages": [
            {"role": "system", "content": "sys"},
            {"role": "user", "content": [{"type": "text", "text": "u1"}, {"type": "image_url"}]},
            {"role": "assistant", "content": "a1"},
            {"role": "tool", "content": "t1"},
            {"role": "function", "content": "f1"},
            {"role": "user", "content": "u2"},
        ],
        "documents": ["d1", {"text": "d2"}, 7],
    }
    texts = request_texts(CHAT, body)
    assert [s.value for s in texts.direct] == ["u1", "u2"]
    assert [s.value for s in texts.context] == ["t1", "f1", "d1", "d2"]
    assert [s.value for s in texts.other] == ["sys", "a1"]
    oip = {
        "inputs": [
            {"name": "t", "datatype": "BYTES", "data": [["a", "b"]]},
            {"name": "x", "datatype": "FP32", "data": [1]},
        ]
    }
    assert [s.value for s in request_texts(OIP, oip).direct] == ["a", "b"]
    assert [s.value for s in request_texts(EMBEDDING, {"input": ["e1", "e2"]}).context] == [
        "e1",
        "e2",
    ]
    assert request_texts(COMPLETION, {"prompt": [1, 2, 3]}).direct == []  # token ids: no text
    assert request_texts(CHAT, ["not", "a", "body"]).all() == []


def test_redaction_numbers_placeholders_across_a_requests_strings() -> None:
    body = {"a": "mail x@y.io", "b": "again x@y.io or z@y.io \x1e"}
    slots = request_texts(COMPLETION, {"prompt": [body["a"], body["b"]]}).direct
    found = [
        (slots[0], (Span(5, 11, "email"),)),
        (slots[1], (Span(6, 12, "email"), Span(16, 22, "email"))),
    ]
    redact_slots(found, None, None)
    assert [s.value for s in slots] == ["mail [EMAIL_1]", "again [EMAIL_1] or [EMAIL_2] \x1e"]


def test_the_canary_goes_into_the_system_prompt_or_a_new_one() -> None:
    messages: list[Any] = [{"role": "user", "content": "hi"}]
    _plant(messages, "CANARY")
    assert messages[0]["role"] == "system" and "CANARY" in messages[0]["content"]
    parts: list[Any] = [{"role": "developer", "content": [{"type": "text", "text": "rules"}]}]
    _plant(parts, "CANARY")
    assert parts[0]["content"][0]["text"] == plant_canary("rules", "CANARY")


def test_answer_texts_of_each_kind() -> None:
    chat = {
        "choices": [
            {"message": {"content": "c", "tool_calls": [{"function": {"arguments": "{}"}}]}}
        ]
    }
    assert [s.value for s in answer_texts(CHAT, chat)] == ["c", "{}"]
    assert [s.value for s in answer_texts(COMPLETION, {"choices": [{"text": "t"}]})] == ["t"]
    oip = {"outputs": [{"datatype": "BYTES", "data": ["o"]}]}
    assert [s.value for s in answer_texts(OIP, oip)] == ["o"]
    assert answer_texts(EMBEDDING, {"data": [{"embedding": [0.1]}]}) == []


def _sse(*events: Any) -> bytes:
    return b"".join(
        f"data: {e if isinstance(e, str) else json.dumps(e)}\n\n".encode() for e in events
    )


def test_a_stream_gathered_and_rebuilt_carries_the_guarded_text() -> None:
    def chunk(i: int, delta: dict[str, Any], finish: str | None = None) -> dict[str, Any]:
        return {
            "id": "c",
            "model": "m",
            "choices": [{"index": i, "delta": delta, "finish_reason": finish}],
        }

    stream = _sse(
        chunk(0, {"role": "assistant", "content": "he"}),
        chunk(1, {"content": "ot"}),
        chunk(0, {"content": "llo"}),
        chunk(1, {"content": "her"}),
        chunk(0, {}, "stop"),
        {"id": "c", "choices": [], "usage": {"total_tokens": 3}},
        "[DONE]",
    )
    gathered = gather(stream, chat=True)
    answer = gathered.answer()
    assert [c["message"]["content"] for c in answer["choices"]] == ["hello", "other"]
    assert answer["usage"] == {"total_tokens": 3}
    answer["choices"][0]["message"]["content"] = "HELLO"
    rebuilt = gather(gathered.rebuild(answer), chat=True)
    assert rebuilt.texts == {0: "HELLO", 1: "other"}
    assert rebuilt.events[-1] == "[DONE]" and rebuilt.usage == {"total_tokens": 3}
    finishes = [
        c["finish_reason"] for e in rebuilt.events if isinstance(e, dict) for c in e["choices"]
    ]
    assert "stop" in finishes
    completion = gather(
        _sse({"choices": [{"index": 0, "text": "a"}]}, {"choices": [{"index": 0, "text": "b"}]}),
        chat=False,
    )
    assert completion.answer()["choices"] == [{"index": 0, "text": "ab"}]


def test_originals_that_do_not_open_leave_the_answer_redacted(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    def refuses(*_args: object) -> str:
        raise ValueError("the key does not open it")

    monkeypatch.setattr(guarding, "restore", refuses)
    metrics = GatewayMetrics(CollectorRegistry())
    guards = guarding.Guarding(metrics, GuardAudit(lambda _: None, 10, metrics.guard_audit_dropped))
    assert guards.unseal("to [EMAIL_1]", "sealed") == "to [EMAIL_1]"
