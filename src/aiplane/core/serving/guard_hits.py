"""What the gateway tells the control plane of each guard hit, for the audit log: who, which
endpoint, which guard did what, the kinds it found and how many. Never the text it matched:
an audit entry must not become the place where the redacted PII ends up."""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from aiplane.core.auth import Caller
from aiplane.core.guards.types import GuardAction, GuardName


class GuardStage(StrEnum):
    REQUEST = "request"  # on what the caller sent, before the upstream saw it
    RESPONSE = "response"  # on the upstream's answer, before the caller saw it


@dataclass(frozen=True)
class GuardHit:
    caller: Caller
    endpoint: str
    team: str
    guard: GuardName
    action: GuardAction  # what the gateway did: blocked, redacted or flagged
    stage: GuardStage
    kinds: tuple[str, ...]  # what was found: email, card, injection, canary, ...
    count: int  # how many spans of those kinds
    request_id: str
    at: float  # epoch seconds: the request's arrival
