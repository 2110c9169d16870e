"""Reading the audit log through its service: admins only, validated searches, verify with
the kept and an expected head, export as JSON lines that verify on their own."""

from __future__ import annotations

import json
from dataclasses import replace

import pytest

from aiplane.core.audit import AuditHead, entry_from, verify_chain
from aiplane.core.errors import PermissionDeniedError, SpecError
from aiplane.store.memory import MemoryStore
from aiplane.wiring import ControlPlane
from tests.audit.filling import fill


def test_only_admins_read_and_each_refusal_is_logged(cp: ControlPlane) -> None:
    svc = cp.services
    callers = fill(svc)
    for role in ("viewer", "member", "operator"):
        with pytest.raises(PermissionDeniedError, match="admin"):
            svc.audit_service.entries_for(callers[role])
        # Checked when called, not when the first line is asked for.
        with pytest.raises(PermissionDeniedError):
            svc.audit_service.export_for(callers[role])
    refusals = svc.audit_service.entries_for(callers["admin"], resource="audit", limit=1000)
    assert [(e.record.actor, e.record.outcome) for e in refusals] == [
        ("viewer-user", "denied"),
        ("operator-user", "denied"),
        *[(f"{role}-user", "denied") for role in ("viewer", "member", "operator") for _ in "ab"],
    ]
    assert {e.record.action for e in refusals} == {"audit.read"}


def test_search_filters(cp: ControlPlane) -> None:
    svc = cp.services
    admin = fill(svc)["admin"]
    every = svc.audit_service.entries_for(admin, limit=1000)
    assert [e.seq for e in every] == list(range(1, len(every) + 1))
    by_admin = svc.audit_service.entries_for(admin, actor="admin-user")
    assert by_admin and {e.record.actor for e in by_admin} == {"admin-user"}
    teams = svc.audit_service.entries_for(admin, resource="team/")
    assert [e.record.resource for e in teams] == ["team/t", "team/vision"]
    exact = svc.audit_service.entries_for(admin, resource="team/t")
    assert [e.record.resource for e in exact] == ["team/t"]
    newest = svc.audit_service.entries_for(admin, limit=3)
    assert [e.seq for e in newest] == [e.seq for e in every[-3:]]
    later = svc.audit_service.entries_for(admin, since=every[-1].record.at + 1)
    assert later == []


@pytest.mark.parametrize(
    ("kwargs", "location"),
    [
        ({"limit": 0}, "limit"),
        ({"limit": 1001}, "limit"),
        ({"since": float("nan")}, "since"),
        ({"since": float("inf")}, "since"),
        ({"actor": " "}, "actor"),
        ({"resource": ""}, "resource"),
    ],
)
def test_bad_searches_name_the_field(
    cp: ControlPlane, kwargs: dict[str, object], location: str
) -> None:
    admin = fill(cp.services)["admin"]
    with pytest.raises(SpecError) as raised:
        cp.services.audit_service.entries_for(admin, **kwargs)  # type: ignore[arg-type]
    assert [p.location for p in raised.value.problems] == [location]


@pytest.mark.parametrize(
    "text", ["", "5", "5:", ":" + "a" * 64, "0:" + "a" * 64, "x:" + "a" * 64, "5:" + "a" * 63]
)
def test_a_bad_expected_head_is_refused(cp: ControlPlane, text: str) -> None:
    with pytest.raises(SpecError) as raised:
        cp.services.audit_service.parse_head(text)
    assert raised.value.problems[0].location == "expect"
    assert "SEQ:HASH" in (raised.value.problems[0].allowed or "")


def test_a_head_parses_as_verify_prints_it(cp: ControlPlane) -> None:
    assert cp.services.audit_service.parse_head(" 12:" + "AB" * 32) == AuditHead(12, "ab" * 32)


def test_an_intact_log_verifies_to_its_kept_head(cp: ControlPlane) -> None:
    admin = fill(cp.services)["admin"]
    result = cp.services.audit_service.verify_for(admin)
    kept = cp.store.audit.head()
    assert result.ok and kept is not None
    assert result.head == kept and result.checked == kept.seq


def test_an_expected_head_recorded_earlier_still_verifies(cp: ControlPlane) -> None:
    svc = cp.services
    admin = fill(svc)["admin"]
    earlier = svc.audit_service.verify_for(admin).head
    assert earlier is not None
    svc.identity.set_member(admin, "t", "member-user", None)
    result = svc.audit_service.verify_for(admin, earlier)
    assert result.ok and result.head is not None and result.head.seq > earlier.seq


def test_an_expected_head_the_log_does_not_hold_is_named(cp: ControlPlane) -> None:
    svc = cp.services
    admin = fill(svc)["admin"]
    head = svc.audit_service.verify_for(admin).head
    assert head is not None
    wrong = svc.audit_service.verify_for(admin, AuditHead(3, "f" * 64))
    assert (wrong.ok, wrong.first_bad) == (False, 3)
    assert wrong.problem == "it is not the entry recorded as the head"
    assert wrong.head is not None and wrong.head.seq == 2
    beyond = svc.audit_service.verify_for(admin, AuditHead(head.seq + 5, "f" * 64))
    assert (beyond.ok, beyond.first_bad) == (False, head.seq + 1)
    assert f"ends at entry {head.seq}" in (beyond.problem or "")


def test_the_export_is_json_lines_that_verify_on_their_own(cp: ControlPlane) -> None:
    svc = cp.services
    admin = fill(svc)["admin"]
    lines = list(svc.audit_service.export_for(admin))
    assert all(line.endswith("\n") and line.count("\n") == 1 for line in lines)
    entries = [entry_from(json.loads(line)) for line in lines]
    assert entries == svc.audit_service.entries_for(admin, limit=1000)[: len(entries)]
    kept = cp.store.audit.head()
    assert verify_chain(entries, cp.audit.signature_ok, kept).ok


def test_a_log_with_a_key_it_does_not_know_fails(
    cp: ControlPlane, tmp_path_factory: pytest.TempPathFactory, memory_store: MemoryStore
) -> None:
    """The same rows checked by a control plane with another key (a lost or replaced key):
    every entry's signature is foreign, so the first is named."""
    from tests.audit.conftest import control_plane

    fill(cp.services)
    other = control_plane(tmp_path_factory.mktemp("other-home"), memory_store)
    result = other.audit.verify()
    assert (result.ok, result.first_bad) == (False, 1)
    assert result.problem == "its signature is not the control plane's"


# -- tampering with the memory store's rows (SQL: tests/audit/test_tamper.py) ----------------


def test_entries_past_the_kept_head_are_named(cp: ControlPlane, memory_store: MemoryStore) -> None:
    admin = fill(cp.services)["admin"]
    data = memory_store._data
    kept = data.audit_head
    assert kept is not None
    data.audit_head = AuditHead(kept.seq - 2, data.audit[kept.seq - 3].hash)
    result = cp.services.audit_service.verify_for(admin)
    assert (result.ok, result.first_bad) == (False, kept.seq - 1)
    assert "past the head kept beside the log" in (result.problem or "")


def test_a_deleted_head_is_caught(cp: ControlPlane, memory_store: MemoryStore) -> None:
    admin = fill(cp.services)["admin"]
    memory_store._data.audit_head = None
    result = cp.services.audit_service.verify_for(admin)
    assert (result.ok, result.first_bad, result.head) == (False, 1, None)
    assert "(missing)" in (result.problem or "")


def test_a_tail_cut_with_its_head_needs_the_expected_head(
    cp: ControlPlane, memory_store: MemoryStore
) -> None:
    svc = cp.services
    admin = fill(svc)["admin"]
    recorded = svc.audit_service.verify_for(admin).head
    assert recorded is not None
    data = memory_store._data
    naive = data.audit.pop()
    naive_result = svc.audit_service.verify_for(admin)
    assert (naive_result.ok, naive_result.first_bad) == (False, recorded.seq)
    # The head rolled back too: a good chain again, unless the recorded head is given.
    data.audit_head = AuditHead(data.audit[-1].seq, data.audit[-1].hash)
    assert svc.audit_service.verify_for(admin).ok
    caught = svc.audit_service.verify_for(admin, recorded)
    assert (caught.ok, caught.first_bad) == (False, recorded.seq)
    data.audit.append(naive)
    data.audit_head = recorded
    assert svc.audit_service.verify_for(admin, recorded).ok


def test_an_edited_row_is_named(cp: ControlPlane, memory_store: MemoryStore) -> None:
    admin = fill(cp.services)["admin"]
    data = memory_store._data
    data.audit[4] = replace(data.audit[4], record=replace(data.audit[4].record, actor="mallory"))
    result = cp.services.audit_service.verify_for(admin)
    assert (result.ok, result.first_bad) == (False, 5)
    assert result.problem == "its content does not match its hash"
