"""Guards for the intelligence layer: prompt injection (direct and indirect), PII and secrets
with reversible redaction, and output guards (a canary token, PII in responses).

Pure: text in, verdicts out. The gateway, the service behind ``aiplane guard`` and the
benchmarks call these functions and nothing below them.
"""

from aiplane.core.guards.canary import canary_leak, new_canary, plant_canary
from aiplane.core.guards.injection import detect_injection
from aiplane.core.guards.pii import PII_TYPES, find_pii, pii_result
from aiplane.core.guards.redaction import Redacted, redact, restore
from aiplane.core.guards.types import GuardAction, GuardName, GuardResult, Span

__all__ = [
    "PII_TYPES",
    "GuardAction",
    "GuardName",
    "GuardResult",
    "Redacted",
    "Span",
    "canary_leak",
    "detect_injection",
    "find_pii",
    "new_canary",
    "pii_result",
    "plant_canary",
    "redact",
    "restore",
]
