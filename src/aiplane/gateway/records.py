"""What the inference log keeps of a request and its answer, per protocol: an OIP request's
inputs by name and its outputs likewise; an OpenAI request's body and the answer's usage and
choices. Bodies that are not what the protocol says are logged as empty, never refused here
(the replica judges its input)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any


def parse(body: bytes) -> Any:
    if not body:
        return None
    try:
        return json.loads(body)
    except ValueError:
        return None


def _tensors(items: object) -> dict[str, Any]:
    out: dict[str, Any] = {}
    if isinstance(items, list):
        for item in items:
            if isinstance(item, dict) and isinstance(item.get("name"), str):
                out[item["name"]] = item.get("data")
    return out


def oip_features(request: object) -> dict[str, Any]:
    return _tensors(request.get("inputs")) if isinstance(request, dict) else {}


def oip_prediction(response: object) -> dict[str, Any]:
    return _tensors(response.get("outputs")) if isinstance(response, dict) else {}


def openai_features(request: object) -> dict[str, Any]:
    return dict(request) if isinstance(request, dict) else {}


def openai_prediction(response: object) -> dict[str, Any]:
    if not isinstance(response, dict):
        return {}
    return {k: response[k] for k in ("usage", "choices") if k in response}


def usage_tokens(usage: object) -> tuple[int, int]:
    """(tokens in, tokens out) of an OpenAI ``usage`` object; zeros where it says nothing."""
    if not isinstance(usage, Mapping):
        return 0, 0
    prompt = usage.get("prompt_tokens")
    completion = usage.get("completion_tokens")
    tokens_in = prompt if isinstance(prompt, int) else 0
    tokens_out = completion if isinstance(completion, int) else 0
    total = usage.get("total_tokens")
    if not tokens_in and not tokens_out and isinstance(total, int):
        tokens_in = total
    return tokens_in, tokens_out


class StreamUsage:
    """Finds the ``usage`` of an OpenAI event stream as it passes (the last ``data:`` event
    that has one), keeping only the unfinished line between chunks."""

    MAX_LINE = 1 << 20  # a longer line is no usage event: it is skipped

    def __init__(self) -> None:
        self._partial = b""
        self._skipping = False
        self.usage: object = None

    def feed(self, chunk: bytes) -> None:
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()
        if len(self._partial) > self.MAX_LINE:
            self._partial = b""
            self._skipping = True
        for line in lines:
            if self._skipping:
                self._skipping = False
                continue
            self._line(line.strip())

    def _line(self, line: bytes) -> None:
        if not line.startswith(b"data:") or b'"usage"' not in line:
            return
        event = parse(line[5:].strip())
        if isinstance(event, dict) and isinstance(event.get("usage"), dict):
            self.usage = event["usage"]
