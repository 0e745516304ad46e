"""The demo catalog generator: deterministic, schema-complete, realistic, lazy and mutable."""

from __future__ import annotations

import re
import sys
from collections import Counter
from typing import Any

import pytest

from scenario_frames import schema
from scenario_frames.demo.generator import (
    DRIFT_CAPABILITY,
    DRIFT_INPUT_KIND,
    DRIFT_STATUS,
    DRIFT_TYPE,
    DemoCatalog,
    build_record,
    created_ms,
    index_of,
    make_records,
    model_id,
)

ISO_MS = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


@pytest.fixture(scope="module")
def records() -> list[dict[str, Any]]:
    return make_records(300, seed=0)


def _values(obj: Any, path: tuple[str, ...]) -> list[Any]:
    """Every value at a key path, descending through lists (and nested inputs)."""
    if not path:
        return [obj]
    out: list[Any] = []
    if isinstance(obj, list):
        for item in obj:
            out += _values(item, path)
    elif isinstance(obj, dict):
        if path[0] in obj:
            out += _values(obj[path[0]], path[1:])
    return out


def _paths(
    nodes: tuple, prefix: tuple[str, ...] = ()
) -> list[tuple[tuple[str, ...], schema.Field]]:
    out = []
    for node in nodes:
        p = prefix + (node.key,)
        if isinstance(node, schema.Field):
            out.append((p, node))
        else:
            out += _paths(node.fields, p)
            if isinstance(node, schema.ListOf) and node.nested is not None:
                out += _paths(node.nested.fields, p + (node.nested.key,))
    return out


def test_same_seed_same_records_other_seed_other_records() -> None:
    assert make_records(20, seed=4) == make_records(20, seed=4)
    assert make_records(5, seed=4, start=10) == make_records(20, seed=4)[10:15]
    assert make_records(5, seed=5) != make_records(5, seed=4)


def test_every_schema_field_occurs_in_1000_models() -> None:
    records = make_records(1000, seed=0)
    leaf_keys = {f.key for f in schema.iter_fields()}
    paths = _paths(schema.MODEL.fields)
    assert {f.key for _, f in paths} == leaf_keys
    missing = [".".join(p) for p, _ in paths if not _values(records, p)]
    assert missing == ["deletedAt"]  # set only on deleted models, which are never listed


def test_values_respect_kinds_enums_and_bounds(records: list[dict[str, Any]]) -> None:
    for path, fld in _paths(schema.MODEL.fields):
        for v in _values(records, path):
            where = ".".join(path)
            if fld.kind in ("enum", "int_enum"):
                assert v in fld.enum, where
            if fld.kind == "list_enum":
                assert set(v) <= set(fld.enum), where
            if fld.kind == "datetime":
                assert ISO_MS.match(v), (where, v)
            if fld.kind == "number" and isinstance(v, int | float) and not isinstance(v, bool):
                if fld.minimum is not None:
                    assert v >= fld.minimum, where
                if fld.maximum is not None:
                    assert v <= fld.maximum, where
            if fld.kind == "bool":
                assert isinstance(v, bool), where
            if fld.kind in ("list_string", "list_enum"):
                assert isinstance(v, list), where


def test_required_keys_always_present(records: list[dict[str, Any]]) -> None:
    required = [n.key for n in schema.MODEL.fields if n.required]
    for r in records:
        assert all(k in r for k in required), r["id"]


def test_privacy_mix_and_every_type_and_capability(records: list[dict[str, Any]]) -> None:
    big = [build_record(0, i) for i in range(0, 3000, 3)]
    share = Counter(r["privacy"] for r in big)
    assert 0.5 < share["public"] / len(big) < 0.7
    assert 0.2 < share["private"] / len(big) < 0.4
    assert 0.05 < share["unlisted"] / len(big) < 0.15
    assert {r["type"] for r in big} == set(schema.MODEL_TYPES)
    assert {c for r in big for c in r["capabilities"]} == set(schema.CAPABILITIES)
    assert {r["status"] for r in big} == set(schema.MODEL_STATUS)


def test_shapes_fit_the_model_type(records: list[dict[str, Any]]) -> None:
    for r in records:
        if r["type"] == "elevenlabs-voice":
            assert "txt2audio" in r["capabilities"]
        if r["type"].endswith("composition"):
            assert r["concepts"] and all(-2 <= c["scale"] <= 2 for c in r["concepts"])
        if r["type"] == "custom":
            assert r["custom"] is True and {i["type"] for i in r["inputs"]} == set(
                schema.INPUT_TYPES
            )
        else:
            assert r["custom"] is False and "inputs" not in r
        if r["status"] == "training":
            assert "trainingProgress" in r
        if "epoch" in r:
            assert r["epoch"] in {e["epoch"] for e in r["epochs"]}


def test_variants_are_plausible(records: list[dict[str, Any]]) -> None:
    n = 0
    for r in records:
        ps = r.get("performanceStats")
        if not ps:
            continue
        keys = [v["variantKey"] for v in ps["variants"]]
        assert len(keys) == len(set(keys))
        if "default" in ps:
            assert ps["default"] in keys
        for v in ps["variants"]:
            n += 1
            assert v["capability"] in r["capabilities"]
            if "costPerAssetP50CU" in v:
                assert v["costPerAssetMinCU"] <= v["costPerAssetP50CU"] <= v["costPerAssetMaxCU"]
                assert v["inferenceLatencyP50Sec"] <= v["inferenceLatencyP75Sec"]
            assert v["totalLatencyP50Sec"] <= v["totalLatencyP75Sec"]
            if "arenaScore" in v:
                a = v["arenaScore"]
                assert a["ratingLower"] <= a["rating"] <= a["ratingUpper"]
    assert n > 100


def test_inputs_cover_every_json_type_and_nesting(records: list[dict[str, Any]]) -> None:
    inputs = [i for r in records for i in r.get("inputs", [])]
    defaults = {type(i["default"]).__name__ for i in inputs if "default" in i}
    assert {"int", "float", "str", "bool", "NoneType", "list", "dict"} <= defaults
    mixed = [
        i["allowedValues"]
        for i in inputs
        if "allowedValues" in i and len({type(v).__name__ for v in i["allowedValues"]}) >= 4
    ]
    assert mixed
    nested = [i for i in inputs if i["type"] == "inputs_array"]
    assert nested and all(i["inputs"] and all("name" in m for m in i["inputs"]) for i in nested)


def test_unicode_names_and_iso_timestamps(records: list[dict[str, Any]]) -> None:
    names = " ".join(r.get("name", "") for r in records)
    assert re.search(r"[éèüñø]", names) and re.search(r"[\u4e00-\u9fff\u3040-\u30ff]", names)
    assert re.search(r"[\U0001F300-\U0001FAFF]", names)
    for r in records:
        assert ISO_MS.match(r["createdAt"]) and ISO_MS.match(r["updatedAt"])
        assert r["updatedAt"] >= r["createdAt"]


def test_created_at_is_monotone_with_ties(records: list[dict[str, Any]]) -> None:
    created = [r["createdAt"] for r in records]
    assert created == sorted(created)
    ties = Counter(created)
    assert max(ties.values()) >= 3
    assert all(created_ms(i) <= created_ms(i + 1) for i in range(0, 200_000, 7))


def test_ids_are_unique_and_map_back_to_indices() -> None:
    ids = [model_id(7, i) for i in range(5000)]
    assert len(set(ids)) == 5000
    assert all(re.fullmatch(r"model_[0-9A-Za-z]{22}", i) for i in ids[:50])
    for i in (0, 1, 4999, 999_999):
        assert index_of(7, model_id(7, i)) == i
    assert index_of(8, model_id(7, 3)) is None
    assert index_of(7, "model_notarealidatallxxxxxxx") is None


def _python_steps(fn: Any, *args: Any) -> int:
    """How many Python calls and lines ``fn(*args)`` executes (a count, not a time)."""
    steps = 0

    def trace(frame: Any, event: str, arg: Any) -> Any:
        nonlocal steps
        steps += 1
        return trace

    sys.settrace(trace)
    try:
        fn(*args)
    finally:
        sys.settrace(None)
    return steps


def test_a_record_is_a_pure_function_of_seed_and_index() -> None:
    r = build_record(0, 999_999)
    assert r == build_record(0, 999_999)
    assert r["id"] == model_id(0, 999_999)
    # Building other records in between does not change it (no hidden state) ...
    make_records(50, seed=0)
    build_record(1, 999_999)
    assert build_record(0, 999_999) == r
    # ... and record 999,999 is built directly, not by walking the indices before it: it
    # executes about as much Python as a record near the start (a walk would be ~10**6x).
    near_start = max(_python_steps(build_record, 0, i) for i in range(1, 6))
    assert _python_steps(build_record, 0, 999_999) < 5 * near_start


def _unknown_paths(rec: dict, nodes: tuple, path: str = "") -> set[str]:
    """Dotted paths of the keys of ``rec`` that the schema does not know (lists walked)."""
    by_key = {n.key: n for n in nodes}
    out: set[str] = set()
    for k, v in rec.items():
        node = by_key.get(k)
        if node is None:
            out.add(path + k)
        elif isinstance(node, schema.Obj) and isinstance(v, dict):
            out |= _unknown_paths(v, node.fields, f"{path}{k}.")
        elif isinstance(node, schema.ListOf) and isinstance(v, list):
            below = (
                node.fields
                + ((node.nested,) if node.nested else ())
                + ((node,) if node.recursive else ())
            )  # inputs_array members: inputs again
            for item in v:
                if isinstance(item, dict):
                    out |= _unknown_paths(item, below, f"{path}{k}[].")
    return out


def test_default_records_speak_todays_api() -> None:
    """Fields the SDK types and the reference lacks appear with plausible frequencies."""
    recs = make_records(3000, seed=0)
    assert not set().union(*(_unknown_paths(r, schema.MODEL.fields) for r in recs))
    jobs = [r for r in recs if "jobId" in r]
    assert jobs and all(r["privacy"] != "public" for r in jobs)
    assert 0 < sum("disableRefund" in r for r in recs) < len(recs) / 5
    assert not any("deletedAt" in r for r in recs)  # deleted models are never listed
    progress = [r["trainingProgress"] for r in recs if "trainingProgress" in r]
    assert all(("captchaImageUrl" in p) == (p["stage"] == "pending-captcha") for p in progress)
    assert any("retryCount" in p for p in progress)
    inputs = [i for r in recs for i in r.get("inputs", [])]
    assert any(i.get("kind") == "text" for i in inputs)
    assert any("maxDuration" in i for i in inputs)
    assert any("operator" in i.get("required", {}).get("conditional", {}) for i in inputs)
    assert any("outputProperties" in r.get("uiConfig", {}) for r in recs)


def test_drift_adds_unknown_fields_and_enum_values() -> None:
    drift = make_records(1000, seed=0, drift=True)
    paths = set().union(*(_unknown_paths(r, schema.MODEL.fields) for r in drift))
    assert {"licensing", "popularity", "downloads", "featured", "badges", "moderation"} <= paths
    assert {
        "performanceStats.variants[].energyWh",
        "thumbnail.blurhash",
        "trainingProgress.gpuPool",
        "inputs[].required.unlessAll",
    } <= paths
    values = [
        r[k]
        for r in drift
        for k in ("licensing", "popularity", "downloads", "featured", "badges", "moderation")
        if k in r
    ]
    kinds = {type(v).__name__ for v in values}
    assert {"dict", "float", "int", "bool", "list", "NoneType"} <= kinds  # every JSON type
    assert any(
        v is None for r in drift for k, v in r.items() if k in ("shortDescription", "thumbnail")
    )
    assert DRIFT_TYPE in {r["type"] for r in drift}
    assert DRIFT_STATUS in {r["status"] for r in drift}
    assert DRIFT_CAPABILITY in {c for r in drift for c in r["capabilities"]}
    assert DRIFT_INPUT_KIND in {i.get("kind") for r in drift for i in r.get("inputs", [])}
    # drift touches some records, on every page of 500
    touched = [bool(_unknown_paths(r, schema.MODEL.fields)) for r in drift]
    assert 0 < sum(touched) < len(drift) / 2
    assert all(any(touched[i : i + 500]) for i in range(0, len(drift), 500))


def test_catalog_mutations() -> None:
    cat = DemoCatalog(50, seed=2)
    ids = cat.ids()
    assert len(ids) == 50 and len(cat) == 50
    new = cat.add_models(3)
    assert len(cat) == 53 and cat.ids()[-3:] == new
    assert (
        cat.record(cat.index_of(new[0]))["createdAt"]
        >= cat.record(cat.index_of(ids[-1]))["createdAt"]
    )
    cat.remove(ids[:2])
    assert len(cat) == 51 and ids[0] not in cat.ids()
    with pytest.raises(KeyError):
        cat.remove([ids[0]])
    target = next(i for i in ids[2:] if "performanceStats" in cat.record(cat.index_of(i)))
    before = cat.record(cat.index_of(target))
    v0 = cat.version
    cat.update([target], {"name": "Renommé 🚀", "variants_cost": 2.0})
    after = cat.record(cat.index_of(target))
    assert cat.version > v0
    assert after["name"] == "Renommé 🚀" and after["updatedAt"] > before["updatedAt"]
    c0 = before["performanceStats"]["variants"][0]
    c1 = after["performanceStats"]["variants"][0]
    if "costPerAssetP50CU" in c0:
        assert c1["costPerAssetP50CU"] == pytest.approx(c0["costPerAssetP50CU"] * 2, abs=0.01)
    cat.update([target])
    assert cat.record(cat.index_of(target))["updatedAt"] > after["updatedAt"]


def test_types_restriction() -> None:
    recs = make_records(200, seed=1, types=["flux.1-lora", "custom"])
    assert {r["type"] for r in recs} == {"flux.1-lora", "custom"}


def test_update_changes_only_what_it_names() -> None:
    cat = DemoCatalog(40, seed=3)
    mid = cat.ids()[5]
    i = cat.index_of(mid)
    before = cat.record(i)
    new_type = "flux.1-lora" if before["type"] != "flux.1-lora" else "custom"
    cat.update([mid], {"type": new_type, "privacy": "public"})
    after = cat.record(i)
    assert after["type"] == new_type and cat.facts(i).type == new_type
    assert cat.facts(i).privacy == "public"
    changed = {k for k in set(before) | set(after) if before.get(k) != after.get(k)}
    assert changed <= {"type", "privacy", "updatedAt"}
