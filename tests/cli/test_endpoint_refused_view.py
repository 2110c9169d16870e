"""`aiplane endpoints show` names a refused version and why (decision 0069)."""

from __future__ import annotations

from aiplane.cli.commands.endpoints import show_endpoint
from aiplane.cli.output import console
from aiplane.wire.endpoints import EndpointOut, ReplicaOut, SiteRoleOut

WHY = "fraud@production holds version 2, which no promotion in the registry's history put there"


def _replica(job: str, version: str, refused: str | None) -> ReplicaOut:
    return ReplicaOut(
        job_id=job,
        run_id="r-" + job,
        state="running",
        version=version,
        generation=1,
        pool="boxes",
        address="127.0.0.1:9000",
        ready=True,
        draining=False,
        usd_per_hour=0.2,
        refused=refused,
    )


def test_a_refused_version_is_shown_with_its_reason() -> None:
    site = SiteRoleOut(
        site="edge",
        role="primary",
        version="fraud@2",
        wanted=2,
        running=2,
        ready=2,
        reason="",
        replicas=[_replica("j-1", "fraud@1", None), _replica("j-2", "fraud@2", WHY)],
    )
    endpoint = EndpointOut(
        name="fraud",
        team="t",
        generation=1,
        created_at=0.0,
        updated_at=0.0,
        created_by="alice",
        spec={"model": "fraud@production"},
        sites=[site],
    )
    with console.capture() as captured:
        show_endpoint(endpoint)
    text = " ".join(captured.get().split())
    assert f"refused fraud@2: {WHY}" in text
    assert "refused fraud@1" not in text
