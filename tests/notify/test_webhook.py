"""What only the webhook has: HTTP statuses, timeouts, unreachable and malformed URLs."""

from __future__ import annotations

import socket

import pytest

from aiplane.notify.base import Notification
from aiplane.notify.webhook import WebhookNotifier

from .conftest import Receiver


@pytest.mark.parametrize("status", [200, 201, 202, 204])
def test_every_2xx_answer_is_a_delivery(receiver: Receiver, status: int) -> None:
    receiver.statuses["/hook"] = status
    result = WebhookNotifier().deliver(Notification(receiver.url + "/hook", b"{}", "k"))
    assert (result.delivered, result.status) == (True, status)


@pytest.mark.parametrize("status", [301, 400, 404, 500])
def test_other_answers_are_failures_and_redirects_are_not_followed(
    receiver: Receiver, status: int
) -> None:
    receiver.statuses["/hook"] = status
    result = WebhookNotifier().deliver(Notification(receiver.url + "/hook", b"{}", "k"))
    assert (result.delivered, result.error, result.status) == (False, f"HTTP {status}", status)
    assert len(receiver.arrivals) == 1


def test_a_receiver_slower_than_the_timeout_is_a_failure(receiver: Receiver) -> None:
    result = WebhookNotifier(timeout_s=0.2).deliver(
        Notification(receiver.url + "/slow", b"{}", "k")
    )
    receiver.release.set()
    assert not result.delivered
    assert result.error is not None and "Timeout" in result.error


def test_an_unreachable_receiver_is_a_failure() -> None:
    with socket.socket() as s:  # a port that was free a moment ago: nothing listens there
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    result = WebhookNotifier(timeout_s=2.0).deliver(
        Notification(f"http://127.0.0.1:{port}/hook", b"{}", "k")
    )
    assert not result.delivered
    assert result.error is not None and result.error.startswith("ConnectError")


@pytest.mark.parametrize("url", ["not a url", "ftp://127.0.0.1/hook", "http://"])
def test_a_malformed_destination_is_a_failure_not_an_exception(url: str) -> None:
    result = WebhookNotifier(timeout_s=1.0).deliver(Notification(url, b"{}", "k"))
    assert not result.delivered and result.error
