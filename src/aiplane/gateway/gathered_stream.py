"""An OpenAI event stream gathered whole, for the answer guards (decision 0068): the text of
each choice joined from its deltas into one answer the guards read as a non-streamed one,
and the stream rebuilt from the guarded answer: its text in one event at the front, then the
upstream's events without their text (finish reasons, tool calls, usage), then ``[DONE]``."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

DONE = "[DONE]"


@dataclass
class Gathered:
    chat: bool  # chat deltas (``delta.content``), else a completion's (``text``)
    events: list[Any] = field(default_factory=list)  # parsed events, DONE, or a raw line
    texts: dict[int, str] = field(default_factory=dict)  # per choice index, in order seen
    usage: Any = None

    def answer(self) -> dict[str, Any]:
        """The stream as one answer, in the shape of a non-streamed one."""
        if self.chat:
            choices: list[dict[str, Any]] = [
                {"index": i, "message": {"role": "assistant", "content": t}}
                for i, t in self.texts.items()
            ]
        else:
            choices = [{"index": i, "text": t} for i, t in self.texts.items()]
        out: dict[str, Any] = {"choices": choices}
        if self.usage is not None:
            out["usage"] = self.usage
        return out

    def rebuild(self, answer: dict[str, Any]) -> bytes:
        """The stream again, with the text of ``answer`` (the guarded ``answer()``)."""
        texts = {
            c["index"]: (c["message"]["content"] if self.chat else c["text"])
            for c in answer["choices"]
        }
        envelope = next((e for e in self.events if isinstance(e, dict)), {})
        first = {k: v for k, v in envelope.items() if k not in ("choices", "usage")}
        if self.chat:
            first["choices"] = [
                {"index": i, "delta": {"role": "assistant", "content": t}, "finish_reason": None}
                for i, t in texts.items()
            ]
        else:
            first["choices"] = [
                {"index": i, "text": t, "finish_reason": None} for i, t in texts.items()
            ]
        lines = [_event(first)]
        for event in self.events:
            if isinstance(event, dict):
                lines.append(_event(event))
            elif event == DONE:
                lines.append(f"data: {DONE}\n\n".encode())
            else:
                lines.append(event)
        return b"".join(lines)


def _event(event: dict[str, Any]) -> bytes:
    return f"data: {json.dumps(event, separators=(',', ':'))}\n\n".encode()


def gather(content: bytes, chat: bool) -> Gathered:
    """The events of ``content`` with each choice's text taken out of them into ``texts``."""
    gathered = Gathered(chat)
    for raw in content.split(b"\n"):
        line = raw.strip()
        if not line.startswith(b"data:"):
            if line and not line.startswith(b":"):  # a field other than data: kept as it was
                gathered.events.append(raw + b"\n\n")
            continue
        data = line[5:].strip()
        if data == DONE.encode():
            gathered.events.append(DONE)
            continue
        try:
            event = json.loads(data)
        except ValueError:
            gathered.events.append(raw + b"\n\n")
            continue
        if isinstance(event, dict):
            _take_text(gathered, event)
            if isinstance(event.get("usage"), dict):
                gathered.usage = event["usage"]
        gathered.events.append(event)
    return gathered


def _take_text(gathered: Gathered, event: dict[str, Any]) -> None:
    choices = event.get("choices")
    if not isinstance(choices, list):
        return
    for choice in choices:
        if not isinstance(choice, dict) or not isinstance(choice.get("index", 0), int):
            continue
        index = choice.get("index", 0)
        holder = choice.get("delta") if gathered.chat else choice
        key = "content" if gathered.chat else "text"
        if isinstance(holder, dict) and isinstance(holder.get(key), str):
            gathered.texts[index] = gathered.texts.get(index, "") + holder[key]
            if gathered.chat:
                del holder[key]
            else:
                holder[key] = ""
