"""Workload specs: the examples, conversion details, and bad specs with exact problems."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from aiplane.core.accelerators import ACCELERATORS
from aiplane.core.errors import Problem
from aiplane.core.workloads import (
    PRIORITY_CLASSES,
    AcceleratorOption,
    SpotPolicy,
    Workload,
    WorkloadKind,
)
from aiplane.specs import load_fleet, load_workload, workload_from_document
from aiplane.specs.shorthand import COUNT_ALLOWED, SPEED_ALLOWED
from aiplane.specs.workload_models import (
    ENV_MAX_VARIABLES,
    ENV_VALUE_MAX_CHARS,
    LABEL_VALUE_MAX_CHARS,
    RUN_MAX_CHARS,
    WORKDIR_MAX_CHARS,
)

from .conftest import EXAMPLES, example, problems_of

WORKLOADS = sorted((EXAMPLES / "workloads").glob("*.yaml"))
GRAMMAR_ALLOWED = (
    "NAME[:COUNT][@SPEED], e.g. H100:8 or A100-80GB:8@0.45, a list of them, "
    "or absent for CPU-only work"
)


def minimal(**fields: Any) -> dict[str, Any]:
    return {"name": "w", "team": "research", "kind": "train", "run": "true", **fields}


def convert(document: dict[str, Any], workdir: str | None = None) -> Workload:
    return workload_from_document(document, "workload.yaml", workdir)


def test_examples_load_and_name_known_teams_and_datasets() -> None:
    fleet = load_fleet(EXAMPLES / "fleet-hybrid.yaml").fleet
    assert 4 <= len(WORKLOADS) <= 6  # the serving example is an endpoint now
    for path in WORKLOADS:
        workload = load_workload(path)
        assert workload.workdir == str(path.parent.resolve())
        assert fleet.team(workload.team) is not None
        assert all(fleet.dataset(name) is not None for name in workload.inputs)
        program = workload.run.split()[1]
        assert (path.parent / program).is_file(), workload.run


def test_finetune_example_is_a_heterogeneous_gang() -> None:
    workload = load_workload(EXAMPLES / "workloads" / "finetune-eu.yaml")
    assert workload.kind is WorkloadKind.FINETUNE
    assert workload.replicas == 3
    assert workload.accelerators == (
        AcceleratorOption("H100-80GB", 8, 1.0),
        AcceleratorOption("A100-80GB", 8, 0.45),
    )
    assert workload.inputs == ("clicks-eu",)
    assert workload.priority == PRIORITY_CLASSES["high"]
    assert workload.constraints.jurisdictions == ()


def test_batch_example() -> None:
    batch = load_workload(EXAMPLES / "workloads" / "batch-score.yaml")
    assert batch.accelerators == ()
    assert batch.options() == (None,)


def test_defaults() -> None:
    workload = convert(minimal())
    assert workload == Workload(name="w", team="research", kind=WorkloadKind.TRAIN, run="true")
    assert convert(minimal(allow_multi_site=False)) == workload  # false is what happens anyway


@pytest.mark.parametrize(
    ("given", "expected"),
    [("low", 100), ("critical", 10000), (0, 0), (750, 750)],
)
def test_priority(given: Any, expected: int) -> None:
    assert convert(minimal(priority=given)).priority == expected


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        (True, SpotPolicy.ALLOWED),
        (False, SpotPolicy.NEVER),
        ("required", SpotPolicy.REQUIRED),
        ("never", SpotPolicy.NEVER),
    ],
)
def test_spot(given: Any, expected: SpotPolicy) -> None:
    assert convert(minimal(spot=given)).spot is expected


def test_conversion_details() -> None:
    workload = convert(
        minimal(
            resources={"accelerators": "L4:0.5", "cpus": 2, "memory_gib": 3.5},
            env={"EPOCHS": 3, "DEBUG": True, "NAME": "x", "RATE": 0.5},
            constraints={
                "jurisdictions": ["EU"],
                "site_kinds": ["onprem", "edge"],
                "sites": ["onprem-local"],
                "max_usd_per_hour": 20,
                "latency_slo_ms": {"eu-users": 25},
            },
            inputs=["clicks-eu"],
            workdir="sub/dir",
            run="  python3 x.py  ",
        ),
        workdir="/base",
    )
    assert workload.accelerators == (AcceleratorOption("L4", 0.5, 1.0),)
    assert (workload.cpus, workload.memory_gib) == (2.0, 3.5)
    assert workload.env == {"EPOCHS": "3", "DEBUG": "true", "NAME": "x", "RATE": "0.5"}
    assert workload.constraints.site_kinds == ("onprem", "edge")
    assert workload.constraints.max_usd_per_hour == 20
    assert workload.workdir == str(Path("/base/sub/dir"))
    assert workload.run == "python3 x.py"
    assert convert(minimal(workdir="/abs"), workdir="/base").workdir == "/abs"


Doc = dict[str, Any]
KNOWN = ", ".join(ACCELERATORS)

CASES: list[tuple[str, Callable[[Doc], object], Problem]] = [
    (
        "accelerator count not a number",
        lambda d: d["resources"].update(accelerators="H100:x"),
        Problem(
            "workload.yaml: resources.accelerators",
            "count 'x' is not a number",
            "'H100:x'",
            COUNT_ALLOWED,
        ),
    ),
    (
        "accelerator speed zero",
        lambda d: d["resources"].update(accelerators="H100:8@0"),
        Problem(
            "workload.yaml: resources.accelerators",
            "speed '0' is out of range",
            "'H100:8@0'",
            SPEED_ALLOWED,
        ),
    ),
    (
        "negative accelerator count",
        lambda d: d["resources"].update(accelerators="H100:-1"),
        Problem(
            "workload.yaml: resources.accelerators",
            "count '-1' is not allowed",
            "'H100:-1'",
            COUNT_ALLOWED,
        ),
    ),
    (
        "unknown accelerator in a list",
        lambda d: d["resources"].update(accelerators=["H100:8", "MI300X:8"]),
        Problem(
            "workload.yaml: resources.accelerators[1]",
            "unknown accelerator type 'MI300X'",
            "'MI300X:8'",
            KNOWN,
        ),
    ),
    (
        "the same accelerator twice",
        lambda d: d["resources"].update(accelerators=["H100:8", "H100-80GB:4"]),
        Problem(
            "workload.yaml: resources.accelerators[1]",
            "H100-80GB is listed twice",
            "'H100-80GB:4'",
            "each accelerator type once",
        ),
    ),
    (
        "accelerators not a string or list",
        lambda d: d["resources"].update(accelerators=8),
        Problem(
            "workload.yaml: resources.accelerators",
            "expected an accelerator string or a non-empty list of them",
            "8",
            GRAMMAR_ALLOWED,
        ),
    ),
    (
        "replicas 0",
        lambda d: d.update(replicas=0),
        Problem(
            "workload.yaml: replicas",
            "must be greater than or equal to 1",
            "0",
            "a whole number >= 1",
        ),
    ),
    (
        "missing run",
        lambda d: d.pop("run"),
        Problem(
            "workload.yaml: run",
            "required field is missing",
            None,
            f"a non-empty shell command of at most {RUN_MAX_CHARS} characters",
        ),
    ),
    (
        "blank run",
        lambda d: d.update(run="   "),
        Problem("workload.yaml: run", "the command is empty", "'   '", "a non-empty shell command"),
    ),
    (
        "bad kind",
        lambda d: d.update(kind="training"),
        Problem(
            "workload.yaml: kind",
            "not one of the allowed values",
            "'training'",
            "train, finetune, batch, serve",
        ),
    ),
    (
        "bad priority",
        lambda d: d.update(priority="urgent"),
        Problem(
            "workload.yaml: priority",
            "not a priority class or a whole number >= 0",
            "'urgent'",
            "low, normal, high, critical, or a whole number >= 0",
        ),
    ),
    (
        "bad spot policy",
        lambda d: d.update(spot="sometimes"),
        Problem(
            "workload.yaml: spot",
            "not one of the allowed values",
            "'sometimes'",
            "never, allowed, required",
        ),
    ),
    (
        "misspelt resources field",
        lambda d: d["resources"].update(cpu=4),
        Problem(
            "workload.yaml: resources.cpu",
            "unknown field; did you mean 'cpus'?",
            "'cpu'",
            "accelerators, cpus, memory_gib, limits",
        ),
    ),
    (
        "bad site kind in constraints",
        lambda d: d.update(constraints={"site_kinds": ["cloud", "space"]}),
        Problem(
            "workload.yaml: constraints.site_kinds[1]",
            "not one of the allowed values",
            "'space'",
            "cloud, onprem, edge",
        ),
    ),
    (
        "zero latency SLO",
        lambda d: d.update(constraints={"latency_slo_ms": {"eu-users": 0}}),
        Problem(
            "workload.yaml: constraints.latency_slo_ms.eu-users",
            "must be greater than 0",
            "0",
            "a mapping of user region -> milliseconds (numbers > 0)",
        ),
    ),
    (
        "bad env name",
        lambda d: d.update(env={"1X": "y"}),
        Problem(
            "workload.yaml: env.1X",
            "not a valid environment variable name",
            "'1X'",
            "letters, digits and '_', not starting with a digit",
        ),
    ),
    (
        "multi-site placement asked for",
        lambda d: d.update(allow_multi_site=True),
        Problem(
            "workload.yaml: allow_multi_site",
            "not supported: a run is placed in one pool today, so its replicas never span sites",
            "True",
            "false (or leave it out)",
        ),
    ),
]


@pytest.mark.parametrize(("mutate", "expected"), [c[1:] for c in CASES], ids=[c[0] for c in CASES])
def test_bad_workload(mutate: Callable[[Doc], object], expected: Problem) -> None:
    document = example("workloads/finetune-eu.yaml")
    mutate(document)
    assert problems_of(lambda: convert(document)) == [expected]


def test_several_problems_are_reported_at_once() -> None:
    document = example("workloads/finetune-eu.yaml")
    del document["run"]
    document["replicas"] = 0
    document["kind"] = "x"
    problems = problems_of(lambda: convert(document))
    assert [p.location for p in problems] == [
        "workload.yaml: kind",
        "workload.yaml: run",
        "workload.yaml: replicas",
    ]
    document = example("workloads/finetune-eu.yaml")
    document["resources"]["accelerators"] = ["H100:x", "A100:8@0", "L4"]
    document["run"] = ""
    problems = problems_of(lambda: convert(document))
    assert [p.location for p in problems] == [
        "workload.yaml: resources.accelerators[0]",
        "workload.yaml: resources.accelerators[1]",
        "workload.yaml: run",
    ]


# -- hostile values (decision 0028) ----------------------------------------------------------


@pytest.mark.parametrize("literal", [".inf", "-.inf", ".nan"])
def test_a_non_finite_number_in_yaml_is_refused_at_its_field(tmp_path: Path, literal: str) -> None:
    path = tmp_path / "workload.yaml"
    path.write_text(
        "name: w\nteam: research\nkind: train\nrun: 'true'\n"
        f"resources:\n  cpus: {literal}\nestimated_hours: {literal}\n"
    )
    problems = problems_of(lambda: load_workload(path))
    where = {p.location: p.message for p in problems}
    assert where == {
        f"{path}: resources.cpus": "must be a finite number",
        f"{path}: estimated_hours": "must be a finite number",
    }


@pytest.mark.parametrize(
    ("fields", "location"),
    [
        ({"run": "x" * (RUN_MAX_CHARS + 1)}, "workload.yaml: run"),
        ({"env": {"BIG": "x" * (ENV_VALUE_MAX_CHARS + 1)}}, "workload.yaml: env.BIG"),
        ({"env": {f"V{i}": "1" for i in range(ENV_MAX_VARIABLES + 1)}}, "workload.yaml: env"),
        ({"workdir": "/" + "d" * WORKDIR_MAX_CHARS}, "workload.yaml: workdir"),
        ({"labels": {"model": "m" * (LABEL_VALUE_MAX_CHARS + 1)}}, "workload.yaml: labels.model"),
    ],
)
def test_free_text_fields_are_bounded(fields: dict[str, Any], location: str) -> None:
    problems = problems_of(lambda: convert(minimal(**fields)))
    assert [p.location for p in problems] == [location]


def test_free_text_at_its_bounds_is_accepted() -> None:
    workload = convert(
        minimal(
            run="x" * RUN_MAX_CHARS,
            env={f"V{i}": "y" * ENV_VALUE_MAX_CHARS for i in range(ENV_MAX_VARIABLES)},
            labels={"model": "m" * LABEL_VALUE_MAX_CHARS},
        )
    )
    assert len(workload.env) == ENV_MAX_VARIABLES
