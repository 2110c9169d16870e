"""Prompt injection, direct (the user's own prompt) and indirect (instructions hidden in a
document the prompt came with).

PLACEHOLDER (contract only): one phrase rule, so the layers above can be built and tested
before the detector lands. The signature is the contract.
"""

from __future__ import annotations

import re

from aiplane.core.guards.types import GuardName, GuardResult, Span

THRESHOLD = 0.5

_RULE = re.compile(r"ignore (all )?(the )?(previous|prior|above) instructions", re.IGNORECASE)


def detect_injection(text: str, context: str | None = None) -> GuardResult:
    """Whether ``text`` (a user's prompt) or ``context`` (a document, a retrieved passage, a
    tool's output that came with it) tries to override the instructions the model was given.
    Spans in ``text`` are of kind ``injection``; those in ``context`` of kind
    ``injection_context`` (offsets into ``context``)."""
    spans = [Span(m.start(), m.end(), "injection") for m in _RULE.finditer(text)]
    if context is not None:
        spans += [Span(m.start(), m.end(), "injection_context") for m in _RULE.finditer(context)]
    score = 1.0 if spans else 0.0
    reason = "an instruction to ignore the previous instructions" if spans else ""
    return GuardResult(GuardName.INJECTION, score >= THRESHOLD, score, tuple(spans), reason)
