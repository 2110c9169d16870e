"""Output guard for prompt leakage: a canary token planted in the system prompt; a response
that carries it (even spaced out or encoded) leaked the prompt.

PLACEHOLDER (contract only): exact match only. The signatures are the contract.
"""

from __future__ import annotations

from aiplane.core.guards.types import GuardName, GuardResult, Span


def new_canary(entropy: bytes) -> str:
    """A canary token from ``entropy`` (at least 8 random bytes the caller drew)."""
    return f"aiplane-canary-{entropy.hex()}"


def plant_canary(system_prompt: str, canary: str) -> str:
    """The system prompt with the canary planted where a leak of the prompt carries it."""
    return f"{system_prompt}\n<!-- {canary} -->"


def canary_leak(response: str, canary: str) -> GuardResult:
    at = response.find(canary)
    if at < 0:
        return GuardResult(GuardName.CANARY, False, 0.0)
    return GuardResult(
        GuardName.CANARY,
        True,
        1.0,
        (Span(at, at + len(canary), "canary"),),
        "the response carries the system prompt's canary token",
    )
