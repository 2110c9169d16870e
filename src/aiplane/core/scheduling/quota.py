"""Team quotas with cohorts, borrowing and lending, in Kueue's terms.

Each team has a nominal quota per accelerator type. Of it, ``lending_limit`` (default: all of
it) goes into its cohort's shared pool; the rest is guaranteed to the team. A team's usage
first fills its guaranteed part and then draws on the shared pool, and it may use at most
``borrowing_limit`` (default: unlimited) above its nominal quota. A team in no cohort, or whose
borrowing limit is zero, can use only its own quota.

Teams that declare no quota at all are not quota-managed: only capacity limits them. GPUs of a
type a managed team has no quota for count as nominal zero (it may still borrow).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass

from aiplane.core.fleet import Fleet, Team

_EPS = 1e-9
UNLIMITED = float("inf")


@dataclass(frozen=True)
class QuotaVerdict:
    ok: bool
    reason: str = ""
    borrowing: float = 0.0  # GPUs above nominal after admission
    # True when the team is within its own nominal quota but the cohort's shared pool is
    # used up by borrowers: reclaiming from them is allowed.
    may_reclaim: bool = False


class QuotaLedger:
    def __init__(self, fleet: Fleet) -> None:
        self._teams: dict[str, Team] = {t.name: t for t in fleet.teams if t.quota}
        self.usage: dict[tuple[str, str], float] = defaultdict(float)
        # per (cohort, type): size of the shared pool, and how much of it is in use
        self._shared_size: dict[tuple[str, str], float] = defaultdict(float)
        self._members: dict[str, list[Team]] = defaultdict(list)
        # per (cohort, type): shared GPUs in use, kept up to date by charge and release
        self._shared_in_use: dict[tuple[str, str], float] = defaultdict(float)
        self._guaranteed_cache: dict[tuple[str, str], float] = {}
        for team in self._teams.values():
            if team.cohort:
                self._members[team.cohort].append(team)
        for team in self._teams.values():
            if not team.cohort:
                continue
            for acc in self._types(team.cohort):
                self._shared_size[(team.cohort, acc)] += self._lendable(team, acc)

    def managed(self, team: str) -> bool:
        return team in self._teams

    def _types(self, cohort: str) -> set[str]:
        return {acc for member in self._members[cohort] for acc in member.quota}

    @staticmethod
    def nominal(team: Team, acc: str) -> float:
        return float(team.quota.get(acc, 0.0))

    @staticmethod
    def _lendable(team: Team, acc: str) -> float:
        nominal = QuotaLedger.nominal(team, acc)
        limit = team.lending_limit.get(acc)
        return nominal if limit is None else min(float(limit), nominal)

    def _guaranteed(self, team: Team, acc: str) -> float:
        key = (team.name, acc)
        value = self._guaranteed_cache.get(key)
        if value is None:
            value = self.nominal(team, acc) - self._lendable(team, acc)
            self._guaranteed_cache[key] = value
        return value

    def _shared_use(self, team: Team, acc: str, usage: float) -> float:
        return max(0.0, usage - self._guaranteed(team, acc))

    def borrowing(self, team: str, acc: str) -> float:
        t = self._teams.get(team)
        if t is None:
            return 0.0
        return max(0.0, self.usage[(team, acc)] - self.nominal(t, acc))

    def check(self, team: str, acc: str | None, gpus: float) -> QuotaVerdict:
        """May ``team`` start ``gpus`` more GPUs of ``acc`` under the quotas?"""
        t = self._teams.get(team)
        if t is None or acc is None or gpus <= 0:
            return QuotaVerdict(True)
        nominal = self.nominal(t, acc)
        after = self.usage[(team, acc)] + gpus
        borrowing = max(0.0, after - nominal)
        if not t.cohort:
            if borrowing > _EPS:
                return QuotaVerdict(
                    False, f"team {team} quota for {acc}: {after:g} > nominal {nominal:g}"
                )
            return QuotaVerdict(True)
        limit = t.borrowing_limit.get(acc)
        limit_value = UNLIMITED if limit is None else float(limit)
        if borrowing > limit_value + _EPS:
            return QuotaVerdict(
                False,
                f"team {team} would borrow {borrowing:g} {acc} above nominal {nominal:g}; "
                f"borrowing limit {limit_value:g}",
            )
        size = self._shared_size[(t.cohort, acc)]
        in_use = self._shared_in_use[(t.cohort, acc)]
        own_before = self._shared_use(t, acc, self.usage[(team, acc)])
        own_after = self._shared_use(t, acc, after)
        if in_use - own_before + own_after > size + _EPS:
            return QuotaVerdict(
                False,
                f"cohort {t.cohort} has no unused {acc} quota to lend "
                f"({in_use:g} of {size:g} shared GPUs in use)",
                borrowing,
                may_reclaim=after <= nominal + _EPS,
            )
        return QuotaVerdict(True, borrowing=borrowing)

    def _set_usage(self, team: str, acc: str, usage: float) -> None:
        t = self._teams[team]
        if t.cohort:
            before = self._shared_use(t, acc, self.usage[(team, acc)])
            self._shared_in_use[(t.cohort, acc)] += self._shared_use(t, acc, usage) - before
        self.usage[(team, acc)] = usage

    def charge(self, team: str, acc: str | None, gpus: float) -> None:
        if acc is not None and team in self._teams:
            self._set_usage(team, acc, self.usage[(team, acc)] + gpus)

    def release(self, team: str, acc: str | None, gpus: float) -> None:
        if acc is not None and team in self._teams:
            self._set_usage(team, acc, max(0.0, self.usage[(team, acc)] - gpus))

    def cohort_of(self, team: str) -> str | None:
        t = self._teams.get(team)
        return t.cohort if t else None
