"""`aiplane models approve|approvals|promote|history|share` and `aiplane models policy ...`:
who may move a model's aliases, who did, and with which approvals. The commands join the
``models`` group of ``commands/models.py``; ``cli/main.py`` mounts it as ``models_group``."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer
from rich.markup import escape

from aiplane.cli.arguments import TIME_FORMS, instant
from aiplane.cli.commands.models import JsonOpt, RefArg, app
from aiplane.cli.connection import connect
from aiplane.cli.errors import handled
from aiplane.cli.output import console, print_json, table, when
from aiplane.core.errors import Problem, SpecError
from aiplane.wire.registry import HoldingOut, PolicyOut

policy_app = typer.Typer(
    help="Promotion policies (YAML): what it takes to move each alias of a model, per model "
    "or per team; changing one is audited.",
    no_args_is_help=True,
)
app.add_typer(policy_app, name="policy")
# The whole `models` group: the commands of models.py with those below added (cli/main.py).
models_group = app

NameArg = Annotated[str, typer.Argument(help="the model")]
TeamArg = Annotated[str, typer.Argument(help="the team")]
PolicyFile = Annotated[
    Path, typer.Argument(exists=True, dir_okay=False, help="the policy document, YAML")
]


@app.command("approve")
@handled
def approve(
    ref: RefArg,
    alias: Annotated[str, typer.Option("--for", help="the alias it is approved for")],
    comment: Annotated[str, typer.Option("--comment", help="why")] = "",
    as_json: JsonOpt = False,
) -> None:
    """Approve a version for an alias (an approver of the model's team, never its author).

    Example: aiplane models approve fraud@7 --for production --comment "shadow week clean"
    """
    approval = connect().models.approve(ref, alias, comment)
    if as_json:
        print_json(approval)
        return
    console.print(
        f"{escape(approval.by)} approved {escape(approval.model)}@{approval.version} "
        f"for {escape(approval.alias)}",
        highlight=False,
    )


@app.command("approvals")
@handled
def approvals(ref: RefArg, as_json: JsonOpt = False) -> None:
    """The approvals a version has, for each alias."""
    found = connect().models.approvals(ref)
    if as_json:
        print_json(found)
        return
    rows = [[a.alias, a.by, when(a.at), a.comment] for a in found]
    table(None, ["alias", "by", "at", "comment"], rows)


def moves_of(ref: str | None, to: str | None, moves: list[str] | None) -> list[tuple[str, str]]:
    """``REF --to ALIAS`` and each ``--move REF=ALIAS``, in the order given; every bad one
    named."""
    problems: list[Problem] = []
    found: list[tuple[str, str]] = []
    if ref is not None and to is None:
        problems.append(Problem("--to", "missing", ref, "REF --to ALIAS"))
    elif ref is None and to is not None:
        problems.append(Problem("ref", "missing", f"--to {to}", "REF --to ALIAS"))
    elif ref is not None and to is not None:
        found.append((ref, to))
    for text in moves or ():
        left, sep, right = text.rpartition("=")
        if not sep or not left.strip() or not right.strip():
            problems.append(Problem("--move", "not REF=ALIAS", repr(text), "fraud@7=production"))
        else:
            found.append((left.strip(), right.strip()))
    if not found and not problems:
        problems.append(
            Problem("ref", "no move given", None, "REF --to ALIAS, or --move REF=ALIAS ...")
        )
    if problems:
        raise SpecError("invalid promotion", problems)
    return found


@app.command("promote")
@handled
def promote(
    ref: Annotated[
        str | None, typer.Argument(help="the version to move: NAME@N (or NAME@ALIAS)")
    ] = None,
    to: Annotated[str | None, typer.Option("--to", help="the alias to move to REF")] = None,
    move: Annotated[
        list[str] | None,
        typer.Option("--move", help="another move, REF=ALIAS (repeat: all move or none)"),
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """Move aliases under the model's policy: all the moves or none.

    Each move is checked against its model's policy (evaluations, approvals, signature,
    lineage, jurisdictions). On a refusal every rule that failed is printed, and the exit
    code is 1.

    Examples:

      aiplane models promote fraud@7 --to production

      aiplane models promote --move fraud@7=production --move churn@3=production
    """
    requested = moves_of(ref, to, move)
    done = connect().models.promote(requested)
    if as_json:
        print_json(done)
        return
    for m in done:
        before = f" (was {m.previous})" if m.previous is not None else ""
        console.print(
            f"{escape(m.model)}@{escape(m.alias)} -> {m.version}{before}, by {escape(m.by)}",
            highlight=False,
        )


def _period_rows(periods: list[HoldingOut]) -> list[list[object]]:
    return [
        [
            p.alias,
            p.version if p.version is not None else "(removed)",
            when(p.since),
            when(p.until) if p.until is not None else "now",
            p.by,
            ", ".join(p.approvals),
            p.previous if p.previous is not None else "-",
        ]
        for p in periods
    ]


@app.command("history")
@handled
def history(
    name: NameArg,
    alias: Annotated[str | None, typer.Option("--alias", help="only this alias")] = None,
    at: Annotated[
        str | None, typer.Option("--at", help=f"what each alias held at this time: {TIME_FORMS}")
    ] = None,
    as_json: JsonOpt = False,
) -> None:
    """What each alias of the model held and when, or (--at) what it held at a time.

    Every period, oldest first: the version, from when until when, who moved it there with
    which approvals, and the version before. With --at: the period in force then.

    Examples:

      aiplane models history fraud --alias production

      aiplane models history fraud --alias production --at 2026-03-01T12:00Z
    """
    moment = instant(at, "--at")
    found = connect().models.history(name, alias=alias, at=moment)
    if as_json:
        print_json(found)
        return
    if moment is None:
        columns = ["alias", "version", "since", "until", "moved by", "approvals", "previous"]
        table(None, columns, _period_rows(found.items))
        return
    if not found.items:
        held = f"alias {alias}" if alias else "any alias"
        console.print(f"at {when(moment)}: {escape(name)} had no version under {escape(held)}")
        return
    for p in found.items:
        holding = f"version {p.version}" if p.version is not None else "no version (removed)"
        approved = ", ".join(p.approvals) or "none"
        console.print(
            f"at {when(moment)}: {escape(name)}@{escape(p.alias)} held {holding}, "
            f"moved there {when(p.since)} by {escape(p.by)}; approvals: {escape(approved)}",
            highlight=False,
        )


def _print_policy(found: PolicyOut, scope: str, name: str, as_json: bool) -> None:
    """Which policy is in force (its own, the team's, the default) and its document."""
    if as_json:
        print_json(found)
        return
    import yaml

    asked = f"{scope} {name}"
    if found.scope is None:
        source = "the default policy"
    elif (found.scope, found.name) == (scope, name):
        source = f"its own policy, revision {found.revision}"
    else:
        source = f"the policy of {found.scope} {found.name}, revision {found.revision}"
    if found.scope is not None:
        source += f", set {when(found.updated_at)} by {found.updated_by}"
    console.print(f"{escape(asked)}: {escape(source)}", highlight=False)
    console.print(f"protected aliases: {escape(', '.join(found.protected)) or 'none'}")
    if found.document is not None:
        console.print(
            escape(yaml.safe_dump(found.document, sort_keys=False)), highlight=False, end=""
        )


def _read_policy(path: Path) -> dict[str, Any]:
    """The YAML document (each syntax problem named by line); its rules are the server's to
    check, which names them by ``FILE: aliases.<alias>...``."""
    from aiplane.specs import read_yaml

    return read_yaml(path)


@policy_app.command("show")
@handled
def policy_show(name: NameArg, as_json: JsonOpt = False) -> None:
    """The policy in force for a model: its own, else its team's, else the default."""
    _print_policy(connect().models.policy(name), "model", name, as_json)


@policy_app.command("set")
@handled
def policy_set(name: NameArg, file: PolicyFile, as_json: JsonOpt = False) -> None:
    """Set a model's own policy from FILE (the team's owners, or an admin; audited).

    Example policy.yaml:

      aliases:
        production: {protected: true, approvals: 2, lineage: required,
                     evaluations: [{metric: auc, min: 0.9}, {metric: auc, min_delta: 0}]}
    """
    document = _read_policy(file)
    found = connect().models.set_policy(name, document, source=file.name)
    _print_policy(found, "model", name, as_json)


@policy_app.command("show-team")
@handled
def policy_show_team(team: TeamArg, as_json: JsonOpt = False) -> None:
    """A team's policy for its models (a model's own policy replaces it)."""
    _print_policy(connect().models.team_policy(team), "team", team, as_json)


@policy_app.command("set-team")
@handled
def policy_set_team(team: TeamArg, file: PolicyFile, as_json: JsonOpt = False) -> None:
    """Set a team's policy for its models from FILE (its owners, or an admin; audited)."""
    document = _read_policy(file)
    found = connect().models.set_team_policy(team, document, source=file.name)
    _print_policy(found, "team", team, as_json)


@app.command("share")
@handled
def share(
    name: NameArg,
    teams: Annotated[
        list[str], typer.Option("--with", help="a team that may read its protected aliases")
    ],
    as_json: JsonOpt = False,
) -> None:
    """Let other teams read what the model's protected aliases hold.

    The versions that production (and any protected alias) holds; the list replaces the
    one before.

    Example: aiplane models share fraud --with payments --with support
    """
    model = connect().models.share(name, teams)
    if as_json:
        print_json(model)
        return
    console.print(
        f"{escape(model.name)} shared with {escape(', '.join(model.shared_with)) or 'no team'}"
    )
