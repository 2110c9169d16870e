"""What is hashed is what the store gives back: values SQL does not keep as Python has them
(JSONB's 1e16 is an int, its -0.0 is 0.0; an int clock reads back a float), and strings it
cannot keep at all (NUL on PostgreSQL, lone surrogates anywhere) still make an entry that
verifies, escaped."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest

from aiplane.core.errors import SpecError
from aiplane.services.audit import AuditLog
from aiplane.signing.ed25519 import Ed25519Signer
from aiplane.store.sql import SqlStore

DETAILS: list[dict[str, Any]] = [
    {"x": 1e16},
    {"x": -0.0},
    {"x": 1},
    {"x": 1.5, "y": 2**70, "z": 1e-7},
    {"outer": {"inner": {"list": [1e16, -0.0, 1, {"deep": 2.0}]}, "tuple": (1, 2)}},
]


def test_values_sql_does_not_keep_still_verify(sql_store: SqlStore) -> None:
    log = AuditLog(sql_store, Ed25519Signer.generate(), lambda: 1000)  # an int clock
    for detail in DETAILS:
        log.record_now(None, "test.value", "thing/1", outcome="ok", detail=detail)
    result = log.verify()
    assert result.ok and result.checked == len(DETAILS), result
    entries = log.search(limit=100)
    assert [e.record.at for e in entries] == [1000.0] * len(DETAILS)
    assert all(isinstance(e.record.at, float) for e in entries)
    first, zero = entries[0].record.detail["x"], entries[1].record.detail["x"]
    assert isinstance(first, float) and first == 1e16
    assert isinstance(zero, float) and math.copysign(1.0, zero) == -1.0
    assert entries[2].record.detail["x"] == 1 and isinstance(entries[2].record.detail["x"], int)
    # What is kept is the JSON form (the tuple a list), and the export verifies the same.
    assert entries[4].record.detail == json.loads(json.dumps(DETAILS[4]))


def test_control_characters_and_lone_surrogates_are_escaped(sql_store: SqlStore) -> None:
    log = AuditLog(sql_store, Ed25519Signer.generate(), lambda: 1.0)
    entry = log.record_now(
        None,
        "token.revoke\x00",
        "token/\x00abc\ud800",
        outcome="denied\n",
        team="t\x1b",
        detail={"k\x00": ["\udfff", {"v": "a\r\nb"}], "n": 1, "c1": "a\x85b\u2028\x7f"},
    )
    assert entry is not None
    (stored,) = log.search()
    record = stored.record
    assert record.action == "token.revoke\\x00"
    assert record.resource == "token/\\x00abc\\ud800"
    assert record.outcome == "denied\\x0a"
    assert record.team == "t\\x1b"
    assert record.detail == {
        "k\\x00": ["\\udfff", {"v": "a\\x0d\\x0ab"}],
        "n": 1,
        # NEL and U+2028 break lines too, DEL erases (decision 0037).
        "c1": "a\\x85b\\u2028\\x7f",
    }
    assert stored == entry
    assert log.verify().ok
    assert log.search(resource="token/\\x00abc\\ud800") == [stored]
    # A raw control character is refused, not sent to the database (PostgreSQL cannot take it).
    for search in ({"actor": "\x00"}, {"resource": "token/\x00abc"}):
        with pytest.raises(SpecError) as refused:
            log.search(**search)  # type: ignore[arg-type]
        assert refused.value.problems[0].location in search
