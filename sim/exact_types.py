"""Numbers and booleans are not each other: `nodes: true` is not one node, `pre_vote: 1` is not true.

pydantic's lax mode turns true into 1 (and 1.0) and 0 or 1 into false or true; a YAML slip then
runs as something nobody wrote. Every input model of the project derives from `ExactScalars`,
which refuses a boolean where the field takes numbers and a number where it takes only a boolean.
Everything else stays lax on purpose: a duration given as '150ms', a float field given 1, a tuple
given as a YAML list.
"""

# No `from __future__ import annotations`: pydantic reads this module's validator signature.
import functools
import types
import typing
from typing import Annotated, Any, Literal, Union, get_args, get_origin

from pydantic import BaseModel, ConfigDict, ValidationError, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

_NUMBERS = frozenset({"int", "float"})


def _kinds(annotation: Any, items: bool = False) -> frozenset[str]:
    """The scalar kinds a field's type accepts: 'bool', 'int', 'float', 'str', 'any' (anything goes), 'other'.

    With `items`, those its list or tuple items accept instead (none when it takes no list).
    """
    origin = get_origin(annotation)
    if origin is Annotated:
        return _kinds(get_args(annotation)[0], items)
    if origin is Union or origin is types.UnionType:
        return frozenset().union(*(_kinds(arg, items) for arg in get_args(annotation)))
    if items:
        listed = origin in (list, tuple)
        return frozenset().union(*(_kinds(arg) for arg in get_args(annotation) if arg is not Ellipsis)) if listed else frozenset()
    if origin is Literal:
        return frozenset(type(value).__name__ for value in get_args(annotation))
    if annotation is Any or isinstance(annotation, typing.TypeVar):
        return frozenset({"any"})
    if annotation in (bool, int, float, str):
        return frozenset({annotation.__name__})
    return frozenset({"other"})


@functools.cache
def item_kinds(model: type[BaseModel]) -> dict[str, frozenset[str]]:
    """The scalar kinds the items of each list field of `model` accept, by its name and alias (fields with no list left out)."""
    kinds: dict[str, frozenset[str]] = {}
    for name, field in model.model_fields.items():
        found = _kinds(field.annotation, items=True)
        if found:
            kinds[name] = found
            if field.alias:
                kinds[field.alias] = found
    return kinds


@functools.cache
def field_kinds(model: type[BaseModel]) -> dict[str, frozenset[str]]:
    """The scalar kinds each field of `model` accepts, by the names input may use (its name and its alias)."""
    kinds: dict[str, frozenset[str]] = {}
    for name, field in model.model_fields.items():
        kinds[name] = _kinds(field.annotation)
        if field.alias:
            kinds[field.alias] = kinds[name]
    return kinds


def _problem(value: object, kinds: frozenset[str]) -> PydanticCustomError | None:
    """Why `value` does not fit a field that accepts `kinds` (None: it fits, or pydantic judges it)."""
    if "any" in kinds:
        return None
    if isinstance(value, bool):
        if kinds & _NUMBERS and "bool" not in kinds:
            kind, words = ("int_type", "an integer") if kinds & _NUMBERS == {"int"} else ("float_type", "a number")
            return PydanticCustomError(kind, f"Input should be {words}, not a boolean")
    elif isinstance(value, int | float) and "bool" in kinds and not kinds & _NUMBERS:
        return PydanticCustomError("bool_type", "Input should be true or false, not a number")
    return None


class ExactScalars(BaseModel):
    """Base of input models: a boolean is refused where numbers are expected, a number where only a boolean is."""

    # Never validated itself: only its subclasses are, each built on first use.
    model_config = ConfigDict(defer_build=True)

    # A model validator, not a field validator on '*': pydantic allows no 'before' validator on a
    # union's discriminator field (a delay's `dist`). Raising a ValidationError keeps each field's path.
    @model_validator(mode="before")
    @classmethod
    def _no_bool_for_number(cls, data: Any) -> Any:
        if not isinstance(data, dict):
            return data
        kinds, items = field_kinds(cls), item_kinds(cls)
        errors = [
            InitErrorDetails(type=problem, loc=(key,), input=value)
            for key, value in data.items()
            if isinstance(value, int | float) and key in kinds and (problem := _problem(value, kinds[key])) is not None
        ]
        # The items of a list: `replicates: [true, 2]` is not seeds 1 and 2.
        errors += [
            InitErrorDetails(type=problem, loc=(key, i), input=item)
            for key, value in data.items()
            if isinstance(value, list | tuple) and key in items
            for i, item in enumerate(value)
            if isinstance(item, int | float) and (problem := _problem(item, items[key])) is not None
        ]
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return data
