"""Traffic between two versions: which role a request goes to, and whether it is copied.

``u`` is a uniform draw in [0, 1) the caller makes (per request, or from a hash of a sticky
key), so the split itself is a pure function.
"""

from __future__ import annotations

from aiplane.core.serving.endpoints import Role, Traffic


def split(traffic: Traffic, u: float) -> Role:
    """CANARY for a ``canary_weight`` share of draws, when there is a canary; else PRIMARY."""
    if traffic.canary is not None and u < traffic.canary_weight:
        return Role.CANARY
    return Role.PRIMARY


def shadowed(traffic: Traffic, u: float) -> bool:
    """Whether a copy of the request goes to the shadow version (a ``shadow_weight`` share)."""
    return traffic.shadow is not None and u < traffic.shadow_weight
