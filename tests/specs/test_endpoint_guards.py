"""The endpoint's ``guards:`` section: read into the spec's policy, written back, stored, sent
to a gateway in the routing table; bad values name the field and what is allowed."""

from __future__ import annotations

from typing import Any

import pytest

from aiplane.core.guards import PII_TYPES, GuardAction
from aiplane.core.guards.policy import GuardPolicy
from aiplane.core.serving.routes import EndpointRoute, RoutingTable
from aiplane.specs.endpoint import endpoint_from_document, endpoint_to_document
from aiplane.store.serving_codec import spec_from, spec_to
from aiplane.wire.serving import table_from_wire, table_to_wire

from .conftest import problems_of


def chat(**guards: Any) -> dict[str, Any]:
    return {
        "name": "chat",
        "team": "t",
        "protocol": "openai",
        "model": "llama@production",
        "sites": [{"site": "edge"}],
        "guards": guards,
    }


FULL = {
    "injection": "block",
    "pii": "redact",
    "pii_types": ["email", "card", "iban"],
    "restore_pii": False,
    "output_pii": "redact",
    "canary": "flag",
}


def test_every_guard_is_read_written_back_stored_and_sent_to_the_gateway() -> None:
    spec = endpoint_from_document(chat(**FULL), "e.yaml")
    assert spec.guards == GuardPolicy(
        injection=GuardAction.BLOCK,
        pii=GuardAction.REDACT,
        pii_types=("email", "card", "iban"),
        restore_pii=False,
        output_pii=GuardAction.REDACT,
        canary=GuardAction.FLAG,
    )
    assert endpoint_to_document(spec)["guards"] == FULL
    assert endpoint_from_document(endpoint_to_document(spec), "again") == spec
    assert spec_from(spec_to(spec)) == spec
    table = RoutingTable({"chat": EndpointRoute(spec, 1, (), {})}, 1.0)
    route = table_from_wire(table_to_wire(table)).endpoint("chat")
    assert route is not None and route.spec.guards == spec.guards


def test_no_section_no_guards_and_nothing_written() -> None:
    document = chat()
    del document["guards"]
    spec = endpoint_from_document(document, "e.yaml")
    assert spec.guards == GuardPolicy() and not spec.guards.any
    assert "guards" not in endpoint_to_document(spec)
    flagged = endpoint_from_document(chat(injection="flag"), "e.yaml")
    assert endpoint_to_document(flagged)["guards"] == {"injection": "flag"}
    assert flagged.guards.any


def test_a_spec_stored_before_the_guards_existed_still_loads() -> None:
    stored = spec_to(endpoint_from_document(chat(pii="block"), "e.yaml"))
    del stored["guards"]
    assert spec_from(stored).guards == GuardPolicy()


BAD: list[tuple[dict[str, Any], str, str]] = [
    (chat(injection="redact"), "e.yaml: guards.injection", "block, flag"),
    (chat(canary="redact"), "e.yaml: guards.canary", "block, flag"),
    (chat(pii="hide"), "e.yaml: guards.pii", "block, redact, flag"),
    (chat(output_pii="drop"), "e.yaml: guards.output_pii", "block, redact, flag"),
    (chat(pii="block", pii_types=["email", "shoe_size"]), "e.yaml: guards.pii_types", "iban"),
    (chat(pii_types=["email"]), "e.yaml: guards.pii_types", "pii or output_pii"),
    (chat(pii="block", restore_pii=True), "e.yaml: guards.restore_pii", "pii: redact"),
    (chat(pii="redact", restore_pii="yes"), "e.yaml: guards.restore_pii", "true or false"),
    (chat(injection="flag", colour="red"), "e.yaml: guards.colour", ""),
    (
        {**chat(canary="block"), "protocol": "oip"},
        "e.yaml: guards.canary",
        "protocol: openai",
    ),
]


@pytest.mark.parametrize(("document", "location", "allowed"), BAD)
def test_bad_guards_name_the_field_and_what_is_allowed(
    document: dict[str, Any], location: str, allowed: str
) -> None:
    problems = problems_of(lambda: endpoint_from_document(document, "e.yaml"))
    found = [p for p in problems if p.location == location]
    assert found, [(p.location, p.message) for p in problems]
    assert allowed in (found[0].allowed or "") + found[0].message


def test_every_pii_type_is_accepted() -> None:
    spec = endpoint_from_document(chat(pii="flag", pii_types=sorted(PII_TYPES)), "e.yaml")
    assert set(spec.guards.pii_types) == PII_TYPES
