"""Reading spec files: YAML text in, a mapping out, or a :class:`SpecError` that says why not."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from yaml.constructor import ConstructorError
from yaml.nodes import MappingNode

from aiplane.core.errors import Problem, SpecError
from aiplane.specs.errors import given


class _StrictLoader(yaml.SafeLoader):
    """PyYAML's safe loader, but a key written twice in one mapping is an error."""

    def construct_mapping(self, node: MappingNode, deep: bool = False) -> dict[Any, Any]:
        seen: set[Any] = set()
        for key_node, _ in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                duplicate = key in seen
            except TypeError:  # an unhashable key; the base class reports it
                break
            if duplicate:
                raise ConstructorError(
                    "while constructing a mapping",
                    node.start_mark,
                    f"duplicate key {key!r}",
                    key_node.start_mark,
                )
            seen.add(key)
        return super().construct_mapping(node, deep=deep)


def _fail(
    source: str, location: str, message: str, allowed: str | None = None, given: str | None = None
) -> SpecError:
    return SpecError(f"cannot read {source}", [Problem(location, message, given, allowed)])


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    """The top-level mapping of a YAML document; ``source`` names it in errors."""
    try:
        # _StrictLoader is a SafeLoader that adds no constructors (a test proves python/ tags fail).
        document = yaml.load(text, Loader=_StrictLoader)  # noqa: S506
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        where = f"{source}:{mark.line + 1}:{mark.column + 1}" if mark is not None else source
        what = exc.problem or exc.context or "invalid YAML"
        context = exc.context_mark
        if exc.problem and exc.context and context is not None and context is not mark:
            what += (
                f" ({exc.context} that starts at line {context.line + 1},"
                f" column {context.column + 1})"
            )
        raise _fail(source, where, f"invalid YAML: {what}") from None
    except yaml.YAMLError as exc:
        raise _fail(source, source, f"invalid YAML: {exc}") from None
    if document is None:
        raise _fail(source, source, "the document is empty", "a mapping of fields")
    if not isinstance(document, dict):
        names: dict[type, str] = {list: "a list", str: "a string"}
        kind = names.get(type(document), type(document).__name__)
        message = f"the top level must be a mapping of fields, not {kind}"
        raise _fail(source, source, message, "a mapping of fields", given(document))
    return document


def read_yaml(path: str | Path) -> dict[str, Any]:
    """Read and parse a YAML spec file; errors name the file as the user gave it."""
    source = str(path)
    file = Path(path)
    try:
        data = file.read_bytes()
    except FileNotFoundError:
        raise _fail(source, source, "file not found") from None
    except IsADirectoryError:
        raise _fail(source, source, "is a directory, not a file") from None
    except OSError as exc:
        raise _fail(source, source, f"cannot read the file: {exc.strerror}") from None
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise _fail(
            source, f"{source}:{line}", "not UTF-8 text", "a UTF-8 encoded YAML file"
        ) from None
    return parse_yaml(text, source)


read_document = read_yaml
"""Another name for :func:`read_yaml`: a spec file's top-level mapping."""
