"""Where the text is in each protocol's bodies, for the guards: a request's own text (user
messages, a completion's prompt, an OIP request's BYTES inputs), what came with it (tool and
function messages, documents, embedding inputs) and the rest (system and assistant messages);
an answer's texts. Each is a ``Slot``, which the guards read and, redacting, write back.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

from aiplane.core.serving.endpoints import Protocol

# What a request is, by path: what carries text in it and in its answer differs.
CHAT, COMPLETION, EMBEDDING, OIP = "chat", "completion", "embedding", "oip"
_TOOL_ROLES = frozenset({"tool", "function"})
_DOCUMENT_FIELDS = ("text", "content", "data")


@dataclass
class Slot:
    """A string inside a parsed JSON body, to read and to replace in place."""

    holder: Any  # the dict or list that holds it
    key: Any  # its key or index there

    @property
    def value(self) -> str:
        text: str = self.holder[self.key]
        return text

    def set(self, text: str) -> None:
        self.holder[self.key] = text


@dataclass
class RequestTexts:
    direct: list[Slot] = field(default_factory=list)  # the caller's own text
    context: list[Slot] = field(default_factory=list)  # documents and tool outputs it carries
    other: list[Slot] = field(default_factory=list)  # system and assistant turns: PII only
    messages: list[Any] | None = None  # a chat's messages: where the canary is planted

    def all(self) -> list[Slot]:
        return [*self.direct, *self.context, *self.other]


def kind_of(protocol: Protocol, path: str) -> str:
    if protocol is Protocol.OIP:
        return OIP
    if path.endswith("/chat/completions"):
        return CHAT
    return EMBEDDING if path.endswith("/embeddings") else COMPLETION


def _strings(holder: Any, key: Any) -> Iterator[Slot]:
    """The slots of ``holder[key]``: itself if a string, its strings if a (nested) list."""
    value = holder[key]
    if isinstance(value, str):
        yield Slot(holder, key)
    elif isinstance(value, list):
        for i in range(len(value)):
            yield from _strings(value, i)


def _content(message: dict[str, Any]) -> list[Slot]:
    """A chat message's text: its content string, or the text of its content parts."""
    content = message.get("content")
    if isinstance(content, str):
        return [Slot(message, "content")]
    if isinstance(content, list):
        return [
            Slot(part, "text")
            for part in content
            if isinstance(part, dict) and isinstance(part.get("text"), str)
        ]
    return []


def request_texts(kind: str, parsed: Any) -> RequestTexts:
    texts = RequestTexts()
    if not isinstance(parsed, dict):
        return texts
    if kind == CHAT:
        _chat_texts(parsed, texts)
    elif kind == COMPLETION and "prompt" in parsed:
        texts.direct += _strings(parsed, "prompt")
    elif kind == EMBEDDING and "input" in parsed:
        # What is embedded is a document to be retrieved later: an injection in it is an
        # indirect one, judged as the context of a request.
        texts.context += _strings(parsed, "input")
    elif kind == OIP:
        texts.direct += _tensor_strings(parsed.get("inputs"))
    return texts


def _chat_texts(parsed: dict[str, Any], texts: RequestTexts) -> None:
    """A chat's turns by who wrote them, and the documents it carries (as context)."""
    messages = parsed.get("messages")
    if isinstance(messages, list):
        texts.messages = messages
        for message in messages:
            if not isinstance(message, dict):
                continue
            role = message.get("role")
            slots = _content(message)
            if role == "user":
                texts.direct += slots
            elif role in _TOOL_ROLES:
                texts.context += slots
            else:
                texts.other += slots
    documents = parsed.get("documents")
    for i, document in enumerate(documents if isinstance(documents, list) else ()):
        if isinstance(document, str):
            texts.context.append(Slot(documents, i))
        elif isinstance(document, dict):
            texts.context += [
                Slot(document, f) for f in _DOCUMENT_FIELDS if isinstance(document.get(f), str)
            ]


def _tensor_strings(tensors: Any) -> list[Slot]:
    """The string data of an OIP request's or answer's BYTES tensors."""
    slots: list[Slot] = []
    if isinstance(tensors, list):
        for tensor in tensors:
            if isinstance(tensor, dict) and tensor.get("datatype") == "BYTES" and "data" in tensor:
                slots += _strings(tensor, "data")
    return slots


def answer_texts(kind: str, parsed: Any) -> list[Slot]:
    """What carries text in an answer: the choices' content (and a chat's tool-call
    arguments), a completion's text, the BYTES outputs of an OIP answer."""
    if not isinstance(parsed, dict):
        return []
    if kind == OIP:
        return _tensor_strings(parsed.get("outputs"))
    slots: list[Slot] = []
    choices = parsed.get("choices")
    if not isinstance(choices, list):
        return slots
    for choice in choices:
        if not isinstance(choice, dict):
            continue
        if kind == COMPLETION and isinstance(choice.get("text"), str):
            slots.append(Slot(choice, "text"))
        message = choice.get("message")
        if kind == CHAT and isinstance(message, dict):
            slots += _content(message)
            calls = message.get("tool_calls")
            for call in calls if isinstance(calls, list) else ():
                function = call.get("function") if isinstance(call, dict) else None
                if isinstance(function, dict) and isinstance(function.get("arguments"), str):
                    slots.append(Slot(function, "arguments"))
    return slots
