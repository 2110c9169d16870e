"""Which teams' records a read may return: the caller's teams, narrowed by a team the request
names, through the one policy function.

A listing is filtered, not refused: a principal in no team reads an empty list. A team the
request names explicitly is checked like a named thing (``Resource("team", team=...)``): one
the caller is not in is answered as not found, so its existence is not disclosed. A
workload's own token reads its job only, so every listing is refused to it (forbidden).
"""

from __future__ import annotations

from aiplane.core.auth import Action, Caller, Resource
from aiplane.services.access import Access


def readable_teams(
    access: Access, caller: Caller, action: Action, team: str | None = None
) -> frozenset[str] | None:
    """The teams ``caller`` may read with ``action`` (None: every team), narrowed to ``team``
    when given; raises (and audits) a refusal."""
    if caller.scope is not None:
        # Refused: a workload's token acts on its own job, never on listings.
        access.check(caller, action, Resource("team", team=team or caller.scope.team))
    if team is not None:
        access.check(caller, action, Resource("team", team=team))
        return frozenset({team})
    return access.visible_teams(caller)
