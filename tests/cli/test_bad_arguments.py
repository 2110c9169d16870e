"""Every command of the CLI, found by walking the Typer app, driven with bad arguments: a
clear message naming the argument or path, a non-zero exit (2 for bad input, 3 when the
control plane cannot be reached) and never a traceback.

All in-process and without a server: AIPLANE_URL names a port nothing listens on, starting
starting a process (how a local control plane starts) or ``aiplane up``'s exec
fails the test, and each simulate/plan row
samples three jobs, so a row that is not refused still ends quickly (and fails).
"""

from __future__ import annotations

import os
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any, NamedTuple

import pytest
from typer.main import get_command
from typer.testing import CliRunner

from aiplane.cli.main import app

ROOT = Path(__file__).resolve().parents[2]
TRACE = str(ROOT / "tests/sim/data/philly-sample.csv")
FLEET = str(ROOT / "examples/fleet-philly.yaml")
HYBRID = str(ROOT / "examples/fleet-hybrid.yaml")
RECORDING = str(ROOT / "tests/telemetry/data/h200-phases.jsonl")
WORKLOAD = str(ROOT / "examples/workloads/train-logreg.yaml")
ENDPOINT = str(ROOT / "examples/endpoints/fraud.yaml")
# Root passes permission bits, so "unwritable" is a place no one can create a file in.
PROC = "/proc/aiplane-no-such-dir"

BAD_INPUT, UNREACHABLE = 2, 3


class Row(NamedTuple):
    argv: list[str]
    exit_code: int
    needle: str  # what the message must name (formatted like argv)
    env: dict[str, str | None] | None = None


SIM = ["--trace", TRACE, "--fleet", FLEET, "--policy", "fifo", "--sample", "3", "--json"]
PLAN = ["--trace", TRACE, "--fleet", FLEET, "--candidate", "reserve:V100:gpus=4"]
PLAN += ["--sample", "3", "--json"]
OUT = "{tmp}/out.csv"
REG = ["m", "--path", "{dir}", "--team", "t"]
NO_SERVER = Row([], UNREACHABLE, "cannot reach")

# One list per command; a command without one fails test_every_command_has_rows.
ROWS: dict[str, list[Row]] = {
    "up": [
        Row(["--port", "70000"], BAD_INPUT, "--port"),
        Row(["--port", "-1"], BAD_INPUT, "--port"),
    ],
    "down": [
        Row(["--timeout", "-1"], BAD_INPUT, "--timeout"),
        Row(["--timeout", "inf"], BAD_INPUT, "--timeout"),
        Row([], BAD_INPUT, "AIPLANE_HOME", {"AIPLANE_HOME": "{file}"}),
    ],
    "gateway": [
        Row(["--port", "70000"], BAD_INPUT, "--port"),
        Row(["--control-plane", "ftp://example.org"], BAD_INPUT, "--control-plane"),
        Row(["--control-plane", "http://127.0.0.1:99999"], BAD_INPUT, "--control-plane"),
        Row(["--redis-url", "http://127.0.0.1:6379"], BAD_INPUT, "--redis-url"),
        Row(["--redis-url", "redis://127.0.0.1:99999"], BAD_INPUT, "--redis-url"),
        Row(["--nats-url", "nats://"], BAD_INPUT, "--nats-url"),
        Row([], BAD_INPUT, "AIPLANE_REDIS_URL", {"AIPLANE_REDIS_URL": "localhost"}),
        Row(["--token-file", "{missing}"], BAD_INPUT, "--token-file"),
        Row(["--token-file", "{dir}"], BAD_INPUT, "--token-file"),
        Row([], BAD_INPUT, "AIPLANE_TOKEN_FILE", {"AIPLANE_TOKEN_FILE": "{missing}"}),
        Row(["--log-dir", "{file}"], BAD_INPUT, "--log-dir"),
        Row(
            ["--control-plane", "http://127.0.0.1:9"],
            BAD_INPUT,
            "--token-file",
            {"AIPLANE_TOKEN": None},
        ),
    ],
    "demo": [
        Row(["--examples", "{missing}"], BAD_INPUT, "--examples"),
        Row(["--examples", "{file}"], BAD_INPUT, "--examples"),
        Row(["--timeout", "-5"], BAD_INPUT, "--timeout"),
        Row(["--timeout", "nan"], BAD_INPUT, "--timeout"),
    ],
    "submit": [
        Row([], BAD_INPUT, "'file'"),
        Row(["{missing}"], BAD_INPUT, "{missing}"),
        Row(["{dir}"], BAD_INPUT, "is a directory"),
        Row(["{file}"], BAD_INPUT, "{file}"),
        # A dry run queues nothing: a key for it is refused before the file is even read.
        Row(["--dry-run"], BAD_INPUT, "'file'"),
        Row(["{file}", "--dry-run", "--idempotency-key", "k"], BAD_INPUT, "--idempotency-key"),
        Row([WORKLOAD, "--dry-run", "--idempotency-key", "k"], BAD_INPUT, "--dry-run"),
        Row([WORKLOAD, "--dry-run"], UNREACHABLE, "cannot reach"),
    ],
    "simulate": [
        Row([], BAD_INPUT, "--trace"),
        Row([*SIM, "--trace", "{missing}"], BAD_INPUT, "{missing}"),
        Row([*SIM, "--trace", "{dir}"], BAD_INPUT, "{dir}"),
        Row([*SIM, "--fleet", "{missing}"], BAD_INPUT, "{missing}"),
        Row([*SIM, "--sample", "-3"], BAD_INPUT, "--sample"),
        Row([*SIM, "--sample", "0"], BAD_INPUT, "--sample"),
        Row([*SIM, "--window", "5:1"], BAD_INPUT, "--window"),
        Row([*SIM, "--window", "3:3"], BAD_INPUT, "--window"),
        Row([*SIM, "--window", ""], BAD_INPUT, "--window"),
        Row([*SIM, "--window", "100d:200d"], BAD_INPUT, "--window"),
        Row([*SIM, "--window", "soon"], BAD_INPUT, "--window"),
        Row([*SIM, "--load-factor", "nan"], BAD_INPUT, "--load-factor"),
        Row([*SIM, "--load-factor", "inf"], BAD_INPUT, "--load-factor"),
        Row([*SIM, "--load-factor", "-1"], BAD_INPUT, "--load-factor"),
        Row([*SIM, "--min-duration", "-5"], BAD_INPUT, "--min-duration"),
        Row([*SIM, "--checkpoint-minutes", "-5"], BAD_INPUT, "--checkpoint-minutes"),
        Row([*SIM, "--cycle-interval", "-1"], BAD_INPUT, "--cycle-interval"),
        Row([*SIM, "--speed", "V100=-1"], BAD_INPUT, "--speed"),
        Row([*SIM, "--speed", "V100"], BAD_INPUT, "--speed"),
        Row([*SIM, "--setting", "nonsense"], BAD_INPUT, "--setting"),
        Row([*SIM, "--policy", "bogus"], BAD_INPUT, "--policy"),
        Row([*SIM, "--map", "bogus"], BAD_INPUT, "--map"),
        Row([*SIM, "--out", "{file}"], BAD_INPUT, "--out"),
        Row([*SIM, "--out", "{under_file}"], BAD_INPUT, "--out"),
        Row([*SIM, "--out", PROC], BAD_INPUT, "--out"),
    ],
    "plan": [
        Row([], BAD_INPUT, "--trace"),
        Row([*PLAN, "--trace", "{missing}"], BAD_INPUT, "--trace"),
        Row([*PLAN, "--fleet", "{dir}"], BAD_INPUT, "{dir}"),
        Row([*PLAN, "--value-of-time", "-1"], BAD_INPUT, "--value-of-time"),
        Row([*PLAN, "--value-of-time", "inf"], BAD_INPUT, "--value-of-time"),
        Row([*PLAN, "--window", "5:1"], BAD_INPUT, "--window"),
        Row([*PLAN, "--sample", "-1"], BAD_INPUT, "--sample"),
        Row([*PLAN, "--policy", "bogus"], BAD_INPUT, "--policy"),
    ],
    "whoami": [
        NO_SERVER,
        Row([], BAD_INPUT, "AIPLANE_URL", {"AIPLANE_URL": "not-a-url"}),
        Row([], BAD_INPUT, "AIPLANE_URL", {"AIPLANE_URL": "ftp://example.org"}),
        Row([], BAD_INPUT, "AIPLANE_URL", {"AIPLANE_URL": "http://[::1"}),
        Row([], BAD_INPUT, "AIPLANE_URL", {"AIPLANE_URL": "http://127.0.0.1:99999"}),
        Row(
            [],
            BAD_INPUT,
            "AIPLANE_TOKEN_FILE",
            {"AIPLANE_TOKEN": None, "AIPLANE_TOKEN_FILE": "{dir}"},
        ),
        Row([], BAD_INPUT, "AIPLANE_HOME", {"AIPLANE_URL": None, "AIPLANE_HOME": "{file}"}),
        Row([], BAD_INPUT, "AIPLANE_HOME", {"AIPLANE_URL": None, "AIPLANE_HOME": "{under_file}"}),
        Row([], BAD_INPUT, "AIPLANE_HOME", {"AIPLANE_URL": None, "AIPLANE_HOME": PROC}),
    ],
    "fleet apply": [
        Row([], BAD_INPUT, "'file'"),
        Row(["{missing}"], BAD_INPUT, "{missing}"),
        Row(["{dir}"], BAD_INPUT, "is a directory"),
        Row([HYBRID, "--catalog", "{missing}"], BAD_INPUT, "{missing}"),
        Row([HYBRID], UNREACHABLE, "cannot reach"),
    ],
    "fleet list": [NO_SERVER],
    "endpoints apply": [
        Row([], BAD_INPUT, "'file'"),
        Row(["{missing}"], BAD_INPUT, "{missing}"),
        Row(["{dir}"], BAD_INPUT, "is a directory"),
        Row(["{file}"], BAD_INPUT, "{file}"),
        Row([ENDPOINT], UNREACHABLE, "cannot reach"),
    ],
    "endpoints list": [NO_SERVER],
    "endpoints show": [Row([], BAD_INPUT, "'name'"), Row(["e"], UNREACHABLE, "cannot reach")],
    "endpoints delete": [Row([], BAD_INPUT, "'name'"), Row(["e"], UNREACHABLE, "cannot reach")],
    "fleet show": [NO_SERVER],
    "jobs list": [Row(["--limit", "0"], BAD_INPUT, "--limit"), NO_SERVER],
    "jobs show": [Row([], BAD_INPUT, "'job_id'"), Row(["j-1"], UNREACHABLE, "cannot reach")],
    "jobs logs": [
        Row([], BAD_INPUT, "'job_id'"),
        Row(["j-1", "--tail", "0"], BAD_INPUT, "--tail"),
        Row(["j-1", "--replica", "-1"], BAD_INPUT, "--replica"),
        Row(["j-1"], UNREACHABLE, "cannot reach"),
    ],
    "jobs cancel": [Row([], BAD_INPUT, "'job_id'"), Row(["j-1"], UNREACHABLE, "cannot reach")],
    "jobs explain": [Row([], BAD_INPUT, "'job_id'"), Row(["j-1"], UNREACHABLE, "cannot reach")],
    "tokens create": [
        Row([], BAD_INPUT, "'name'"),
        Row(["ci", "--expires", "0d"], BAD_INPUT, "--expires"),
        Row(["ci", "--expires", "soon"], BAD_INPUT, "--expires"),
        Row(["ci"], UNREACHABLE, "cannot reach"),
    ],
    "tokens list": [NO_SERVER],
    "tokens revoke": [
        Row([], BAD_INPUT, "'token_id'"),
        Row(["tok-1"], UNREACHABLE, "cannot reach"),
    ],
    "users list": [NO_SERVER],
    "users create": [Row([], BAD_INPUT, "'name'"), Row(["bob"], UNREACHABLE, "cannot reach")],
    "users show": [Row([], BAD_INPUT, "'name'"), Row(["bob"], UNREACHABLE, "cannot reach")],
    "users update": [
        Row([], BAD_INPUT, "'name'"),
        Row(["bob"], BAD_INPUT, "--role"),
        Row(["bob", "--role", "admin"], UNREACHABLE, "cannot reach"),
    ],
    "teams members list": [Row([], BAD_INPUT, "'team'"), Row(["ml"], UNREACHABLE, "cannot reach")],
    "teams members add": [
        Row(["ml"], BAD_INPUT, "'name'"),
        Row(["ml", "bob"], UNREACHABLE, "cannot reach"),
    ],
    "teams members remove": [
        Row(["ml"], BAD_INPUT, "'name'"),
        Row(["ml", "bob"], UNREACHABLE, "cannot reach"),
    ],
    "cost report": [
        Row(["--from", "last tuesday"], BAD_INPUT, "--from"),
        Row(["--to", "nan"], BAD_INPUT, "--to"),
        Row(["--from", "2026-02-01", "--to", "2026-01-01"], BAD_INPUT, "--to"),
        Row(["--from", "2026-01-01", "--to", "2026-01-01"], BAD_INPUT, "--to"),
        NO_SERVER,
    ],
    "cost requests": [
        Row(["--from", "last tuesday"], BAD_INPUT, "--from"),
        Row(["--from", "2026-02-01", "--to", "2026-01-01"], BAD_INPUT, "--to"),
        NO_SERVER,
    ],
    "cost export": [
        Row([], BAD_INPUT, "--out"),
        Row(["--out", "{dir}"], BAD_INPUT, "is a directory"),
        Row(["--out", "{missing}/costs.csv"], BAD_INPUT, "does not exist"),
        Row(["--out", "{under_file}"], BAD_INPUT, "--out"),
        Row(["--out", f"{PROC}.csv"], BAD_INPUT, "--out"),
        Row(["--out", OUT, "--format", "xlsx"], BAD_INPUT, "--format"),
        Row(["--out", OUT, "--from", "2026-02-01", "--to", "2026-01-01"], BAD_INPUT, "--to"),
        Row(["--out", OUT], UNREACHABLE, "cannot reach"),
    ],
    "cost budgets": [NO_SERVER],
    "cost alerts": [NO_SERVER],
    "cost anomalies": [
        Row(["--from", "yesterday"], BAD_INPUT, "--from"),
        Row(["--from", "2026-02-01", "--to", "2026-01-01"], BAD_INPUT, "--to"),
        NO_SERVER,
    ],
    "cost forecast": [NO_SERVER],
    "cost waste": [
        Row([], BAD_INPUT, "--recording"),
        Row(["--recording", "{missing}"], BAD_INPUT, "--recording"),
        Row(["--recording", "{dir}"], BAD_INPUT, "--recording"),
        Row(["--recording", "{file}"], BAD_INPUT, "not a telemetry recording"),
        Row(["--recording", RECORDING, "--static", "{missing}"], BAD_INPUT, "--static"),
        Row(["--recording", RECORDING, "--static", "{dir}"], BAD_INPUT, "--static"),
        Row(["--recording", RECORDING, "--usd-per-gpu-hour", "-1"], BAD_INPUT, "--usd-per-gpu"),
        Row(["--recording", RECORDING, "--usd-per-gpu-hour", "inf"], BAD_INPUT, "--usd-per-gpu"),
        Row(["--recording", RECORDING, "--min-duration", "-5m"], BAD_INPUT, "--min-duration"),
    ],
    "audit log": [
        Row(["--since", "monday"], BAD_INPUT, "--since"),
        Row(["--limit", "0"], BAD_INPUT, "--limit"),
        NO_SERVER,
    ],
    # The head's form is the server's to check (400, exit 2 when it answers).
    "audit verify": [Row(["--expect", "garbage"], UNREACHABLE, "cannot reach"), NO_SERVER],
    "audit export": [
        Row(["-o", "{dir}"], BAD_INPUT, "is a directory"),
        Row(["-o", "{under_file}"], BAD_INPUT, "--output"),
        Row(["-o", PROC], BAD_INPUT, "--output"),
        NO_SERVER,
    ],
    "models register": [
        Row([], BAD_INPUT, "'name'"),
        Row(["m", "--team", "t"], BAD_INPUT, "--path"),
        Row(["m", "--path", "{dir}"], BAD_INPUT, "--team"),
        Row(["m", "--path", "{missing}", "--team", "t"], BAD_INPUT, "--path"),
        Row(["m", "--path", "{file}", "--team", "t"], BAD_INPUT, "--path"),
        Row([*REG, "--metric", "auc=x"], BAD_INPUT, "not a number"),
        Row([*REG, "--metric", "auc=nan"], BAD_INPUT, "--metric auc"),
        Row([*REG, "--metric", "auc"], BAD_INPUT, "--metric"),
        Row([*REG, "--param", "=1"], BAD_INPUT, "--param"),
        Row([*REG, "--tag", "a=1", "--tag", "a=2"], BAD_INPUT, "given twice"),
        Row([*REG, "--flavor", "keras"], BAD_INPUT, "--flavor"),
        Row([*REG, "--signature", "{missing}"], BAD_INPUT, "--signature"),
        Row([*REG, "--signature", "{file}"], BAD_INPUT, "{file}:1:1"),
        Row([*REG, "--metric", "auc=0.9"], UNREACHABLE, "cannot reach"),
    ],
    "models list": [NO_SERVER],
    "models show": [Row([], BAD_INPUT, "'name'"), Row(["m"], UNREACHABLE, "cannot reach")],
    "models versions": [
        Row(["m", "--limit", "0"], BAD_INPUT, "--limit"),
        Row(["m"], UNREACHABLE, "cannot reach"),
    ],
    "models get": [Row([], BAD_INPUT, "'ref'"), Row(["m@1"], UNREACHABLE, "cannot reach")],
    "models tag": [
        Row(["m@1"], BAD_INPUT, "nothing to change"),
        Row(["m@1", "stage"], BAD_INPUT, "KEY=VALUE"),
        Row(["m@1", "a=1", "--remove", "a"], BAD_INPUT, "--remove"),
        Row(["m@1", "a=1", "--remove", "b"], UNREACHABLE, "cannot reach"),
    ],
    "models download": [
        Row(["m@1"], BAD_INPUT, "--to"),
        Row(["m@1", "--to", "{file}"], BAD_INPUT, "--to"),
        Row(["m@1", "--to", "{tmp}/new"], UNREACHABLE, "cannot reach"),
    ],
    "models verify": [Row([], BAD_INPUT, "'ref'"), Row(["m@1"], UNREACHABLE, "cannot reach")],
    "models lineage": [
        Row(["m@1", "--format", "png"], BAD_INPUT, "--format"),
        Row(["m@1", "--format", "dot"], UNREACHABLE, "cannot reach"),
    ],
    "models import": [
        Row(["--team", "t"], BAD_INPUT, "--from-mlflow"),
        Row(["--from-mlflow", "{dir}"], BAD_INPUT, "--team"),
        Row(["--from-mlflow", "{dir}", "--team", "t"], UNREACHABLE, "cannot reach"),
    ],
    "models approve": [
        Row(["m@1"], BAD_INPUT, "--for"),
        Row(["m@1", "--for", "production"], UNREACHABLE, "cannot reach"),
    ],
    "models approvals": [Row([], BAD_INPUT, "'ref'"), Row(["m@1"], UNREACHABLE, "cannot reach")],
    "models promote": [
        Row([], BAD_INPUT, "no move given"),
        Row(["m@1"], BAD_INPUT, "--to"),
        Row(["--to", "production"], BAD_INPUT, "REF --to ALIAS"),
        Row(["--move", "m@1"], BAD_INPUT, "REF=ALIAS"),
        Row(["--move", "m@1=production", "--move", "=staging"], BAD_INPUT, "'=staging'"),
        Row(["m@1", "--to", "production", "--move", "n@2=production"], UNREACHABLE, "cannot"),
    ],
    "models history": [
        Row(["m", "--at", "yesterday"], BAD_INPUT, "--at"),
        Row(["m", "--at", "nan"], BAD_INPUT, "--at"),
        Row(["m", "--alias", "production", "--at", "2026-03-01"], UNREACHABLE, "cannot reach"),
    ],
    "models share": [
        Row(["m"], BAD_INPUT, "--with"),
        Row(["m", "--with", "t"], UNREACHABLE, "cannot reach"),
    ],
    "models policy show": [Row([], BAD_INPUT, "'name'"), Row(["m"], UNREACHABLE, "cannot")],
    "models policy set": [
        Row(["m"], BAD_INPUT, "'file'"),
        Row(["m", "{missing}"], BAD_INPUT, "{missing}"),
        Row(["m", "{dir}"], BAD_INPUT, "{dir}"),
        Row(["m", "{file}"], BAD_INPUT, "mapping"),
        Row(["m", WORKLOAD], UNREACHABLE, "cannot reach"),
    ],
    "models policy show-team": [Row([], BAD_INPUT, "'team'"), Row(["t"], UNREACHABLE, "cannot")],
    "models policy set-team": [
        Row(["t"], BAD_INPUT, "'file'"),
        Row(["t", "{file}"], BAD_INPUT, "mapping"),
        Row(["t", WORKLOAD], UNREACHABLE, "cannot reach"),
    ],
    "datasets register": [
        Row(["d", "--team", "t", "--site", "s"], BAD_INPUT, "--path"),
        Row(["d", "--path", "{dir}", "--team", "t"], BAD_INPUT, "--site"),
        Row(["d", "--path", "{file}", "--team", "t", "--site", "s"], BAD_INPUT, "--path"),
        Row(["d", "--path", "{dir}", "--team", "t", "--site", "s"], UNREACHABLE, "cannot reach"),
    ],
    "datasets list": [NO_SERVER],
    "datasets show": [Row([], BAD_INPUT, "'name'"), Row(["d"], UNREACHABLE, "cannot reach")],
    "datasets versions": [
        Row(["d", "--limit", "0"], BAD_INPUT, "--limit"),
        Row(["d"], UNREACHABLE, "cannot reach"),
    ],
    "datasets get": [Row([], BAD_INPUT, "'ref'"), Row(["d@1"], UNREACHABLE, "cannot reach")],
    "datasets download": [
        Row(["d@1"], BAD_INPUT, "--to"),
        Row(["d@1", "--to", "{file}"], BAD_INPUT, "--to"),
        Row(["d@1", "--to", "{tmp}/new"], UNREACHABLE, "cannot reach"),
    ],
    "datasets replica add": [
        Row(["d@1", "--uri", "s3://b/d"], BAD_INPUT, "--site"),
        Row(["d@1", "--site", "eu"], BAD_INPUT, "--uri"),
        Row(["d@1", "--site", "eu", "--uri", "s3://b/d"], UNREACHABLE, "cannot reach"),
    ],
    "guard scan": [
        Row([], BAD_INPUT, "'FILE'"),
        Row(["{missing}"], BAD_INPUT, "{missing}: does not exist"),
        Row(["{dir}"], BAD_INPUT, "is a directory"),
        Row(["{jsonl}"], BAD_INPUT, "bad.jsonl:2: text: missing"),
        Row(["{file}", "--guards", "canary"], BAD_INPUT, "--guards: unknown (given: canary)"),
        Row(["{file}", "--guards", ","], BAD_INPUT, "--guards: empty"),
        Row(["{file}", "--pii-types", "ssn"], BAD_INPUT, "--pii-types"),
        Row(["{file}", "--guards", "injection", "--pii-types", "email"], BAD_INPUT, "--pii-types"),
        Row(["{file}", "--format", "csv"], BAD_INPUT, "--format"),
    ],
    "guard eval": [
        Row([], BAD_INPUT, "'FILE'"),
        Row(["{missing}"], BAD_INPUT, "{missing}: does not exist"),
        Row(["{dir}"], BAD_INPUT, "is a directory"),
        Row(["{file}"], BAD_INPUT, "a-file.txt:1: not JSON"),
        Row(["{jsonl}"], BAD_INPUT, "bad.jsonl:3: label: not 0 or 1"),
        Row(["{jsonl}", "--guards", "pii"], BAD_INPUT, "--guards"),
        Row(["{jsonl}", "--misses", "-1"], BAD_INPUT, "--misses"),
        Row(["{jsonl}", "--misses", "abc"], BAD_INPUT, "--misses"),
    ],
    "drift check": [
        Row([], BAD_INPUT, "'REFERENCE'"),
        Row(["{file}"], BAD_INPUT, "'CURRENT'"),
        Row(["{missing}", "{file}"], BAD_INPUT, "{missing}: no such file"),
        Row(["{file}", "{file}"], BAD_INPUT, "a-file.txt: not a Parquet or CSV file"),
        Row(["{dir}", "{file}"], BAD_INPUT, "a-dir: not a Parquet or CSV file"),
        Row(["{file}", "{file}", "--mode", "fast"], BAD_INPUT, "--mode"),
        Row(["{file}", "{file}", "--fdr", "2"], BAD_INPUT, "--fdr"),
        Row(["{file}", "{file}", "--columns", ","], BAD_INPUT, "--columns: empty"),
    ],
    "drift profile": [
        Row([], BAD_INPUT, "'REFERENCE'"),
        Row(["{file}"], BAD_INPUT, "--out"),
        Row(["{missing}", "-o", "{tmp}/p.json"], BAD_INPUT, "{missing}: no such file"),
        Row(["{file}", "-o", "{tmp}/p.txt"], BAD_INPUT, "--out: must end in .json"),
    ],
    "datasets used-by": [
        Row([], BAD_INPUT, "'ref'"),
        Row(["d@1", "--alias", "production"], UNREACHABLE, "cannot reach"),
    ],
}


def _commands(command: Any = None, path: tuple[str, ...] = ()) -> Iterator[tuple[str, Any]]:
    """Every leaf command of the app, as ``"cost export"`` and its Click command."""
    command = command if command is not None else get_command(app)
    subcommands = getattr(command, "commands", None)
    if subcommands is None:
        yield " ".join(path), command
        return
    for name, sub in subcommands.items():
        yield from _commands(sub, (*path, name))


COMMANDS = dict(_commands())


def test_every_command_has_rows() -> None:
    assert set(COMMANDS) - set(ROWS) == set(), "commands with no bad-argument rows"
    assert set(ROWS) - set(COMMANDS) == set(), "rows for commands that do not exist"


def _generated() -> Iterator[tuple[str, Row]]:
    """Rows every command gets by introspection: an unknown option, and a word where each of
    its numeric options wants a number."""
    for name, command in COMMANDS.items():
        yield name, Row(["--no-such-option"], BAD_INPUT, "--no-such-option")
        for param in command.params:
            if param.param_type_name == "option" and param.bare_type() in (int, float):
                yield name, Row([param.opts[-1], "abc"], BAD_INPUT, param.opts[-1])


CASES = [(name, row) for name, rows in ROWS.items() for row in rows] + list(_generated())


@pytest.fixture
def places(tmp_path: Path) -> dict[str, str]:
    (tmp_path / "a-file.txt").write_text("not what any command wants\n")
    (tmp_path / "a-dir").mkdir()
    (tmp_path / "bad.jsonl").write_text(
        '{"text": "hi", "label": 0}\n{"id": 2}\n{"text": "x", "label": 7}\n'
    )
    return {
        "jsonl": str(tmp_path / "bad.jsonl"),
        "tmp": str(tmp_path),
        "file": str(tmp_path / "a-file.txt"),
        "dir": str(tmp_path / "a-dir"),
        "missing": str(tmp_path / "missing"),
        "under_file": str(tmp_path / "a-file.txt" / "below"),
    }


@pytest.fixture(autouse=True)
def no_server(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("AIPLANE_URL", "http://127.0.0.1:9")
    monkeypatch.setenv("AIPLANE_TOKEN", "aip_unused")
    monkeypatch.setenv("AIPLANE_HOME", str(tmp_path / "home"))

    def refuse(*_: object, **__: object) -> None:
        raise AssertionError("the command went as far as starting a control plane")

    # matplotlib (``simulate --out``) may run fc-list when it first builds its font cache,
    # which an earlier test's fresh home can make happen here: load it before the guard.
    import matplotlib.font_manager  # noqa: F401

    monkeypatch.setattr(subprocess, "Popen", refuse)  # how a local control plane starts
    monkeypatch.setattr(os, "execv", refuse)  # ``aiplane up`` becomes the server by exec
    monkeypatch.setattr(os, "execve", refuse)  # ``aiplane gateway`` becomes the gateway so


def _id(command: str, row: Row) -> str:
    env = " ".join(f"{k}={v}" for k, v in (row.env or {}).items())
    return f"{command}: {' '.join(row.argv[-2:]) or env or '(nothing)'}"


@pytest.mark.parametrize(("command", "row"), CASES, ids=[_id(c, r) for c, r in CASES])
def test_a_bad_argument_is_refused_clearly(command: str, row: Row, places: dict[str, str]) -> None:
    argv = [*command.split(), *(a.format(**places) for a in row.argv)]
    env = {k: v.format(**places) if v else v for k, v in (row.env or {}).items()}
    result = CliRunner().invoke(app, argv, env=env)
    output = result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), (
        f"{result.exception!r} escaped: {output}"
    )
    assert "Traceback" not in output
    assert result.exit_code == row.exit_code, output
    # Rich wraps long lines where a test's terminal ends: compare without whitespace.
    assert "".join(row.needle.format(**places).split()) in "".join(output.split()), output
