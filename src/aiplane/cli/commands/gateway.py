"""`aiplane gateway`: the inference gateway alone, in front of a control plane elsewhere."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Annotated

import typer

from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.config import (
    INFERENCE_LOG_DIR,
    NATS_SCHEMES,
    REDIS_SCHEMES,
    home_from_setting,
    service_url,
    url_setting,
)
from aiplane.core.errors import Problem, SpecError
from aiplane.discovery import (
    DEFAULT_GATEWAY_PORT,
    GATEWAY_MODULE,
    GATEWAY_TOKEN_ENV,
    LocalHome,
)

HELP = """Run the inference gateway alone: the data path, in front of a control plane.

It serves the OpenAI-compatible API (/v1/chat/completions, /v1/completions, /v1/embeddings,
/v1/models) and the Open Inference Protocol (/v2/models/ENDPOINT/infer, ...) of every
endpoint, with its own /metrics. It reads the routing table from the control plane every
second and reports loads and denials back; while the control plane is away it keeps routing
with the last table.

Its credential must be allowed gateway.control: an operator's or an admin's token (make a
service account with the global role operator, and a token for it). With none of
--control-plane and AIPLANE_URL, it fronts the local control plane (started if need be) with
this user's local credentials.

Rate limits are kept in this process unless --redis-url names a Redis that several gateways
share; the inference log is written to SQLite files in --log-dir unless --nats-url names a
NATS JetStream server."""


@handled
def gateway(
    ctx: typer.Context,
    host: Annotated[str, typer.Option(help="address to listen on")] = "127.0.0.1",
    port: Annotated[
        int, typer.Option(min=0, max=65535, help="port to listen on (0: any free port)")
    ] = DEFAULT_GATEWAY_PORT,
    control_plane: Annotated[
        str | None,
        typer.Option(
            "--control-plane",
            metavar="URL",
            help="the control plane's URL; default: AIPLANE_URL, else the local one",
        ),
    ] = None,
    token_file: Annotated[
        Path | None,
        typer.Option(
            metavar="PATH",
            envvar="AIPLANE_TOKEN_FILE",
            help="a file holding the gateway's token; default: AIPLANE_TOKEN, else the "
            "local control plane's credentials",
        ),
    ] = None,
    redis_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL", envvar="AIPLANE_REDIS_URL", help="share rate limits through Redis"
        ),
    ] = None,
    nats_url: Annotated[
        str | None,
        typer.Option(
            metavar="URL",
            envvar="AIPLANE_NATS_URL",
            help="write the inference log to NATS JetStream",
        ),
    ] = None,
    log_dir: Annotated[
        Path | None,
        typer.Option(
            metavar="DIR",
            help=f"the inference log's directory; default: $AIPLANE_HOME/{INFERENCE_LOG_DIR}",
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option(help="print nothing but errors")] = False,
) -> None:
    # Every option checked here, each by its name, before the process is replaced.
    if redis_url:
        service_url(_named(ctx, "redis_url"), redis_url, REDIS_SCHEMES)
    if nats_url:
        service_url(_named(ctx, "nats_url"), nats_url, NATS_SCHEMES)
    directory = log_dir or home_from_setting() / INFERENCE_LOG_DIR
    if directory.exists() and not directory.is_dir():
        raise SpecError(
            "cannot write the inference log",
            [Problem("--log-dir", "is a file, not a directory", str(directory), "a directory")],
        )
    token = _read_token(token_file, _named(ctx, "token_file")) if token_file else None
    url, token = _control_plane(control_plane, token)
    if not token:
        raise SpecError(
            "the gateway needs a token allowed gateway.control (an operator's or an admin's)",
            [
                Problem(
                    "--token-file", "none given", None, "a file holding a token, or AIPLANE_TOKEN"
                )
            ],
        )
    args = [sys.executable, "-m", GATEWAY_MODULE, "--host", host, "--port", str(port)]
    args += ["--control-plane", url, "--log-dir", str(directory)]
    args += ["--redis-url", redis_url] if redis_url else []
    args += ["--nats-url", nats_url] if nats_url else []
    args += ["--quiet"] if quiet else []
    env = dict(os.environ)
    if token:
        env[GATEWAY_TOKEN_ENV] = token
    sys.stdout.flush()
    # The CLI becomes the gateway process (same pid, signals and terminal), as `aiplane up`
    # becomes the server: the CLI never loads the gateway's code itself.
    os.execve(sys.executable, args, env)  # noqa: S606 (a fixed argv, no shell)


def _named(ctx: typer.Context, param: str) -> str:
    """How the user gave ``param``: its option, or the variable it was read from."""
    option = next(p for p in ctx.command.params if p.name == param)
    source = ctx.get_parameter_source(param)
    # By name: Typer has a click of its own, whose enum this is.
    if source is not None and source.name == "ENVIRONMENT":
        return str(getattr(option, "envvar", None) or option.opts[0])
    return option.opts[0]


def _control_plane(given: str | None, token: str | None) -> tuple[str, str | None]:
    """The control plane's URL and the gateway's token (the file's, else AIPLANE_TOKEN, else
    the local credentials when the control plane is the local one)."""
    token = token or os.environ.get("AIPLANE_TOKEN") or None
    if given:
        return url_setting("--control-plane", given).rstrip("/"), token
    with connect() as client:  # AIPLANE_URL, else the local control plane, started if need be
        url = client.url
    if token is None and not os.environ.get("AIPLANE_URL"):
        token = LocalHome(home_from_setting()).token()
    return url, token


def _read_token(path: Path, named: str) -> str:
    try:
        text = path.read_text(encoding="utf-8").strip()
    except (OSError, UnicodeDecodeError) as exc:
        reason = getattr(exc, "strerror", None) or str(exc)
        raise SpecError(
            "cannot read the gateway's token",
            [Problem(named, reason, str(path), "a readable file holding a token")],
        ) from None
    if not text:
        raise SpecError(
            "cannot read the gateway's token",
            [Problem(named, "is empty", str(path), "a file holding a token")],
        )
    return text
