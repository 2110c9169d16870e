"""Who may invoke an endpoint: pure, from the caller and the endpoint's spec."""

from __future__ import annotations

from aiplane.core.auth import Caller
from aiplane.core.serving.endpoints import EndpointSpec


def invoke_denial(caller: Caller, spec: EndpointSpec) -> str | None:
    """Why ``caller`` may not invoke the endpoint, or None when they may: members of the
    endpoint's team (any role), of a team its ``access`` names, a principal or token it names,
    and admins may. A workload's token (scoped to its own job) may invoke only when its
    principal could."""
    if caller.principal.disabled:
        return f"principal {caller.name} is disabled"
    if caller.principal.is_admin:
        return None
    teams = caller.teams()
    if spec.team in teams or any(team in teams for team in spec.access.teams):
        return None
    if caller.name in spec.access.principals:
        return None
    if caller.token_id is not None and caller.token_id in spec.access.tokens:
        return None
    allowed = [f"team {t}" for t in (spec.team, *spec.access.teams)]
    allowed += [f"principal {p}" for p in spec.access.principals]
    if spec.access.tokens:
        allowed.append(f"{len(spec.access.tokens)} named token(s)")
    return f"{caller.name} may not invoke endpoint {spec.name} (allowed: {', '.join(allowed)})"
