"""Hand-written model records for the frames tests (no generator needed).

``full_record`` holds every field of the schema with a value of the right JSON type, so a
test can start from a valid record and break one thing at a time.
"""

from __future__ import annotations

import copy
from typing import Any

import orjson

from scenario_frames import schema as S

ISO = "2024-03-05T10:20:30.456Z"


def _leaf(f: S.Field, i: int) -> Any:
    k = f.kind
    if k in ("string",):
        return f"{f.key}-{i}"
    if k == "enum":
        return f.enum[i % len(f.enum)]
    if k == "number":
        return 1.5 + i
    if k in ("integer", "int_enum"):
        return f.enum[i % len(f.enum)] if f.enum else 7
    if k == "bool":
        return i % 2 == 0
    if k == "datetime":
        return ISO
    if k == "epoch_ms":
        return 1_700_000_000_000 + i
    if k == "list_string":
        return [f"{f.key}-a{i}", f"{f.key}-b{i}"]
    if k == "list_enum":
        return list(f.enum[:2]) if f.enum else ["x"]
    if k == "json":
        return {"k": [1, "two", None, True], "n": i}
    raise AssertionError(k)


def _obj(nodes: tuple[S.Node, ...], i: int) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for node in nodes:
        if isinstance(node, S.Field):
            out[node.key] = _leaf(node, i)
        elif isinstance(node, S.Obj):
            out[node.key] = _obj(node.fields, i)
        else:
            items = []
            for j in range(2):
                item = _obj(node.fields, i + j)
                if node.nested is not None:
                    item[node.nested.key] = [_obj(node.nested.fields, i + j + k) for k in range(2)]
                items.append(item)
            out[node.key] = items
    return out


def full_record(mid: str = "model_a", i: int = 0) -> dict[str, Any]:
    """A record with every documented field, of the right JSON type."""
    rec = _obj(S.MODEL.fields, i)
    rec["id"] = mid
    rec["capabilities"] = ["txt2img", "img2img"]
    rec["performanceStats"]["default"] = rec["performanceStats"]["variants"][1]["variantKey"]
    inputs = rec["inputs"]
    inputs[0].update(name="steps", type="number", default=30, allowedValues=[10, 20, 30])
    inputs[1].update(
        name="shots",
        type="inputs_array",
        default=None,
        allowedValues=["a", 1, True, None, {"k": [1]}],
    )
    inputs[1]["inputs"] = [
        {"name": "caption", "type": "string", "default": "hello"},
        {"name": "flag", "type": "boolean", "default": False},
    ]
    return rec


def minimal_record(mid: str = "model_min") -> dict[str, Any]:
    """Only the id: every other field missing (allowed)."""
    return {"id": mid}


def page(records: list[Any], token: str | None = None) -> bytes:
    """A page body like the API's."""
    doc: dict[str, Any] = {"models": records}
    if token:
        doc["nextPaginationToken"] = token
    return orjson.dumps(doc)


def clone(rec: dict[str, Any]) -> dict[str, Any]:
    return copy.deepcopy(rec)


def python_free_record(mid: str = "model_a", i: int = 0) -> dict[str, Any]:
    """``full_record`` without the fields Python always reads (``inputs``, ``uiConfig``), so
    that only what a test adds decides the record's route."""
    from scenario_frames.tables import materialize as M

    rec = full_record(mid, i)
    for key in M.PY_ROOTS:
        rec.pop(key, None)
    return rec


def object_paths(value: Any, path: tuple = ()) -> list[tuple]:
    """Paths (keys and list positions) of every object inside a record, the record first."""
    out = [path] if type(value) is dict else []
    items = (
        value.items() if type(value) is dict else enumerate(value) if type(value) is list else []
    )
    for k, v in items:
        out.extend(object_paths(v, (*path, k)))
    return out


def both_routes(body: bytes) -> Any:
    """``page_output`` of ``body`` on the fast route, after checking it equals the exact route's
    (rejects, extras, json texts, record ids, typed rows and inputs)."""
    from scenario_frames.tables import materialize as M

    fast = M.page_output(body, 0, 0)
    exact = M.page_output(body, 0, 0, fast=False)
    assert fast.rejects == exact.rejects
    assert fast.extras == exact.extras
    assert fast.ui_json == exact.ui_json
    assert fast.rids == exact.rids
    for a, b in ((fast.models, exact.models), (fast.inputs, exact.inputs)):
        assert (a is None) == (b is None)
        if a is not None:
            assert a.equals(b)
    return fast
