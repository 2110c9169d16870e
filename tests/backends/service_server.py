"""A tiny service for the backend tests, driven by control files: ``python service_server.py
CTL [--exit-0-on-term]``.

It listens on ``$AIPLANE_HOST:$AIPLANE_PORT`` at once and answers ``GET /ready`` with 200 once
``CTL.ready`` exists (503 before), any other path with 404. Each start appends ``pid port`` to
``CTL.starts``. When ``CTL.crash`` appears it removes it and exits with the code written there,
so the restarted server does not crash again. With ``--exit-0-on-term`` a SIGTERM ends it with
exit 0 (a server that shuts down cleanly), else the signal kills it.
"""

from __future__ import annotations

import http.server
import os
import signal
import sys
import threading
import time
from pathlib import Path

CTL = sys.argv[1]


def control(suffix: str) -> Path:
    return Path(CTL + suffix)


class Handler(http.server.BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        if self.path != "/ready":
            self.send_response(404)
        else:
            self.send_response(200 if control(".ready").exists() else 503)
        self.end_headers()

    def log_message(self, *_args: object) -> None:
        return None  # keep the output log for what the tests read


def watch_for_crash() -> None:
    crash = control(".crash")
    while True:
        try:
            code = int(crash.read_text())
        except (FileNotFoundError, ValueError):
            time.sleep(0.02)
            continue
        crash.unlink()
        os._exit(code)


def main() -> None:
    if "--exit-0-on-term" in sys.argv:
        signal.signal(signal.SIGTERM, lambda *_: os._exit(0))
    where = (os.environ["AIPLANE_HOST"], int(os.environ["AIPLANE_PORT"]))
    server = http.server.ThreadingHTTPServer(where, Handler)
    with control(".starts").open("a") as starts:
        starts.write(f"{os.getpid()} {where[1]}\n")
    threading.Thread(target=watch_for_crash, daemon=True).start()
    server.serve_forever()


if __name__ == "__main__":
    main()
