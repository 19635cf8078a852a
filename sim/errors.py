"""Bad input as one line: the file, the field path and the problem (from pydantic's errors)."""

from __future__ import annotations

from types import MappingProxyType
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only a type here: importing pydantic would slow `consim --help`
    from pydantic import ValidationError

DELAY_DISTRIBUTIONS = ("constant", "uniform", "normal", "lognormal", "exponential", "pareto")


class ScenarioError(Exception):
    """Bad input: carries the file, the field path and the problem, rendered as one line."""

    def __init__(self, source: str, field: str, problem: str) -> None:
        self.source, self.field, self.problem = source, field, problem
        super().__init__(f"{source}: {field}: {problem}" if field else f"{source}: {problem}")
        self.problems: list[str] = [str(self)]
        """Every problem found, one line each (several when pydantic found more than one)."""


class WorkersLost(RuntimeError):
    """The worker processes a sweep or an exploration started died or never came up (not the input's fault).

    Finished rows are kept, and running the command again resumes; the CLI prints it as one line, exit 1.
    """


_TYPE_WORDS = MappingProxyType(
    {"int": "an integer", "float": "a number", "str": "a string", "bool": "true or false", "list": "a list", "dict": "a mapping"}
)
# Error types that mean "this value is not of the expected type" (as opposed to a bad value).
_MISMATCH = MappingProxyType(
    {
        "int_type": "an integer",
        "int_parsing": "an integer",
        "int_from_float": "a whole number",
        "float_type": "a number",
        "float_parsing": "a number",
        "string_type": "a string",
        "bool_type": "true or false",
        "bool_parsing": "true or false",
        "list_type": "a list",
        "tuple_type": "a list",
        "dict_type": "a mapping",
        "model_type": "a mapping",
        "model_attributes_type": "a mapping",
    }
)
_BOUNDS = MappingProxyType(
    {"greater_than_equal": (">=", "ge"), "greater_than": (">", "gt"), "less_than_equal": ("<=", "le"), "less_than": ("<", "lt")}
)


def _is_branch_tag(item: str) -> bool:
    # pydantic names union branches in error locations ('constrained-int', 'list[NodeSpec]',
    # 'str', 'lognormal', 'NodeSpec', 'function-after[...]'); they are not part of the user's path.
    return (
        item in DELAY_DISTRIBUTIONS
        or item in _TYPE_WORDS
        or "[" in item
        or "-" in item
        or item[:1].isupper()
        or item in ("none", "literal", "tuple", "set")
    )


def _loc_to_path(loc: tuple[Any, ...], keep_last: bool = False) -> str:
    """The user's dotted field path of a pydantic error location (union branch tags dropped).

    Args:
        loc: pydantic's location tuple.
        keep_last: keep the last item even if it looks like a tag (it names an unknown or
            missing field, which is the user's own word).

    """
    parts: list[str] = []
    for i, item in enumerate(loc):
        if isinstance(item, int):
            parts.append(f"[{item}]")
        elif _is_branch_tag(str(item)) and not (keep_last and i == len(loc) - 1):
            continue
        else:
            parts.append(("." if parts else "") + str(item))
    return "".join(parts)


def _problem(error: dict[str, Any]) -> str:
    """A short, plain statement of one pydantic error."""
    kind, ctx = error["type"], error.get("ctx") or {}
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "required field is missing"
    if kind == "union_tag_invalid":
        expected = ", ".join(t.strip(" '") for t in str(ctx.get("expected_tags", "")).split(","))
        return f"unknown {str(ctx.get('discriminator', 'kind')).strip(chr(39))} {ctx.get('tag')!r} (known: {expected})"
    if kind == "union_tag_not_found":
        key = str(ctx.get("discriminator", "kind")).strip("'")
        known = f" (one of: {', '.join(DELAY_DISTRIBUTIONS)})" if key == "dist" else ""
        return f"needs a '{key}' field{known}"
    if kind in _BOUNDS:
        op, key = _BOUNDS[kind]
        return f"must be {op} {ctx.get(key)}"
    if kind in _MISMATCH:
        return f"must be {_MISMATCH[kind]}"
    if kind == "literal_error":
        return f"must be {ctx.get('expected', 'one of the allowed values')}"
    return str(error["msg"]).removeprefix("Value error, ")


def got(value: Any, text_wanted: bool = True) -> str:
    """`got VALUE` for a problem's parenthesis; a boolean where text was wanted says how YAML made it one.

    YAML 1.1 reads an unquoted yes, no, on or off as true or false, so `truth: yes` arrives as True:
    the line says to quote it rather than leave the user wondering where True came from.
    """
    if text_wanted and isinstance(value, bool):
        return f"got {value!r}: YAML reads an unquoted yes/no/on/off as a boolean; quote it"
    return f"got {value!r}"


def _with_input(problem: str, error: dict[str, Any]) -> str:
    value = error.get("input")
    if error["type"] in ("extra_forbidden", "missing", "value_error", "union_tag_invalid") or isinstance(value, dict | list):
        return problem
    if "input" not in error or f"got {value!r}" in problem:
        return problem
    # Every field whose type pydantic checks comes through here: "a string" is wanted by a str field,
    # or by a union with one ("a string or a list").
    return f"{problem} ({got(value, 'a string' in problem)})"


def _first_group(located: list[tuple[str, dict[str, Any]]], prefix: str) -> tuple[str, str, list[tuple[str, dict[str, Any]]]]:
    """The path and message of the first problem, and the errors about other paths."""
    first_path = located[0][0]
    # Errors of the branches of one union share the user's path prefix.
    siblings = [(p, e) for p, e in located if p == first_path or p.startswith(first_path + ".") or p.startswith(first_path + "[")]
    value_errors = [(p, e) for p, e in siblings if e["type"] not in _MISMATCH]
    if value_errors:
        path, chosen = max(value_errors, key=lambda pe: len(pe[0]))  # the branch that got furthest
        message = _with_input(_problem(chosen), chosen)
    elif len(siblings) > 1 and max(len(p) for p, _ in siblings) > len(first_path):
        # One branch took the value's shape and failed deeper in it (a node's weight in a list of nodes): that is the problem.
        path, chosen = max(siblings, key=lambda pe: len(pe[0]))
        message = _with_input(_problem(chosen), chosen)
    elif len(siblings) > 1:
        path, chosen = siblings[0]
        wanted = list(dict.fromkeys(_MISMATCH[e["type"]] for _, e in siblings))
        message = _with_input("must be " + " or ".join(wanted), chosen)
    else:
        path, chosen = siblings[0]
        message = _with_input(_problem(chosen), chosen)
    if prefix:
        path = f"{prefix}.{path}" if path else prefix
    rest = [(p, e) for p, e in located if (p, e) not in siblings]
    return path, message, rest


def first_error(source: str, err: ValidationError, prefix: str = "") -> ScenarioError:
    """The most useful one-line error of a pydantic ValidationError; `.problems` lists every problem.

    Union types make pydantic report one error per branch ('nodes' as an int failed, as a list
    failed): a branch that accepted the type but not the value is the real problem; when every
    branch rejected the type, say which types would do.
    """
    located = [(_loc_to_path(tuple(e["loc"]), keep_last=e["type"] in ("extra_forbidden", "missing")), e) for e in err.errors()]
    path, message, rest = _first_group(located, prefix)
    others = len({p for p, _ in rest})
    extra = f" (and {others} more problem{'s' if others > 1 else ''})" if others else ""
    error = ScenarioError(source, path, message + extra)
    error.problems = [str(ScenarioError(source, path, message))]
    while rest:
        path, message, rest = _first_group(rest, prefix)
        error.problems.append(str(ScenarioError(source, path, message)))
    return error
