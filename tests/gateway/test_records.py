from __future__ import annotations

import json

from aiplane.gateway.records import (
    StreamUsage,
    oip_features,
    oip_prediction,
    openai_prediction,
    parse,
    usage_tokens,
)


def test_oip_tensors_by_name_and_bodies_that_are_not_oip():
    request = {"inputs": [{"name": "x", "data": [1, 2]}, {"name": "z", "data": [3]}, {"data": [9]}]}
    assert oip_features(request) == {"x": [1, 2], "z": [3]}
    assert oip_prediction({"outputs": [{"name": "y", "data": [0.5]}]}) == {"y": [0.5]}
    assert oip_features(None) == {} and oip_features({"inputs": "no"}) == {}
    assert parse(b"not json") is None and parse(b"") is None


def test_openai_usage_and_choices():
    answer = {
        "id": "x",
        "choices": [{"text": "a"}],
        "usage": {"prompt_tokens": 2, "completion_tokens": 1},
    }
    assert openai_prediction(answer) == {"choices": [{"text": "a"}], "usage": answer["usage"]}
    assert usage_tokens(answer["usage"]) == (2, 1)
    assert usage_tokens({"total_tokens": 4}) == (4, 0)
    assert usage_tokens(None) == (0, 0)


def test_stream_usage_across_chunk_boundaries():
    usage = {"prompt_tokens": 5, "completion_tokens": 3, "total_tokens": 8}
    events = b"data: " + json.dumps({"choices": []}).encode() + b"\n\n"
    events += (
        b"data: " + json.dumps({"choices": [], "usage": usage}).encode() + b"\n\ndata: [DONE]\n\n"
    )
    watch = StreamUsage()
    for i in range(0, len(events), 7):
        watch.feed(events[i : i + 7])
    assert watch.usage == usage
