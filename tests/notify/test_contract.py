"""The notifier contract: every member (memory, webhook) must pass all of it."""

from __future__ import annotations

import json

from aiplane.core.cost.alerts import verify
from aiplane.notify.base import DeliveryResult, Notification

from .conftest import Arrival, Member

PAYLOAD = json.dumps({"budget": "research", "spent_usd": 812.5, "note": "Grüße ✓"}).encode()


def test_a_payload_arrives_unchanged_with_its_key(member: Member) -> None:
    where = member.destination("/hook")

    result = member.notifier.deliver(Notification(where, PAYLOAD, "research|alert@0.8|2025-06"))

    assert result.delivered and result.error is None
    assert member.arrivals() == [Arrival(where, PAYLOAD, "research|alert@0.8|2025-06", None)]


def test_a_secret_signs_the_payload_and_only_that_secret_verifies(member: Member) -> None:
    member.notifier.deliver(Notification(member.destination("/hook"), PAYLOAD, "k", "s3cret"))

    (arrival,) = member.arrivals()
    assert arrival.signature is not None and arrival.signature.startswith("sha256=")
    assert verify(PAYLOAD, "s3cret", arrival.signature)
    assert not verify(PAYLOAD, "other", arrival.signature)
    assert not verify(PAYLOAD + b" ", "s3cret", arrival.signature)


def test_a_refusal_is_a_result_with_the_reason_not_an_exception(member: Member) -> None:
    member.refuse("/down", 503)

    result = member.notifier.deliver(Notification(member.destination("/down"), PAYLOAD, "k"))

    assert result == DeliveryResult(False, "HTTP 503", result.status)
    assert result.status in (None, 503)


def test_each_call_is_one_attempt(member: Member) -> None:
    """Retrying is the caller's policy: a notifier never tries twice on its own."""
    member.refuse("/down", 500)
    notification = Notification(member.destination("/down"), PAYLOAD, "k")

    first = member.notifier.deliver(notification)
    second = member.notifier.deliver(notification)

    assert not first.delivered and not second.delivered
    assert len(member.arrivals()) == 2
