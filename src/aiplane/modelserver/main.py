"""``python -m aiplane.modelserver``: verify the staged version, load it, serve it.

An endpoint replica's command. The folder is checked against the version's manifest before
anything in it is opened; a folder that fails exits 2 with the files named, before the port
is bound, so the replica never answers ready. One line on stdout says the server is ready.
"""

from __future__ import annotations

import argparse
import os
import socket
import sys
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import uvicorn
from rich.console import Console

from aiplane.core.errors import AiplaneError, Problem, SpecError
from aiplane.core.registry.records import Flavor
from aiplane.core.serving.endpoints import PORT_ENV
from aiplane.exits import EXIT_BAD_INPUT, print_problems
from aiplane.listening import bind
from aiplane.modelserver.app import Serving, create_app
from aiplane.modelserver.batching import Batcher
from aiplane.modelserver.loading import load
from aiplane.modelserver.tensors import ProtocolError
from aiplane.modelserver.verify import MANIFEST_ENV, StagedVersion, read_manifest, verify

MODEL_DIR_ENV = "AIPLANE_MODEL_DIR"  # services.staging.MODEL_ENV: where staging copied it


@dataclass(frozen=True)
class Options:
    model_dir: Path
    manifest: Path | None
    name: str | None
    version: str | None
    host: str
    port: int
    max_batch: int
    max_wait_ms: float


def parse(argv: Sequence[str] | None = None) -> Options:
    env = os.environ
    parser = argparse.ArgumentParser(
        prog="python -m aiplane.modelserver",
        description="Serve one staged model version over the Open Inference Protocol.",
    )
    parser.add_argument(
        "--model-dir", default=env.get(MODEL_DIR_ENV), help=f"default ${MODEL_DIR_ENV}"
    )
    parser.add_argument(
        "--manifest",
        default=env.get(MANIFEST_ENV),
        help=f"the version's files; default ${MANIFEST_ENV}",
    )
    parser.add_argument("--name", help="the model's name; default the manifest's")
    parser.add_argument("--version", help="the version's number; default the manifest's, else 1")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port", type=int, default=env.get(PORT_ENV), help=f"default ${PORT_ENV}; 0 for any"
    )
    parser.add_argument("--max-batch", type=int, default=32, help="rows in one predict call")
    parser.add_argument(
        "--max-wait-ms", type=float, default=2.0, help="how long a batch waits to fill"
    )
    args = parser.parse_args(argv)
    problems = []
    if not args.model_dir:
        problems.append(Problem("--model-dir", "not given", None, f"a folder, or ${MODEL_DIR_ENV}"))
    if args.port is None:
        problems.append(Problem("--port", "not given", None, f"0-65535, or ${PORT_ENV}"))
    if args.max_batch < 1:
        problems.append(Problem("--max-batch", "must be at least 1", str(args.max_batch)))
    if args.max_wait_ms < 0:
        problems.append(Problem("--max-wait-ms", "must not be negative", str(args.max_wait_ms)))
    if problems:
        raise SpecError("the model server cannot start", problems)
    return Options(
        Path(args.model_dir),
        Path(args.manifest) if args.manifest else None,
        args.name,
        args.version,
        args.host,
        int(args.port),
        args.max_batch,
        args.max_wait_ms,
    )


def prepare(options: Options) -> Serving:
    """The verified, loaded version: SpecError or IntegrityError (files named) when not."""
    staged = read_manifest(options.manifest) if options.manifest else None
    if staged is not None:
        verify(options.model_dir, staged)
    elif not options.model_dir.is_dir():
        raise SpecError(
            "the model server cannot start",
            [
                Problem(
                    "--model-dir",
                    "not a folder",
                    str(options.model_dir),
                    "the staged model's folder",
                )
            ],
        )
    name, version, aliases = _identity(options, staged)
    flavor = None
    if staged is not None and staged.flavor is not None:
        try:
            flavor = Flavor(staged.flavor)
        except ValueError:
            flavor = None  # told from the files
    try:
        model = load(options.model_dir, flavor)
    except ProtocolError as exc:
        raise SpecError(
            f"cannot serve {options.model_dir}", [Problem("model", exc.message)]
        ) from exc
    batcher = Batcher(model, options.max_batch, options.max_wait_ms / 1000)
    return Serving(name, version, model, batcher, aliases=aliases)


def _identity(options: Options, staged: StagedVersion | None) -> tuple[str, str, tuple[str, ...]]:
    """The name served (``--name``, else the staged model's), its version, and the staged
    model's name as an alias when ``--name`` is another (an endpoint's own name)."""
    named = staged.model if staged else None
    name = options.name or named
    if not name:
        raise SpecError(
            "the model server cannot start",
            [Problem("--name", "not given", None, "the model's name, or a manifest that names it")],
        )
    number = staged.version if staged else None
    if options.version and number is not None and options.version != str(number):
        raise SpecError(
            "the model server was given another version than the one staged",
            [Problem("--version", "not the staged version", options.version, str(number))],
        )
    version = options.version or (str(number) if number is not None else "1")
    return name, version, (named,) if named and named != name else ()


class _Server(uvicorn.Server):
    """Uvicorn that says once when it serves."""

    def __init__(self, config: uvicorn.Config, line: str) -> None:
        super().__init__(config)
        self._line = line

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.started:
            print(self._line, flush=True)

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        await super().shutdown(sockets)
        # A stop that was asked for (SIGTERM from the backend's drain) ends with status 0:
        # uvicorn would raise the signal again once it has shut down, and the process would
        # read as killed.
        self._captured_signals.clear()


def main(argv: Sequence[str] | None = None) -> int:
    # soft_wrap: a replica's log is read by grep and by people, never cut at 80 columns.
    console = Console(stderr=True, soft_wrap=True)
    try:
        options = parse(argv)
        serving = prepare(options)
        sock = bind(options.host, options.port)
    except AiplaneError as exc:
        print_problems(console, exc.message, [p.__dict__ for p in exc.problems])
        return EXIT_BAD_INPUT
    host = f"[{options.host}]" if ":" in options.host else options.host
    url = f"http://{host}:{sock.getsockname()[1]}"
    served = f"{serving.name}@{serving.version} ({serving.model.platform})"
    line = f"aiplane model server: {served} ready at {url}"
    config = uvicorn.Config(create_app(serving), log_level="warning", access_log=False, workers=1)
    with sock:
        _Server(config, line).run(sockets=[sock])
    return 0


if __name__ == "__main__":
    sys.exit(main())
