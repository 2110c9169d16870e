"""Guards for the intelligence layer: prompt injection (direct and indirect), PII and secrets
with reversible redaction, and output guards (a canary token, PII in responses).

Pure: text in, verdicts out. The gateway, the service behind ``aiplane guard`` and the
benchmarks call these functions and nothing below them.

The detectors load on first use, not with the package: every endpoint spec imports the guard
policy (and so this package), and the CLI's client commands must not pay for numpy, the
injection model or ``cryptography`` to read one.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

from aiplane.core.guards.types import GuardAction, GuardName, GuardResult, Span

if TYPE_CHECKING:
    from aiplane.core.guards.canary import canary_leak, new_canary, plant_canary
    from aiplane.core.guards.injection import detect_injection
    from aiplane.core.guards.pii import PII_TYPES, find_pii, pii_result
    from aiplane.core.guards.redaction import Redacted, redact, restore

# Each name to the module that holds it.
_LAZY = {
    "canary_leak": "canary",
    "new_canary": "canary",
    "plant_canary": "canary",
    "detect_injection": "injection",
    "PII_TYPES": "pii",
    "find_pii": "pii",
    "pii_result": "pii",
    "Redacted": "redaction",
    "redact": "redaction",
    "restore": "redaction",
}


def __getattr__(name: str) -> object:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{module}"), name)
    globals()[name] = value  # the next lookup is a plain one
    return value


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
