"""Alias moves under policy: approvals, governed promotion, and the production history.

``promote`` is the only way an alias moves. Every move of one call is checked first, with
every rule that fails named; then all move in one unit of work, each by compare-and-set on the
version the alias held when it was checked, or none does. An admin is held to the same rules:
an admin may change the policy (audited), not step round it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from aiplane.core.auth import Caller, TeamRole
from aiplane.core.auth.policy import Action, Resource
from aiplane.core.errors import NotFoundError, Problem, PromotionRefusedError, SpecError
from aiplane.core.registry import history as alias_history
from aiplane.core.registry.history import Holding
from aiplane.core.registry.lineage import lineage_gaps
from aiplane.core.registry.promotion import (
    PromotionFacts,
    SignatureState,
    counted_approvals,
    evaluate,
)
from aiplane.core.registry.records import Alias, AliasMove, Approval, Model, ModelVersion
from aiplane.core.registry.refs import LATEST, name_problem, parse_ref
from aiplane.services.access import Access
from aiplane.services.audit import AuditLog
from aiplane.services.ids import new_id
from aiplane.services.models import ModelService
from aiplane.services.policies import policy_in_force
from aiplane.services.registry_ports import PolicyDocuments
from aiplane.services.registry_types import MoveRequest
from aiplane.store.base import Store


@dataclass(frozen=True)
class _Checked:
    model: Model
    candidate: ModelVersion
    alias: str
    current: Alias | None
    approvals: tuple[str, ...]  # the approvers whose approval counts, what the move records


class PromotionService:
    def __init__(
        self,
        store: Store,
        models: ModelService,
        policies: PolicyDocuments,
        clock: Callable[[], float],
        *,
        access: Access,
        audit: AuditLog,
    ) -> None:
        self._store = store
        self._models = models
        self._policies = policies
        self._clock = clock
        self._access = access
        self._audit = audit

    def approve(self, caller: Caller, ref: str, alias: str, comment: str = "") -> Approval:
        """Approve a version for an alias: an approver of the model's team who is not the
        version's author."""
        _alias_ok(alias, "alias")
        parsed = parse_ref(ref, "ref")
        model = self._models.model(caller, parsed.name)
        version = self._models.resolve(caller, parsed)
        self._access.check(
            caller,
            Action.MODEL_PROMOTION_APPROVE,
            Resource("model", model.name, team=model.team, owner=version.created_by),
        )
        approval = Approval(
            model.name, version.version, alias, caller.principal.id, self._clock(), comment
        )
        with self._store.unit_of_work() as uow:
            uow.models.add_approval(approval)
            self._audit.record(
                uow,
                caller,
                str(Action.MODEL_PROMOTION_APPROVE),
                f"model/{model.name}",
                team=model.team,
                detail={"version": version.version, "alias": alias, "comment": comment},
            )
        return approval

    def approvals(self, caller: Caller, ref: str) -> list[Approval]:
        version = self._models.resolve(caller, ref)
        return self._store.models.approvals(version.model, version.version)

    def promote(self, caller: Caller, moves: Sequence[MoveRequest]) -> list[AliasMove]:
        """Move every alias, or none: each refusal names its move and every failed rule."""
        if not moves:
            raise SpecError("nothing to promote", [Problem("moves", "empty", None, "1 or more")])
        targets = [(m.ref.partition("@")[0], m.alias) for m in moves]
        if len(set(targets)) != len(targets):
            raise SpecError(
                "invalid promotion", [Problem("moves", "an alias is moved twice in one call")]
            )
        checked = [self._check(caller, i, move) for i, move in enumerate(moves)]
        problems = [p for c, failures in checked for p in failures]
        if problems:
            refusal = PromotionRefusedError(
                f"promotion refused: {len(problems)} rule(s) failed; nothing was moved", problems
            )
            self._audit.record_now(
                caller,
                str(Action.MODEL_PROMOTE),
                f"model/{checked[0][0].model.name}",
                outcome="refused",
                team=checked[0][0].model.team,
                detail={
                    "moves": [f"{m.ref}->{m.alias}" for m in moves],
                    "rules": [p.render() for p in problems],
                },
            )
            refusal.audited = True
            raise refusal
        return self._apply(caller, [c for c, _ in checked])

    def _check(self, caller: Caller, i: int, move: MoveRequest) -> tuple[_Checked, list[Problem]]:
        _alias_ok(move.alias, f"moves[{i}].alias")
        parsed = parse_ref(move.ref, f"moves[{i}].ref")
        model = self._models.model(caller, parsed.name, Action.MODEL_PROMOTE)
        candidate = self._models.resolve(caller, parsed)
        models = self._store.models
        current = models.get_alias(model.name, move.alias)
        approvals = tuple(models.approvals(model.name, candidate.version, move.alias))
        approvers = self._approvers(model.team)
        checked = _Checked(
            model,
            candidate,
            move.alias,
            current,
            counted_approvals(candidate, approvals, approvers),
        )
        rules = policy_in_force(self._policies, self._store, model).rules_for(move.alias)
        if rules is None:
            return checked, []
        current_version = (
            models.get_version(model.name, current.version) if current is not None else None
        )
        failures = evaluate(
            rules,
            candidate,
            current_version,
            approvals,
            approvers,
            self._facts(candidate),
        )
        where = f"{candidate.ref} -> {move.alias}"
        return checked, [Problem(f"{where}: {f.rule}", f.message) for f in failures]

    def _approvers(self, team: str) -> frozenset[str]:
        return frozenset(
            p.id
            for p in self._store.principals.members(team)
            if not p.disabled
            and (role := p.team_role(team)) is not None
            and role.allows(TeamRole.APPROVER)
        )

    def _facts(self, version: ModelVersion) -> PromotionFacts:
        manifest = self._store.artifacts.get_manifest(version.artifact)
        check = self._models.check(version, manifest, rehash=False)
        if version.signature is None:
            state = SignatureState.ABSENT
        else:
            state = SignatureState.INVALID if check.problems else SignatureState.VALID
        jurisdictions: dict[str, str | None] = {}
        for ref in version.inputs:
            name, _, number = ref.partition("@")
            try:
                jurisdictions[ref] = self._store.datasets.get_version(
                    name, int(number)
                ).jurisdiction
            except (NotFoundError, ValueError):
                continue
        return PromotionFacts(
            signature=state,
            signature_reason="; ".join(p.render() for p in check.problems),
            lineage_missing=lineage_gaps(version, jurisdictions),
            jurisdictions=jurisdictions,
        )

    def _apply(self, caller: Caller, checked: Sequence[_Checked]) -> list[AliasMove]:
        now = self._clock()
        move_id = new_id("mv-", now)
        done = []
        with self._store.unit_of_work() as uow:
            for c in checked:
                previous = c.current.version if c.current is not None else None
                uow.models.set_alias(
                    Alias(c.model.name, c.alias, c.candidate.version, now, caller.principal.id),
                    previous,
                )
                move = AliasMove(
                    c.model.name,
                    c.alias,
                    c.candidate.version,
                    previous,
                    now,
                    caller.principal.id,
                    c.approvals,
                    move_id,
                )
                uow.models.add_move(move)
                done.append(move)
            for c, move in zip(checked, done, strict=True):
                self._audit.record(
                    uow,
                    caller,
                    str(Action.MODEL_PROMOTE),
                    f"model/{c.model.name}",
                    team=c.model.team,
                    detail={
                        "alias": move.alias,
                        "version": move.version,
                        "previous": move.previous,
                        "approvals": list(move.approvals),
                        "move": move_id,
                    },
                )
        return done

    def history(
        self, caller: Caller, name: str, *, alias: str | None = None, at: float | None = None
    ) -> list[Holding]:
        """Each alias's periods, oldest first (of one alias with ``alias``); with ``at``, the
        period in force then for each alias: what held it, since when, moved by whom, with
        which approvals ("what was in production at T")."""
        self._models.model(caller, name)
        # Every move, not only those up to ``at``: the period in force at T ends at the first
        # move after T, and without that move it would read as still in force.
        moves = self._store.models.moves(name, alias=alias)
        if at is not None:
            if alias is not None:
                held = alias_history.held_at(moves, alias, at)
                return [held] if held is not None else []
            return list(alias_history.aliases_at(moves, at).values())
        aliases = sorted({m.alias for m in moves})
        periods = [h for a in aliases for h in alias_history.timeline(moves, a)]
        return sorted(periods, key=lambda h: (h.since, h.alias))


def _alias_ok(alias: str, location: str) -> None:
    problem = name_problem(alias, location, "alias")
    if problem is not None:
        raise SpecError("invalid alias", [problem])
    if alias == LATEST:
        raise SpecError(
            "invalid alias",
            [Problem(location, "'latest' is always the newest version: it does not move")],
        )
