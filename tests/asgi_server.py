"""An ASGI app served by uvicorn in a thread on 127.0.0.1, for tests that want real HTTP."""

from __future__ import annotations

import threading
import time
from typing import Any, Literal

import uvicorn

from aiplane.listening import bind


class Served:
    """``app`` over uvicorn in a thread; ``start`` again after ``stop`` takes the same port."""

    def __init__(self, app: Any, *, lifespan: Literal["on", "off"] = "off") -> None:
        self.app = app
        self.lifespan = lifespan
        self.port = 0
        self.server: uvicorn.Server | None = None
        self.thread: threading.Thread | None = None

    def start(self) -> Served:
        sock = bind("127.0.0.1", self.port)
        self.port = sock.getsockname()[1]
        config = uvicorn.Config(
            self.app, log_level="warning", access_log=False, lifespan=self.lifespan
        )
        server = uvicorn.Server(config)
        self.server = server
        self.thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
        self.thread.start()
        deadline = time.monotonic() + 10
        while not server.started and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.01)
        sock.close()  # uvicorn serves on its own copy
        assert server.started, "the server did not start"
        return self

    def stop(self) -> None:
        if self.server is None or self.thread is None or not self.thread.is_alive():
            return
        self.server.should_exit = True
        self.thread.join(10)
        assert not self.thread.is_alive()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"
