"""Problems in specs: locations, the values given, and pydantic errors translated into them.

A location reads ``FILE: field.path[index].sub`` (``fleet.yaml: sites[1].pools[0].pricing.model``);
a problem with the whole document has just ``FILE``, and a YAML syntax error ``FILE:LINE:COL``.
"""

from __future__ import annotations

import difflib
import re
import types
from collections.abc import Sequence
from typing import Annotated, Any, TypeVar, Union, get_args, get_origin

from pydantic import BaseModel, ValidationError
from pydantic.fields import FieldInfo

from aiplane.core.errors import Problem, SpecError

Loc = Sequence[str | int]
ModelT = TypeVar("ModelT", bound=BaseModel)

_MAX_GIVEN = 80
_PLAIN_KEY = re.compile(r"[A-Za-z0-9_-]+")


def given(value: Any) -> str:
    """The offending value as shown to the user: its repr, cut to a readable length."""
    text = repr(value)
    return text if len(text) <= _MAX_GIVEN else text[: _MAX_GIVEN - 3] + "..."


def path(loc: Loc) -> str:
    """``("sites", 1, "pools", 0, "name")`` -> ``sites[1].pools[0].name``."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out


def location(source: str, loc: Loc) -> str:
    p = path(loc)
    return f"{source}: {p}" if p else source


def did_you_mean(word: str, choices: Sequence[str]) -> str | None:
    close = difflib.get_close_matches(word, list(choices), n=1, cutoff=0.6)
    return close[0] if close else None


class Problems:
    """Collects problems for one document and raises them together."""

    def __init__(self, source: str) -> None:
        self.source = source
        self.items: list[Problem] = []

    def add(
        self,
        loc: Loc,
        message: str,
        value: Any = None,
        allowed: str | None = None,
        *,
        show_given: bool = True,
    ) -> None:
        shown = given(value) if show_given else None
        self.items.append(Problem(location(self.source, loc), message, shown, allowed))

    def raise_if_any(self, what: str) -> None:
        if self.items:
            n = len(self.items)
            noun = "problem" if n == 1 else "problems"
            raise SpecError(f"{self.source}: invalid {what} ({n} {noun})", list(self.items))


def _unwrap(annotation: Any) -> Any:
    """Strip ``Annotated`` and ``X | None`` down to the one type inside."""
    while True:
        origin = get_origin(annotation)
        if origin is Annotated:
            annotation = get_args(annotation)[0]
        elif origin in (Union, types.UnionType):
            args = [a for a in get_args(annotation) if a is not type(None)]
            if len(args) != 1:
                return annotation
            annotation = args[0]
        else:
            return annotation


def _is_model(annotation: Any) -> bool:
    return isinstance(annotation, type) and issubclass(annotation, BaseModel)


def _walk(root: type[BaseModel], loc: Loc) -> tuple[type[BaseModel] | None, FieldInfo | None]:
    """The model that the whole of ``loc`` leads to (if any) and the last named field on the way."""
    current: Any = root
    field: FieldInfo | None = None
    for part in loc:
        annotation = _unwrap(current)
        origin = get_origin(annotation)
        if _is_model(annotation) and isinstance(part, str):
            field = annotation.model_fields.get(part)
            if field is None:
                return None, None
            current = field.annotation
        elif origin in (list, tuple) and isinstance(part, int):
            current = get_args(annotation)[0]
        elif origin is dict and isinstance(part, str):
            current = get_args(annotation)[1]
        else:
            return None, field
    annotation = _unwrap(current)
    return (annotation if _is_model(annotation) else None), field


def _allowed_for(root: type[BaseModel], loc: Loc) -> str | None:
    _, field = _walk(root, loc)
    return field.description if field is not None else None


def _message(error_type: str, msg: str) -> str:
    if error_type == "missing":
        return "required field is missing"
    if error_type == "literal_error":
        return "not one of the allowed values"
    if error_type == "string_pattern_mismatch":
        return "not in the allowed form"
    if error_type.endswith("_type") or error_type == "model_attributes_type":
        kind = {
            "string_type": "a string",
            "int_type": "a whole number",
            "float_type": "a number",
            "bool_type": "true or false",
            "dict_type": "a mapping",
            "list_type": "a list",
            "model_type": "a mapping",
            "model_attributes_type": "a mapping",
        }.get(error_type)
        if kind is not None:
            return f"expected {kind}"
    msg = msg.removeprefix("Value error, ")
    msg = msg.replace("Input should be", "must be").replace("String should", "must")
    return msg[:1].lower() + msg[1:]


def _literal_allowed(ctx: dict[str, Any] | None) -> str | None:
    expected = (ctx or {}).get("expected")
    if not isinstance(expected, str):
        return None
    return ", ".join(p.strip().strip("'") for p in re.split(r",| or ", expected) if p.strip())


def translate(exc: ValidationError, source: str, root: type[BaseModel]) -> list[Problem]:
    """Every pydantic error of ``exc`` as a :class:`Problem` at its location in ``source``."""
    problems = Problems(source)
    for error in exc.errors():
        loc: list[str | int] = [p for p in error["loc"] if p != "[key]"]
        error_type = error["type"]
        value = error.get("input")
        is_key = "[key]" in error["loc"]
        if error_type == "extra_forbidden":
            name = str(loc[-1])
            container, _ = _walk(root, loc[:-1])
            fields = list(container.model_fields) if container is not None else []
            guess = did_you_mean(name, fields)
            message = "unknown field" + (f"; did you mean {guess!r}?" if guess else "")
            problems.add(loc, message, name, ", ".join(fields) or None)
        elif error_type == "missing":
            problems.add(
                loc, "required field is missing", None, _allowed_for(root, loc), show_given=False
            )
        elif error_type == "literal_error":
            problems.add(
                loc, "not one of the allowed values", value, _literal_allowed(error.get("ctx"))
            )
        else:
            message = _message(error_type, error["msg"])
            if is_key:
                message = f"key: {message}"
            problems.add(loc, message, value, _allowed_for(root, loc))
    return problems.items


def validate(model: type[ModelT], document: Any, source: str, what: str) -> ModelT:
    """``model.model_validate(document)`` with every error raised in one :class:`SpecError`."""
    try:
        return model.model_validate(document)
    except ValidationError as exc:
        problems = Problems(source)
        problems.items = translate(exc, source, model)
        problems.raise_if_any(what)
        raise  # pragma: no cover - a ValidationError always has errors
