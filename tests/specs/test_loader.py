"""Reading spec files: YAML errors with line and column, and documents that are not mappings."""

from __future__ import annotations

from pathlib import Path

import pytest

from aiplane.core.errors import Problem, SpecError
from aiplane.specs import load_fleet, load_workload, parse_yaml, read_yaml

from .conftest import problems_of


def _write(tmp_path: Path, text: str | bytes, name: str = "fleet.yaml") -> Path:
    path = tmp_path / name
    if isinstance(text, bytes):
        path.write_bytes(text)
    else:
        path.write_text(text)
    return path


def test_yaml_syntax_error_has_line_and_column(tmp_path: Path) -> None:
    path = _write(tmp_path, "sites:\n  - name: a\n    kind: [cloud\n")
    [problem] = problems_of(lambda: load_fleet(path))
    assert problem.location == f"{path}:4:1"
    assert problem.message == (
        "invalid YAML: expected ',' or ']', but got '<stream end>' "
        "(while parsing a flow sequence that starts at line 3, column 11)"
    )
    assert problem.given is None


def test_bad_indentation() -> None:
    [problem] = problems_of(lambda: parse_yaml("name: a\n  team: b\n", "w.yaml"))
    assert problem.location == "w.yaml:2:7"
    assert problem.message.startswith("invalid YAML: mapping values are not allowed here")


def test_duplicate_key_is_an_error(tmp_path: Path) -> None:
    path = _write(tmp_path, "name: a\nteam: b\nname: c\n", "w.yaml")
    [problem] = problems_of(lambda: load_workload(path))
    assert problem.location == f"{path}:3:1"
    assert "duplicate key 'name'" in problem.message


def test_python_tags_are_refused_not_constructed() -> None:
    # The loader is PyYAML's safe one: a tag that would run code is an error, not a call.
    text = "x: !!python/object/apply:os.system ['echo constructed']\n"
    [problem] = problems_of(lambda: parse_yaml(text, "w.yaml"))
    assert problem.location == "w.yaml:1:4"
    assert "could not determine a constructor" in problem.message
    assert "python/object/apply:os.system" in problem.message


@pytest.mark.parametrize("text", ["", "\n", "# nothing but a comment\n", "---\n"])
def test_empty_document(text: str) -> None:
    assert problems_of(lambda: parse_yaml(text, "fleet.yaml")) == [
        Problem("fleet.yaml", "the document is empty", None, "a mapping of fields")
    ]


def test_top_level_list_instead_of_mapping(tmp_path: Path) -> None:
    path = _write(tmp_path, "- name: a\n- name: b\n")
    assert problems_of(lambda: load_fleet(path)) == [
        Problem(
            str(path),
            "the top level must be a mapping of fields, not a list",
            "[{'name': 'a'}, {'name': 'b'}]",
            "a mapping of fields",
        )
    ]


def test_top_level_scalar() -> None:
    [problem] = problems_of(lambda: parse_yaml("just words", "w.yaml"))
    assert problem.message == "the top level must be a mapping of fields, not a string"
    assert problem.given == "'just words'"


def test_file_not_found_and_directory(tmp_path: Path) -> None:
    missing = tmp_path / "nope.yaml"
    assert problems_of(lambda: load_fleet(missing)) == [Problem(str(missing), "file not found")]
    [problem] = problems_of(lambda: read_yaml(tmp_path))
    assert problem.message == "is a directory, not a file"


def test_not_utf8(tmp_path: Path) -> None:
    path = _write(tmp_path, b"name: a\nteam: \xff\xfe\n", "w.yaml")
    assert problems_of(lambda: load_workload(path)) == [
        Problem(f"{path}:2", "not UTF-8 text", None, "a UTF-8 encoded YAML file")
    ]


def test_error_text_names_file_and_problem(tmp_path: Path) -> None:
    path = _write(tmp_path, "- a\n")
    with pytest.raises(SpecError) as info:
        load_fleet(path)
    assert str(info.value).splitlines() == [
        f"cannot read {path}",
        (
            f"  - {path}: the top level must be a mapping of fields, not a list (given: ['a']); "
            "allowed: a mapping of fields"
        ),
    ]
