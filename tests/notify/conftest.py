"""Notifier members for the contract suite: memory, and the webhook against a real HTTP server
on 127.0.0.1 that answers each path as the test tells it."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from aiplane.core.cost.alerts import SIGNATURE_HEADER
from aiplane.notify.base import Notifier
from aiplane.notify.memory import MemoryNotifier
from aiplane.notify.webhook import DELIVERY_HEADER, WebhookNotifier


@dataclass(frozen=True)
class Arrival:
    """What a receiver saw, in the same terms for every member."""

    destination: str
    payload: bytes
    key: str
    signature: str | None


@dataclass
class Receiver:
    """A local HTTP server: records every POST, answers with the status set for its path."""

    statuses: dict[str, int] = field(default_factory=dict)
    arrivals: list[tuple[str, dict[str, str], bytes]] = field(default_factory=list)
    release: threading.Event = field(default_factory=threading.Event)  # for /slow
    url: str = ""


def _handler(receiver: Receiver) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            payload = self.rfile.read(int(self.headers["Content-Length"]))
            receiver.arrivals.append((self.path, dict(self.headers), payload))
            if self.path == "/slow":
                receiver.release.wait(30)
            self.send_response(receiver.statuses.get(self.path, 204))
            self.send_header("Content-Length", "0")
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    return Handler


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    found = Receiver()
    server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(found))
    server.daemon_threads = True
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    found.url = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        yield found
    finally:
        found.release.set()
        server.shutdown()
        server.server_close()


@dataclass
class Member:
    name: str
    notifier: Notifier
    destination: Callable[[str], str]  # a path to the destination that answers there
    refuse: Callable[[str, int], None]  # make a destination answer with a failing status
    arrivals: Callable[[], list[Arrival]]


def _memory() -> Member:
    notifier = MemoryNotifier()
    return Member(
        "memory",
        notifier,
        destination=lambda path: f"memory://{path}",
        refuse=lambda path, status: notifier.refuse(f"memory://{path}", f"HTTP {status}"),
        arrivals=lambda: [
            Arrival(
                s.notification.destination, s.notification.payload, s.notification.key, s.signature
            )
            for s in notifier.sent
        ],
    )


def _webhook(receiver: Receiver) -> Member:
    def refuse(path: str, status: int) -> None:
        receiver.statuses[path] = status

    return Member(
        "webhook",
        WebhookNotifier(timeout_s=5.0),
        destination=lambda path: receiver.url + path,
        refuse=refuse,
        arrivals=lambda: [
            Arrival(
                receiver.url + path,
                payload,
                headers[DELIVERY_HEADER],
                headers.get(SIGNATURE_HEADER),
            )
            for path, headers, payload in receiver.arrivals
        ],
    )


@pytest.fixture(params=["memory", "webhook"])
def member(request: pytest.FixtureRequest) -> Member:
    if request.param == "memory":
        return _memory()
    return _webhook(request.getfixturevalue("receiver"))
