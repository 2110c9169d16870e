"""The pure rules of an import from MLflow: names, stages and aliases, flavours, signatures."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aiplane.core.errors import SpecError
from aiplane.core.registry.imports import (
    ImportedModel,
    flavor_from_mlflow,
    io_signature,
    local_alias,
    local_name,
    merge_aliases,
    name_collisions,
    stage_alias,
)
from aiplane.core.registry.records import Flavor
from aiplane.core.registry.refs import NAME_RE, parse_ref

NAMES = [
    ("fraud-detector", "fraud-detector"),  # already ours: kept as it is
    ("a--b", "a--b"),
    ("Fraud Detector", "fraud-detector"),
    ("FRAUD_detector.v2", "fraud_detector.v2"),
    ("  churn  model  ", "churn-model"),
    ("My - Model", "my-model"),  # a run of spaces and hyphens is one hyphen
    ("team/churn", "team-churn"),
    ("a:b@c#d", "a-b-c-d"),
    ("Modèle Crédit", "modele-credit"),  # accents dropped, not the letters
    ("__private__", "private"),
    ("-.x.-", "x"),
    ("7", "7"),
    ("x" * 70, "x" * 63),
    ("a" * 62 + " b", "a" * 62),  # cut at 63, then the trailing '-' trimmed
]


@pytest.mark.parametrize(("mlflow_name", "ours"), NAMES)
def test_names_map_onto_ours(mlflow_name: str, ours: str) -> None:
    assert local_name(mlflow_name) == ours


@given(st.text(min_size=1, max_size=100))
def test_every_mapped_name_is_valid_and_mapping_again_keeps_it(text: str) -> None:
    try:
        name = local_name(text)
    except SpecError:
        return
    assert NAME_RE.match(name)
    assert local_name(name) == name


@pytest.mark.parametrize("hopeless", ["???", "  ", "模型", "-_.-"])
def test_a_name_with_nothing_to_keep_is_refused_where_it_is(hopeless: str) -> None:
    with pytest.raises(SpecError) as caught:
        local_name(hopeless, "from_mlflow.models.x")
    assert caught.value.problems[0].location == "from_mlflow.models.x"
    assert caught.value.problems[0].given == repr(hopeless)


def test_source_names_that_meet_on_one_local_name_are_reported_together() -> None:
    sources = ["Fraud Detector", "fraud-detector", "FRAUD/detector", "churn"]
    models = [ImportedModel(local_name(source), source) for source in sources]
    (problem,) = name_collisions(models, "from_mlflow.models")
    assert problem.location == "from_mlflow.models.fraud-detector"
    assert problem.given == "'FRAUD/detector', 'Fraud Detector', 'fraud-detector'"
    assert name_collisions(models[2:]) == []


@pytest.mark.parametrize(
    ("stage", "alias"),
    [
        ("Production", "production"),
        ("production", "production"),
        ("Staging", "staging"),
        ("Archived", None),
        ("None", None),
        (None, None),
    ],
)
def test_stages_map_onto_aliases(stage: str | None, alias: str | None) -> None:
    assert stage_alias(stage) == alias


def test_an_unknown_stage_is_refused() -> None:
    with pytest.raises(SpecError, match="unknown MLflow stage"):
        stage_alias("Canary")


def test_aliases_and_stages_merge_the_alias_winning() -> None:
    merged = merge_aliases(
        {"Champion": 2, "production": 1},
        {1: "None", 2: "Production", 3: "Staging", 4: "Staging", 5: "Archived"},
    )
    # The explicit alias keeps production at 1; the newest version in Staging is staging.
    assert merged == {"champion": 2, "production": 1, "staging": 4}


def test_the_newest_version_in_a_stage_holds_its_alias() -> None:
    assert merge_aliases({}, {3: "Production", 1: "Production", 2: "None"}) == {"production": 3}


def test_aliases_that_collide_after_mapping_are_refused() -> None:
    with pytest.raises(SpecError, match="two MLflow aliases") as caught:
        merge_aliases({"Champion": 1, "champion": 2}, {}, "m.aliases")
    assert caught.value.problems[0].location.startswith("m.aliases.")


@pytest.mark.parametrize("alias", ["latest", "Latest", "42"])
def test_an_alias_that_would_read_as_a_version_is_refused(alias: str) -> None:
    with pytest.raises(SpecError, match="alias"):
        local_alias(alias)


def test_a_mapped_alias_is_a_reference_to_that_alias() -> None:
    alias = local_alias("Blue Green")
    assert parse_ref(f"m@{alias}").alias == "blue-green"


@pytest.mark.parametrize(
    ("flavors", "flavor"),
    [
        (["python_function", "sklearn"], Flavor.SKLEARN),
        (["python_function", "onnx"], Flavor.ONNX),
        (["python_function", "pytorch"], Flavor.PYTORCH),
        (["python_function", "transformers"], Flavor.HUGGINGFACE),
        (["python_function", "xgboost"], Flavor.GENERIC),
        ([], Flavor.GENERIC),
        (["sklearn", "onnx"], Flavor.ONNX),  # the files' format over the estimator's
    ],
)
def test_flavours(flavors: list[str], flavor: Flavor) -> None:
    assert flavor_from_mlflow(flavors) is flavor


def test_a_signature_is_read_from_its_json_strings() -> None:
    signature = {
        "inputs": '[{"type": "double", "name": "x"}]',
        "outputs": '[{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}]',
        "params": None,
    }
    assert io_signature(signature) == {
        "inputs": [{"type": "double", "name": "x"}],
        "outputs": [{"type": "tensor", "tensor-spec": {"dtype": "float64", "shape": [-1]}}],
    }
    assert io_signature(None) == {}


def test_a_signature_that_is_not_json_is_named() -> None:
    with pytest.raises(SpecError) as caught:
        io_signature({"inputs": "[{"})
    assert caught.value.problems[0].location == "MLmodel.signature.inputs"
