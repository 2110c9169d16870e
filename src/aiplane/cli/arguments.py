"""What the CLI checks of an argument before it connects or works: numbers that must be
finite, and cost and audit times, whose form and order are known here. The server stays the
authority on ranges; these checks make a typo exit 2 at once, with or without a server."""

from __future__ import annotations

import math
from datetime import UTC, datetime

import typer

from aiplane.core.errors import Problem, SpecError

TIME_FORMS = "YYYY-MM-DD[THH:MM[:SS]][Z], or epoch seconds"


def finite(value: float | None) -> float | None:
    """An option callback: ``inf`` and ``nan`` parse as floats, and no count or price is one."""
    if value is not None and not math.isfinite(value):
        raise typer.BadParameter(f"{value} is not a finite number")
    return value


def instant(text: str | None, option: str) -> float | None:
    """``text`` as epoch seconds (UTC unless it names an offset); None when not given."""
    if text is None:
        return None
    try:
        value = float(text)
    except ValueError:
        try:
            parsed = datetime.fromisoformat(text.strip())
            value = (parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)).timestamp()
        except (ValueError, OverflowError):
            value = math.nan
    if not math.isfinite(value):
        raise SpecError("bad time", [Problem(option, "not a time", repr(text), TIME_FORMS)])
    return value


def period(start: str | None, end: str | None) -> None:
    """``--from``/``--to``: each a time, and ``--from`` before ``--to`` when both are given (an
    empty or reversed period would otherwise read as a period with nothing in it)."""
    first, last = instant(start, "--from"), instant(end, "--to")
    if first is not None and last is not None and last <= first:
        raise SpecError(
            "empty period",
            [Problem("--to", "not after --from", f"{start} to {end}", "an end after the start")],
        )


def dry_run_alone(dry_run: bool, idempotency_key: str | None) -> None:
    """``submit --dry-run`` queues nothing, so an idempotency key has nothing to make safe:
    given both, the user meant one of them, and which is not ours to guess."""
    if dry_run and idempotency_key is not None:
        raise SpecError(
            "--idempotency-key with --dry-run",
            [
                Problem(
                    "--idempotency-key",
                    "not with --dry-run: a dry run queues nothing",
                    repr(idempotency_key),
                    "--dry-run alone, or a submission with --idempotency-key",
                )
            ],
        )


def pairs(values: list[str] | None, option: str) -> dict[str, str]:
    """Repeated ``k=v`` options (``--tag stage=eval``) as a mapping; each bad one named. A key
    given twice is refused: which of the two was meant is not ours to guess."""
    found: dict[str, str] = {}
    problems = []
    for text in values or ():
        key, sep, value = text.partition("=")
        key = key.strip()
        if not sep or not key:
            problems.append(Problem(option, "not KEY=VALUE", repr(text), "KEY=VALUE, e.g. a=1"))
        elif key in found:
            problems.append(Problem(option, f"{key!r} given twice", repr(text), "each key once"))
        else:
            found[key] = value
    if problems:
        raise SpecError(f"invalid {option}", problems)
    return found


def numbers(values: list[str] | None, option: str) -> dict[str, float]:
    """Repeated ``k=v`` options whose values are finite numbers (``--metric auc=0.91``)."""
    found: dict[str, float] = {}
    problems = []
    for key, text in pairs(values, option).items():
        try:
            value = float(text)
        except ValueError:
            value = math.nan
        if math.isfinite(value):
            found[key] = value
        else:
            problems.append(
                Problem(f"{option} {key}", "not a number", repr(text), "a finite number: 0.91")
            )
    if problems:
        raise SpecError(f"invalid {option}", problems)
    return found
