"""An OIP upstream as a process of its own: ``python -m tests.gateway.upstream_main FD NAME``
serves ``OipUpstream(NAME)`` on the listening socket it inherits as file descriptor FD."""

from __future__ import annotations

import sys

import uvicorn

from tests.gateway.servers import OipUpstream

if __name__ == "__main__":
    fd, name = int(sys.argv[1]), sys.argv[2]
    uvicorn.run(OipUpstream(name).app, fd=fd, log_level="warning", access_log=False)
