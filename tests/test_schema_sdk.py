"""The schema knows everything the official client knows.

Walks the pydantic model tree of ``scenario_sdk``'s ``ModelListResponse`` (every field by its
wire alias, every ``Literal`` value, every nested model) next to ``schema.MODEL`` and names
each field or enum value the SDK types but the schema lacks.  A new SDK release that grows the
API then fails here instead of landing silently in ``extra``.
"""

from __future__ import annotations

import types
import typing

import pytest

from scenario_frames import schema as S

sdk_types = pytest.importorskip("scenario_sdk.types")
pydantic = pytest.importorskip("pydantic")


def _parts(annotation: object) -> tuple[list[object], list[type]]:
    """Literal values and pydantic model classes found anywhere in an annotation."""
    literals: list[object] = []
    models: list[type] = []
    stack = [annotation]
    while stack:
        a = stack.pop()
        origin = typing.get_origin(a)
        if origin is typing.Literal:
            literals.extend(typing.get_args(a))
        elif origin is not None or isinstance(a, types.UnionType):
            stack.extend(typing.get_args(a))
        elif isinstance(a, type) and issubclass(a, pydantic.BaseModel):
            models.append(a)
    return literals, models


def _is_dict(annotation: object) -> bool:
    stack = [annotation]
    while stack:
        a = stack.pop()
        if typing.get_origin(a) in (dict, typing.Dict):  # noqa: UP006 - the SDK spells it so
            return True
        stack.extend(typing.get_args(a))
    return False


def _missing(model: type, nodes: tuple[S.Node, ...], where: str) -> list[str]:
    """What ``model`` (a pydantic class) knows that the schema nodes at ``where`` do not."""
    by_key = {n.key: n for n in nodes}
    out: list[str] = []
    for name, info in model.model_fields.items():
        key = info.alias or name
        path = f"{where}{key}"
        node = by_key.get(key)
        if node is None:
            out.append(f"{path}: field unknown to schema.py")
            continue
        literals, models = _parts(info.annotation)
        if isinstance(node, S.Field):
            if node.kind == "json":
                continue  # free-form in the schema: anything below is kept as JSON text
            lacking = [v for v in literals if v not in node.enum]
            if lacking:
                out.append(f"{path}: enum values unknown to schema.py: {lacking}")
            if models:
                out.append(f"{path}: the SDK types an object, schema.py a {node.kind} leaf")
            continue
        if isinstance(node, S.ListOf) and node.recursive == key:
            continue  # the recursive inputs_array members: same shape as their parent
        if _is_dict(info.annotation):
            out.append(f"{path}: a map in the SDK, an object in schema.py")
            continue
        below = node.fields
        if isinstance(node, S.ListOf) and node.nested is not None:
            below = (*below, node.nested)  # a list inside the items (epochs' assets)
        for m in models:
            out.extend(_missing(m, below, f"{path}{'[].' if isinstance(node, S.ListOf) else '.'}"))
    return out


def test_schema_covers_every_field_and_enum_value_of_the_sdk() -> None:
    problems = _missing(sdk_types.ModelListResponse, S.MODEL.fields, "")
    assert not problems, "scenario-sdk knows what schema.py does not:\n" + "\n".join(problems)


def test_the_walk_finds_what_is_missing() -> None:
    """The check itself works: a schema without a field, or without an enum value, fails."""
    fields = tuple(n for n in S.MODEL.fields if n.key != "jobId")
    assert "jobId: field unknown to schema.py" in _missing(sdk_types.ModelListResponse, fields, "")
    cut = tuple(
        S.Field(n.key, n.kind, n.doc, enum=tuple(v for v in n.enum if v != "video2txt"))
        if isinstance(n, S.Field) and n.key == "capabilities"
        else n
        for n in S.MODEL.fields
    )
    got = _missing(sdk_types.ModelListResponse, cut, "")
    assert any(p.startswith("capabilities: enum values") and "video2txt" in p for p in got)
    progress = next(n for n in S.MODEL.fields if n.key == "trainingProgress")
    shrunk = S.Obj(
        progress.key, progress.doc, tuple(f for f in progress.fields if f.key != "retryCount")
    )
    nested = tuple(shrunk if n.key == "trainingProgress" else n for n in S.MODEL.fields)
    assert "trainingProgress.retryCount: field unknown to schema.py" in _missing(
        sdk_types.ModelListResponse, nested, ""
    )
