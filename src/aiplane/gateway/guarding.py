"""The guards on the gateway's data path: per endpoint (``spec.guards``), on what a request
carries before the upstream sees it, and on the upstream's answer before the caller sees it.

Request: prompt injection on a caller's own text (``detect_injection``'s ``text``: user
messages, a completion's prompt, an OIP request's BYTES inputs) and on what came with it (its
``context``: tool and function messages, documents, embedding inputs); PII in all of those and
in system and assistant messages; a new canary planted in the chat's system prompt. Answer: the
canary seen (the prompt leaked), PII the model produced, the caller's own PII put back.

Blocked: a 403 in the protocol's error shape with the guard's reason; redacted: the body
re-encoded with placeholders (the originals sealed with the process's key, a nonce per
request); flagged: passed on, named in ``x-aiplane-guard``. Every hit is a metric and an audit
entry (``GuardAudit``); the inference log gets the redacted texts, and a blocked request or
answer no text at all.

Streams (server-sent events) get the request guards; when the answer's guards have work (a
canary, originals to restore, ``output_pii``) the stream is gathered whole, checked and
rebuilt (``gathered_stream``), else relayed as it arrives with its placeholders (decision
0068).
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiplane.core.auth import Caller
from aiplane.core.guards import (
    GuardAction,
    GuardName,
    GuardResult,
    Span,
    canary_leak,
    detect_injection,
    find_pii,
    new_canary,
    plant_canary,
    redact,
    restore,
)
from aiplane.core.guards.policy import GuardPolicy
from aiplane.core.serving.endpoints import EndpointSpec, Role
from aiplane.core.serving.guard_hits import GuardHit, GuardStage
from aiplane.core.serving.inference import InferenceRecord
from aiplane.gateway.gathered_stream import gather
from aiplane.gateway.guard_audit import GuardAudit
from aiplane.gateway.guard_texts import (
    CHAT,
    COMPLETION,
    OIP,
    RequestTexts,
    Slot,
    answer_texts,
    kind_of,
    request_texts,
)
from aiplane.gateway.metrics import GatewayMetrics

logger = logging.getLogger(__name__)

KEY_BYTES = 32  # the process's sealing key: drawn once, never leaves the process
NONCE_BYTES = 12  # per redacted request
CANARY_BYTES = 16  # per chat request with the canary on
GUARD_HEADER = "x-aiplane-guard"


def encode(parsed: Any) -> bytes:
    return json.dumps(parsed, separators=(",", ":")).encode()


def _kinds(spans: Sequence[Span]) -> tuple[str, ...]:
    return tuple(sorted({s.kind for s in spans}))


def _found(spans: Sequence[Span]) -> GuardResult:
    """A PII verdict from spans found slot by slot, with the library's kind of reason."""
    return GuardResult(GuardName.PII, True, 1.0, (), f"found {', '.join(_kinds(spans))}")


@dataclass(frozen=True)
class Sealing:
    """A redacted request's originals, for the answer: sealed for ``restore``, and their values
    (in memory for the request's life only) so that the caller's own PII put back is not
    taken for PII the model produced."""

    sealed: str
    originals: frozenset[str]


def redact_slots(
    found: Sequence[tuple[Slot, Sequence[Span]]], key: bytes | None, nonce: bytes | None
) -> str | None:
    """Replace the spans in their slots with placeholders, numbered across all the slots (the
    same value, the same placeholder) by one ``redact`` over the slots joined, so that one
    sealed set of originals restores them all. The sealed originals, or None."""
    pieces = [slot.value for slot, _ in found]
    sep = "\x1e"
    while any(sep in p for p in pieces):
        sep += "\x1e"
    spans: list[Span] = []
    offset = 0
    for piece, (_, piece_spans) in zip(pieces, found, strict=True):
        spans += [Span(s.start + offset, s.end + offset, s.kind, s.score) for s in piece_spans]
        offset += len(piece) + len(sep)
    redacted = redact(sep.join(pieces), spans, key, nonce)
    parts = redacted.text.split(sep)
    if len(parts) == len(pieces):
        for (slot, _), part in zip(found, parts, strict=True):
            slot.set(part)
        return redacted.sealed
    # A placeholder that swallowed a separator (it never should): each slot on its own,
    # still redacted, no longer restorable as one.
    for slot, piece_spans in found:
        slot.set(redact(slot.value, piece_spans).text)
    return None


class Redacting:
    """Redacted, with nothing to restore (``restore_pii: false``, or no sealed originals)."""


NOT_RESTORED = Redacting()
_Record = Callable[[GuardName, GuardAction, Sequence[Span]], None]


@dataclass
class Checked:
    """A request past the request guards: refused (``refusal``), or with its body as judged,
    re-encoded (redacted, a canary planted) and the answer's guard."""

    request_id: str
    refusal: str | None = None
    status: int = 403  # of a refusal: 403, or 400 for a body the guards cannot read
    reason: str = ""  # the error metric's reason of a refusal
    body: bytes | None = None
    answer: AnswerGuard | None = None
    headers: dict[str, str] = field(default_factory=dict)

    def onto(self, admitted: Any) -> None:
        """Onto the request to forward (a ``proxy.Admitted``): its id, the body the upstream
        is to get, and the answer's guard."""
        admitted.request_id = self.request_id
        admitted.guard = self.answer
        if self.body is not None:
            admitted.body = self.body


@dataclass
class Answered:
    content: bytes
    logged: Any  # what the inference log gets of the answer
    refusal: str | None = None
    headers: dict[str, str] = field(default_factory=dict)


class Guarding:
    """The request and answer guards of one gateway process, with its sealing key."""

    def __init__(
        self,
        metrics: GatewayMetrics,
        audit: GuardAudit,
        entropy: Callable[[int], bytes] = os.urandom,
    ) -> None:
        self._metrics = metrics
        self._audit = audit
        self._entropy = entropy
        self._key = entropy(KEY_BYTES)

    def hit(
        self,
        spec: EndpointSpec,
        caller: Caller,
        request_id: str,
        at: float,
        stage: GuardStage,
        guard: GuardName,
        action: GuardAction,
        spans: Sequence[Span],
    ) -> None:
        self._metrics.guard_hits.labels(str(guard), str(action), spec.name).inc()
        self._audit.put(
            GuardHit(
                caller=caller,
                endpoint=spec.name,
                team=spec.team,
                guard=guard,
                action=action,
                stage=stage,
                kinds=_kinds(spans) or (str(guard),),
                count=max(1, len(spans)),
                request_id=request_id,
                at=at,
            )
        )

    def check(
        self,
        spec: EndpointSpec,
        caller: Caller,
        at: float,
        path: str,
        parsed: Any,
    ) -> Checked:
        """The request guards on ``parsed`` (changed in place when redacted or planted)."""
        policy = spec.guards
        kind = kind_of(spec.protocol, path)
        checked = Checked(request_id=self._entropy(16).hex())
        flags: list[str] = []

        def record(guard: GuardName, action: GuardAction, spans: Sequence[Span]) -> None:
            self.hit(spec, caller, checked.request_id, at, GuardStage.REQUEST, guard, action, spans)
            if action is not GuardAction.BLOCK:
                flags.append(f"{guard}={action}")

        if not isinstance(parsed, dict):
            # Not JSON (or not an object): nothing the guards could read, so not passed on.
            checked.status, checked.reason = 400, "guard_unreadable"
            checked.refusal = "the endpoint's guards read the body: it must be a JSON object"
            return checked
        texts = request_texts(kind, parsed)
        # The injection guard first: a request it blocks is not looked at for PII.
        outcome = self._injection(policy, texts, record) or self._pii(policy, texts, record)
        if isinstance(outcome, GuardResult):
            return self._refused(checked, outcome)
        sealing = outcome if isinstance(outcome, Sealing) else None
        canary = None
        if policy.canary is not None and texts.messages is not None:
            canary = new_canary(self._entropy(CANARY_BYTES))
            _plant(texts.messages, canary)
        # Re-encoded even when nothing changed: the upstream gets exactly what was judged,
        # not bytes another JSON reader might read otherwise (a key given twice, say).
        checked.body = encode(parsed)
        if flags:
            checked.headers[GUARD_HEADER] = ", ".join(flags)
        if flags or sealing is not None or canary is not None or policy.output_pii is not None:
            checked.answer = AnswerGuard(
                self, spec, caller, checked.request_id, at, kind, canary, sealing, flags
            )
        return checked

    def _injection(
        self, policy: GuardPolicy, texts: RequestTexts, record: _Record
    ) -> GuardResult | None:
        """The injection guard: its verdict when it blocks, else None."""
        if policy.injection is None or not (texts.direct or texts.context):
            return None
        direct = "\n".join(s.value for s in texts.direct)
        context = "\n".join(s.value for s in texts.context)
        result = detect_injection(direct, context or None)
        if not result.hit:
            return None
        record(GuardName.INJECTION, policy.injection, result.spans)
        return result if policy.injection is GuardAction.BLOCK else None

    def _pii(
        self, policy: GuardPolicy, texts: RequestTexts, record: _Record
    ) -> GuardResult | Sealing | Redacting | None:
        """The PII guard: its verdict when it blocks; what restores the originals when it
        redacted them (``NOT_RESTORED`` when nothing will); None when it found nothing or
        only flagged it."""
        if policy.pii is None:
            return None
        found = [
            (slot, got) for slot in texts.all() if (got := find_pii(slot.value, policy.pii_wanted))
        ]
        if not found:
            return None
        spans = [s for _, piece in found for s in piece]
        record(GuardName.PII, policy.pii, spans)
        if policy.pii is GuardAction.BLOCK:
            return _found(spans)
        if policy.pii is not GuardAction.REDACT:
            return None
        originals = frozenset(slot.value[s.start : s.end] for slot, piece in found for s in piece)
        sealed = redact_slots(found, self._key, self._entropy(NONCE_BYTES))
        if sealed is None or not policy.restore_pii:
            return NOT_RESTORED
        return Sealing(sealed, originals)

    def _refused(self, checked: Checked, result: GuardResult) -> Checked:
        checked.refusal = f"refused by the {result.guard} guard: {result.reason}"
        checked.reason = f"guard_{result.guard}"
        checked.headers[GUARD_HEADER] = f"{result.guard}=block"
        return checked

    def unseal(self, text: str, sealed: str) -> str:
        """``text`` with the originals put back; as it is (placeholders kept: the safe side)
        when the sealed originals do not open with this process's key."""
        try:
            return restore(text, sealed, self._key)
        except ValueError:
            logger.warning("gateway: sealed originals did not open; the answer stays redacted")
            return text


def _plant(messages: list[Any], canary: str) -> None:
    """The canary in the first system (or developer) message; in a system message of its own
    at the front when the chat has none."""
    for message in messages:
        if isinstance(message, dict) and message.get("role") in ("system", "developer"):
            content = message.get("content")
            if isinstance(content, str):
                message["content"] = plant_canary(content, canary)
                return
            if isinstance(content, list):
                for part in content:
                    if isinstance(part, dict) and isinstance(part.get("text"), str):
                        part["text"] = plant_canary(part["text"], canary)
                        return
                content.append({"type": "text", "text": plant_canary("", canary)})
                return
    messages.insert(0, {"role": "system", "content": plant_canary("", canary)})


@dataclass
class AnswerGuard:
    """What the answer's guards need of the request: its canary, its sealed originals."""

    guarding: Guarding
    spec: EndpointSpec
    caller: Caller
    request_id: str
    at: float
    kind: str
    canary: str | None
    sealing: Sealing | None
    flags: list[str]

    @property
    def headers(self) -> dict[str, str]:
        return {GUARD_HEADER: ", ".join(self.flags)} if self.flags else {}

    def _record(self, guard: GuardName, action: GuardAction, spans: Sequence[Span]) -> None:
        self.guarding.hit(
            self.spec,
            self.caller,
            self.request_id,
            self.at,
            GuardStage.RESPONSE,
            guard,
            action,
            spans,
        )
        self.flags.append(f"{guard}={action}")

    @property
    def gathers(self) -> bool:
        """Whether the answer's guards have work: a stream is then gathered whole first."""
        return (
            self.canary is not None
            or self.sealing is not None
            or self.spec.guards.output_pii is not None
        )

    def check(self, content: bytes, parsed: Any, stream: bool) -> Answered:
        """The answer's guards on a JSON answer, or on an event stream gathered whole."""
        if not stream or self.kind not in (CHAT, COMPLETION):
            return self.answer(content, parsed)
        gathered = gather(content, self.kind == CHAT)
        answer = gathered.answer()
        answered = self.answer(content, answer)  # ``answer`` is now what the log gets
        if answered.refusal is None and answered.content is not content:
            answered.content = gathered.rebuild(json.loads(answered.content))
        return answered

    def answer(self, content: bytes, parsed: Any) -> Answered:
        """The answer's guards on the upstream's ``content`` (``parsed`` is its JSON, changed
        in place to what the log gets)."""
        policy: GuardPolicy = self.spec.guards
        if self.canary is None and self.sealing is None and policy.output_pii is None:
            return Answered(content, parsed, headers=self.headers)  # the request's flags only
        slots = answer_texts(self.kind, parsed)
        leak = self._leak(content, slots)
        if leak is not None:
            return self._withheld(content, parsed, leak)
        if not slots:
            return Answered(content, parsed, headers=self.headers)
        upstream = [s.value for s in slots]
        given = upstream
        if self.sealing is not None:
            given = [self.guarding.unseal(v, self.sealing.sealed) for v in upstream]
        guarded = self._output(given, upstream)
        if isinstance(guarded, GuardResult):
            return self._withheld(content, parsed, guarded)
        given, logged = guarded
        if given != upstream:
            for slot, value in zip(slots, given, strict=True):
                slot.set(value)
            content = encode(parsed)
        for slot, value in zip(slots, logged, strict=True):
            slot.set(value)
        return Answered(content, parsed, headers=self.headers)

    def for_log(self, content: bytes, parsed: Any) -> Any:
        """What the log gets of an answer no caller sees (a shadow's): nothing of it when it
        leaked the canary, the PII the model produced redacted when ``output_pii`` is on.
        Not a hit: nothing was blocked, redacted or flagged for anyone."""
        slots = answer_texts(self.kind, parsed)
        if self.canary is not None and canary_leak(_answer_text(content, slots), self.canary).hit:
            return {}
        if self.spec.guards.output_pii is not None:
            for slot in slots:
                slot.set(redact(slot.value, find_pii(slot.value, self.spec.guards.pii_wanted)).text)
        return parsed

    def _leak(self, content: bytes, slots: Sequence[Slot]) -> GuardResult | None:
        """The canary guard: its verdict when it blocks the answer, else None. It reads the
        answer's texts, or the whole body when the answer has none where they are expected."""
        action = self.spec.guards.canary
        if self.canary is None or action is None:
            return None
        leak = canary_leak(_answer_text(content, slots), self.canary)
        if not leak.hit:
            return None
        self._record(GuardName.CANARY, action, leak.spans)
        return leak if action is GuardAction.BLOCK else None

    def _output(
        self, given: list[str], upstream: list[str]
    ) -> GuardResult | tuple[list[str], list[str]]:
        """The output PII guard on the texts the caller is to get: its verdict when it
        blocks; else those texts and the log's, redacted when it redacts."""
        action = self.spec.guards.output_pii
        if action is None:
            return given, upstream
        found = self._output_pii(given)
        spans = [s for piece in found for s in piece]
        if not spans:
            return given, upstream
        self._record(GuardName.PII, action, spans)
        if action is GuardAction.BLOCK:
            return _found(spans)
        if action is not GuardAction.REDACT:
            return given, upstream
        redacted = [
            redact(v, piece).text if piece else v for v, piece in zip(given, found, strict=True)
        ]
        # The log: the upstream's text (placeholders where the caller's PII was), with the
        # PII the model produced redacted too.
        types = self.spec.guards.pii_wanted
        return redacted, [redact(v, find_pii(v, types)).text for v in upstream]

    def _output_pii(self, texts: Sequence[str]) -> list[tuple[Span, ...]]:
        """Per text, the PII the model produced: the caller's own, put back, is not."""
        types = self.spec.guards.pii_wanted
        originals = self.sealing.originals if self.sealing is not None else frozenset()
        return [
            tuple(s for s in find_pii(text, types) if text[s.start : s.end] not in originals)
            for text in texts
        ]

    def _withheld(self, content: bytes, parsed: Any, result: GuardResult) -> Answered:
        usage = parsed.get("usage") if isinstance(parsed, dict) else None
        logged = {"usage": usage} if usage is not None and self.kind != OIP else {}
        return Answered(
            content,
            logged,
            refusal=f"the answer was withheld by the {result.guard} guard: {result.reason}",
            headers=self.headers,
        )


def _answer_text(content: bytes, slots: Sequence[Slot]) -> str:
    """What the canary is looked for in: the answer's texts, or the whole body when the answer
    has none where they are expected."""
    return "\n".join(s.value for s in slots) if slots else content.decode("utf-8", "replace")


def blocked_record(
    spec: EndpointSpec,
    caller: Caller,
    request_id: str,
    at: float,
    latency_ms: float,
    status: int = 403,
) -> InferenceRecord:
    """The inference log's entry of a request a guard refused: who and when, no text."""
    return InferenceRecord(
        request_id=request_id,
        endpoint=spec.name,
        version="",
        role=Role.PRIMARY,
        site="",
        at=at,
        latency_ms=latency_ms,
        status=status,
        principal=caller.name,
    )
