"""Core types to column values and back. JSON columns hold ``aiplane.core.codec`` dictionaries.

Reads select plain columns rather than ORM entities: entities add tracked objects for every row
(about a third more allocations per page of jobs), and in CPython more allocations mean more
frequent full garbage collections, which is what a listing's tail latency was measuring.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from aiplane.core import codec
from aiplane.core.audit import AuditEntry, detail_text, entry_dict, entry_from
from aiplane.core.auth import (
    GlobalRole,
    Principal,
    PrincipalKind,
    TeamRole,
    TokenRecord,
    TokenScope,
)
from aiplane.core.cost.alerts import CostAlert, alert_from_dict, alert_to_dict
from aiplane.core.cost.usage import UsageInterval, usage_from_dict, usage_to_dict
from aiplane.core.events import Event
from aiplane.core.runs import Job, Run
from aiplane.store.base import FleetRecord

# A row's columns by name (SQLAlchemy's RowMapping, or a plain dict).
Values = Mapping[Any, Any]

# The codec's run dictionary uses the column names; these are the keys a run row stores.
RUN_COLUMNS = (
    "id",
    "job_id",
    "state",
    "attempt",
    "created_at",
    "updated_at",
    "started_at",
    "finished_at",
    "exit_code",
    "reason",
    "placement",
    "handles",
    "attained_gpu_s",
    "checkpointed_hours",
    "last_checkpoint_at",
    "checkpoint_uri",
    "checkpoint_saved_at",
    "revision",
)


def principal_values(principal: Principal) -> dict[str, Any]:
    """The ``principals`` row; memberships go to ``team_members`` (see ``member_values``)."""
    return {
        "id": principal.id,
        "name": principal.name,
        "kind": str(principal.kind),
        "global_role": str(principal.global_role) if principal.global_role else None,
        "email": principal.email,
        "email_lower": principal.email.lower() if principal.email else None,
        "subject": principal.subject,
        "disabled": principal.disabled,
        "created_at": principal.created_at,
    }


def member_values(principal: Principal) -> list[dict[str, Any]]:
    return [
        {"principal_id": principal.id, "team": team, "role": str(role)}
        for team, role in sorted(principal.teams.items())
    ]


def principal_from(row: Values, teams: Mapping[str, str]) -> Principal:
    return Principal(
        id=row["id"],
        name=row["name"],
        kind=PrincipalKind(row["kind"]),
        created_at=row["created_at"],
        global_role=GlobalRole(row["global_role"]) if row["global_role"] else None,
        teams={team: TeamRole(role) for team, role in sorted(teams.items())},
        email=row["email"],
        subject=row["subject"],
        disabled=bool(row["disabled"]),
    )


def token_values(token: TokenRecord) -> dict[str, Any]:
    return {
        "id": token.id,
        "principal_id": token.principal_id,
        "name": token.name,
        "token_hash": token.token_hash,
        "created_at": token.created_at,
        "expires_at": token.expires_at,
        "revoked_at": token.revoked_at,
        "scope_team": token.scope.team if token.scope else None,
        "scope_job_id": token.scope.job_id if token.scope else None,
        "prefix": token.prefix,
    }


def token_from(row: Values) -> TokenRecord:
    scoped = row["scope_team"] is not None and row["scope_job_id"] is not None
    return TokenRecord(
        id=row["id"],
        principal_id=row["principal_id"],
        name=row["name"],
        token_hash=row["token_hash"],
        created_at=row["created_at"],
        expires_at=row["expires_at"],
        revoked_at=row["revoked_at"],
        scope=TokenScope(row["scope_team"], row["scope_job_id"]) if scoped else None,
        prefix=row["prefix"],
    )


def audit_values(entry: AuditEntry) -> dict[str, Any]:
    # The export's form is the row's: one column per key, the detail as its canonical JSON
    # text (the column is TEXT: what was hashed is what comes back, value types included).
    values = entry_dict(entry)
    values["detail"] = detail_text(entry.record.detail)
    return values


def audit_from(row: Values) -> AuditEntry:
    return entry_from({**row, "detail": json.loads(row["detail"])})


def fleet_from(row: Values) -> FleetRecord:
    return FleetRecord(
        version=row["version"], document=row["document"], applied_at=row["applied_at"]
    )


def job_values(job: Job) -> dict[str, Any]:
    return {
        "id": job.id,
        "name": job.workload.name,
        "team": job.workload.team,
        "submitted_at": job.submitted_at,
        "submitted_by": job.submitted_by,
        "workload": codec.workload_to_dict(job.workload),
    }


def job_from(row: Values) -> Job:
    return Job(
        id=row["id"],
        workload=codec.workload_from_dict(row["workload"]),
        submitted_at=row["submitted_at"],
        submitted_by=row["submitted_by"],
    )


def run_values(run: Run) -> dict[str, Any]:
    data = codec.run_to_dict(run)
    return {name: data[name] for name in RUN_COLUMNS}


def run_from(row: Values) -> Run:
    return codec.run_from_dict({name: row[name] for name in RUN_COLUMNS})


def event_values(event: Event) -> dict[str, Any]:
    return {
        "at": event.at,
        "kind": event.kind,
        "job_id": event.job_id,
        "run_id": event.run_id,
        "message": event.message,
        "data": dict(event.data),
    }


def event_from(row: Values) -> Event:
    return Event(
        id=row["id"],
        at=row["at"],
        kind=row["kind"],
        message=row["message"],
        job_id=row["job_id"],
        run_id=row["run_id"],
        data=row["data"],
    )


def usage_values(u: UsageInterval) -> dict[str, Any]:
    data = usage_to_dict(u)
    data["start_at"] = data.pop("start")
    data["end_at"] = data.pop("end")
    return data


def usage_from(row: Values) -> UsageInterval:
    data = {name: row[name] for name in USAGE_COLUMNS}
    data["start"] = data.pop("start_at")
    data["end"] = data.pop("end_at")
    return usage_from_dict(data)


USAGE_COLUMNS = (
    "run_id",
    "job_id",
    "attempt",
    "team",
    "workload",
    "project",
    "model",
    "endpoint",
    "site",
    "pool",
    "pricing",
    "accelerator",
    "gpus",
    "start_at",
    "end_at",
    "usd_per_hour",
    "egress_gb",
    "egress_usd",
    "outcome",
)


def alert_values(alert: CostAlert) -> dict[str, Any]:
    return alert_to_dict(alert)


def alert_from(row: Values) -> CostAlert:
    return alert_from_dict({key: value for key, value in row.items() if key != "id"})
