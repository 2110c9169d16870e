"""The audit log: its entries, and the answer of a verification."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, Field


class AuditEntryOut(BaseModel):
    seq: int = Field(description="1, 2, 3, ... without gaps")
    at: float = Field(description="epoch seconds")
    actor: str = Field(
        description="a principal's name, system (the control plane itself) or anonymous "
        "(a refusal before authentication)"
    )
    action: str = Field(description="a policy action (job.submit) or another verb")
    resource: str = Field(description="kind/id: job/j-..., team/vision, token/tok-...")
    outcome: str = Field(description="ok, denied, or an error code")
    team: str | None = None
    detail: dict[str, Any] = Field(default_factory=dict)
    prev_hash: str = Field(description="the previous entry's hash (64 zeros for the first)")
    hash: str = Field(description="SHA-256 over the entry's canonical JSON, hex")
    key_id: str = Field(description="the signing key's fingerprint")
    signature: str = Field(description="Ed25519 over the hash's bytes, hex")


class AuditHeadOut(BaseModel):
    seq: int
    hash: str

    def text(self) -> str:
        """As ``--expect`` and ``?expect=`` take it."""
        return f"{self.seq}:{self.hash}"


class VerificationOut(BaseModel):
    ok: bool
    checked: int = Field(description="entries read")
    head: AuditHeadOut | None = Field(
        None, description="the last good entry's place: record it to pass as expect later"
    )
    first_bad: int | None = Field(None, description="the sequence number of the first bad entry")
    problem: str | None = Field(None, description="what is wrong with it")
