"""Catalog: tables, flattening, child tables, extras, rejects, duplicates and the views."""

from __future__ import annotations

import datetime as dt
import json

import orjson
import polars as pl
import pytest
from _frames_records import both_routes, clone, full_record, minimal_record, page
from hypothesis import given, settings
from hypothesis import strategies as st
from polars.testing import assert_frame_equal

from scenario_frames import schema as S
from scenario_frames.tables import catalog as F
from scenario_frames.tables import materialize as M
from scenario_frames.tables.catalog import Catalog, CatalogMeta

UTC = dt.UTC


def _both_paths(pages: list[bytes]) -> dict[str, pl.DataFrame]:
    """Tables by the fast path and by the exact path; they must agree."""
    fast, _ = F._assemble(M.iter_page_outputs(pages))
    exact, _ = F._assemble(M.iter_page_outputs(pages, fast=False))
    for name in S.TABLE_ORDER:
        assert_frame_equal(fast[name], exact[name])
    return fast


# ---------------------------------------------------------------------------------------------
# Shape
# ---------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "make",
    [
        lambda: Catalog.from_records([]),
        lambda: Catalog.from_json_pages([]),
        lambda: Catalog.from_json_pages([b'{"models": []}']),
    ],
)
def test_empty_catalog_keeps_every_table_and_schema(make):
    cat = make()
    assert list(cat.tables) == list(S.TABLE_ORDER)
    for name, df in cat.tables.items():
        assert df.schema == S.TABLES[name].schema, name
        assert df.height == 0
    assert cat.counts == dict.fromkeys(S.TABLE_ORDER, 0)
    assert len(cat) == 0


def test_models_flattened_by_path_with_schema_dtypes():
    rec = full_record("model_a")
    cat = Catalog.from_json_pages([page([rec])])
    m = cat.models
    assert m.schema == S.TABLES["models"].schema
    row = m.row(0, named=True)
    assert row["model_id"] == "model_a"
    assert row["class_slug"] == rec["class"]["slug"]
    assert row["parameters_learning_rate"] == rec["parameters"]["learningRate"]
    assert row["training_stats_train_duration"] == rec["trainingStats"]["trainDuration"]
    assert row["thumbnail_url"] == rec["thumbnail"]["url"]
    assert row["training_progress_stage"] == rec["trainingProgress"]["stage"]
    assert row["created_at"] == dt.datetime(2024, 3, 5, 10, 20, 30, 456000, tzinfo=UTC)
    assert row["training_progress_updated_at"] == dt.datetime.fromtimestamp(1_700_000_000, UTC)
    assert row["default_variant_key"] == rec["performanceStats"]["default"]
    assert row["capabilities"] == ["txt2img", "img2img"]
    assert row["tags"] == rec["tags"] and row["collection_ids"] == rec["collectionIds"]
    assert row["compliant_model_ids"] == rec["compliantModelIds"]
    assert row["example_asset_ids"] == rec["exampleAssetIds"]
    assert json.loads(row["ui_config_presets"]) == rec["uiConfig"]["presets"]
    assert (
        json.loads(row["ui_config_resolution_component_presets"])
        == rec["uiConfig"]["resolutionComponent"]["presets"]
    )
    assert row["extra"] is None


def test_child_tables_keyed_by_model_and_position():
    rec = full_record("model_a")
    rec["epochs"].append({"epoch": "no-assets"})  # still one row, null asset columns
    cat = Catalog.from_json_pages([page([rec, minimal_record("model_b")])])
    assert cat.capabilities.rows() == [("model_a", 0, "txt2img"), ("model_a", 1, "img2img")]
    assert cat.tags["tag"].to_list() == rec["tags"]
    assert cat.collections["collection_id"].to_list() == rec["collectionIds"]
    assert cat.example_assets["asset_id"].to_list() == rec["exampleAssetIds"]
    v = cat.variants
    assert v["position"].to_list() == [0, 1]
    assert v["is_default"].to_list() == [False, True]
    assert v["arena_category"].to_list() == [
        x["arenaScore"]["arenaCategory"] for x in rec["performanceStats"]["variants"]
    ]
    assert v["computed_at"].dtype == pl.Datetime("us", "UTC")
    e = cat.epochs
    assert e.height == 2 * 2 + 1
    last = e.row(-1, named=True)
    assert (last["epoch"], last["position"], last["asset_position"], last["asset_id"]) == (
        "no-assets",
        2,
        None,
        None,
    )
    assert e.filter(pl.col("position") == 1)["asset_id"].to_list() == [
        a["assetId"] for a in rec["epochs"][1]["assets"]
    ]
    assert cat.concepts["concept_model_id"].to_list() == [c["modelId"] for c in rec["concepts"]]
    assert cat.training_images["image_id"].to_list() == [t["id"] for t in rec["trainingImages"]]
    assert cat.training_image_pairs.height == 2
    # model_b has none of them: no rows, but it is in models
    assert cat.models["model_id"].to_list() == ["model_a", "model_b"]
    for name in ("capabilities", "variants", "epochs", "inputs"):
        assert "model_b" not in cat.tables[name]["model_id"].to_list()


def test_inputs_nested_members_json_text_and_typed_defaults():
    rec = full_record("model_a")
    cat = Catalog.from_json_pages([page([rec])])
    i = cat.inputs
    assert i.select("parent_name", "position", "name").rows() == [
        (None, 0, "steps"),
        (None, 1, "shots"),
        ("shots", 0, "caption"),
        ("shots", 1, "flag"),
    ]
    steps, shots, caption, flag = i.iter_rows(named=True)
    assert steps["default_number"] == 30 and json.loads(steps["default"]) == 30
    assert json.loads(steps["allowed_values"]) == [10, 20, 30]
    assert json.loads(shots["allowed_values"]) == ["a", 1, True, None, {"k": [1]}]
    assert shots["default"] is None
    assert caption["default_string"] == "hello" and caption["default_number"] is None
    assert flag["default_bool"] is False and json.loads(flag["default"]) is False
    assert steps["required_always"] == rec["inputs"][0]["required"]["always"]
    assert json.loads(steps["required_if_defined"]) == rec["inputs"][0]["required"]["ifDefined"]
    assert i.schema == S.TABLES["inputs"].schema


def test_unknown_fields_kept_in_extra_at_every_level():
    rec = full_record("model_a")
    rec["archivedAt"] = None
    rec["licenseId"] = "lic_1"
    rec["class"]["newThing"] = {"deep": [1, 2]}
    rec["trainingProgress"]["gpuType"] = 2
    rec["uiConfig"]["layoutHints"] = {"x": 1}
    rec["uiConfig"]["lorasComponent"]["extraKnob"] = True
    rec["performanceStats"]["variants"][0]["energyWh"] = 1.25
    rec["performanceStats"]["variants"][1]["arenaScore"]["votesLastWeek"] = 9
    rec["epochs"][0]["note"] = "e0"
    rec["epochs"][1]["assets"][1]["width"] = 512
    rec["inputs"][0]["aspectLock"] = 1
    rec["inputs"][0]["required"]["unlessAll"] = "or"
    rec["inputs"][0]["required"]["conditional"] = {
        "values": {"a": [1]},
        "operator": "and",
        "negate": True,
    }
    rec["inputs"][1]["inputs"][0]["kindHint"] = "x"
    rec["concepts"][0]["weightName"] = "w"
    rec["trainingImages"][1]["size"] = 10
    rec["trainingImagePairs"][0]["mask"] = None
    tables = _both_paths([page([rec])])
    extra = json.loads(tables["models"]["extra"][0])
    assert extra == {
        "archivedAt": None,
        "licenseId": "lic_1",
        "class": {"newThing": {"deep": [1, 2]}},
        "trainingProgress": {"gpuType": 2},
        "uiConfig": {"layoutHints": {"x": 1}, "lorasComponent": {"extraKnob": True}},
    }
    v = [None if x is None else json.loads(x) for x in tables["variants"]["extra"]]
    assert v == [{"energyWh": 1.25}, {"arenaScore": {"votesLastWeek": 9}}]
    e = [None if x is None else json.loads(x) for x in tables["epochs"]["extra"]]
    assert e == [{"note": "e0"}, {"note": "e0"}, None, {"assets": {"width": 512}}]
    i = [None if x is None else json.loads(x) for x in tables["inputs"]["extra"]]
    assert i == [
        {"aspectLock": 1, "required": {"unlessAll": "or", "conditional": {"negate": True}}},
        None,
        {"kindHint": "x"},
        None,
    ]
    first = tables["inputs"].row(0, named=True)
    assert json.loads(first["required_condition_values"]) == {"a": [1]}
    assert first["required_condition_operator"] == "and"
    assert json.loads(tables["concepts"]["extra"][0]) == {"weightName": "w"}
    assert json.loads(tables["training_images"]["extra"][1]) == {"size": 10}
    assert json.loads(tables["training_image_pairs"]["extra"][0]) == {"mask": None}


def test_unknown_enum_values_survive_as_strings():
    rec = full_record("model_a")
    rec.update(type="flux.3-preview", status="archived", privacy="team", capabilities=["txt2world"])
    rec["trainingProgress"]["stage"] = "warming-up"
    rec["inputs"][0]["type"] = "matrix"
    cat = Catalog.from_json_pages([page([rec])])
    row = cat.models.row(0, named=True)
    assert (row["type"], row["status"], row["privacy"], row["training_progress_stage"]) == (
        "flux.3-preview",
        "archived",
        "team",
        "warming-up",
    )
    assert cat.capabilities["capability"].to_list() == ["txt2world"]
    assert cat.inputs["input_type"][0] == "matrix"
    assert cat.rejects.height == 0


# ---------------------------------------------------------------------------------------------
# Rejects
# ---------------------------------------------------------------------------------------------


def _broken(change) -> dict:
    rec = full_record("model_bad")
    change(rec)
    return rec


BAD = [
    (7, "not an object"),
    ("text", "not an object"),
    (None, "not an object"),
    ([1, 2], "not an object"),
    ({"name": "no id"}, "no id"),
    ({"id": 12}, "id is a number"),
    ({"id": ""}, "id is empty"),
    (_broken(lambda r: r.update(trainingImagesNumber="12")), "trainingImagesNumber"),
    (_broken(lambda r: r.update(name=5)), "name"),
    (_broken(lambda r: r.update(custom=1)), "custom"),
    (_broken(lambda r: r["parameters"].update(learningRate=True)), "learningRate"),
    (_broken(lambda r: r.update(accessRestrictions=25.0)), "25.0"),
    (_broken(lambda r: r.update(tags="sci-fi")), "tags"),
    (_broken(lambda r: r.update(createdAt="yesterday")), "yesterday"),
    (_broken(lambda r: r.update(createdAt=1700000000)), "createdAt"),
    (_broken(lambda r: r.update(thumbnail="x.png")), "thumbnail"),
    (_broken(lambda r: r["performanceStats"]["variants"].append(3)), "variants"),
    (_broken(lambda r: r["trainingProgress"].update(updatedAt=1.5)), "1.5"),
    (_broken(lambda r: r.update(inputs={"a": 1})), "inputs"),
    (_broken(lambda r: r["inputs"].append("x")), "inputs[]: expected object"),
    (_broken(lambda r: r["inputs"][1]["inputs"].append(4)), "inputs[1].inputs[2]"),
    (_broken(lambda r: r["inputs"][0].update(max="10")), "inputs[0]"),
    (_broken(lambda r: r["inputs"][1]["inputs"][0].update(label=3)), "inputs[1].inputs[0]"),
]


@pytest.mark.parametrize("as_pages", [True, False], ids=["pages", "records"])
def test_bad_records_rejected_with_reason_rest_of_page_kept(as_pages):
    good = [full_record("model_g1", 1), full_record("model_g2", 2)]
    records = [good[0], *[b for b, _ in BAD], good[1]]
    if as_pages:
        cat = Catalog.from_json_pages([page(records)])
    else:
        cat = Catalog.from_records(records)
    assert cat.models["model_id"].to_list() == ["model_g1", "model_g2"]
    rej = cat.rejects
    assert rej["index"].to_list() == list(range(1, 1 + len(BAD)))
    assert rej["page"].to_list() == ([0] * len(BAD) if as_pages else [None] * len(BAD))
    for (bad, fragment), reason, raw in zip(BAD, rej["reason"], rej["raw"], strict=True):
        assert fragment in reason, (fragment, reason)
        assert orjson.loads(raw) == bad
    assert set(rej["model_id"].drop_nulls()) == {"model_bad", ""}
    # nothing of a rejected record leaks into child tables
    for name in S.TABLE_ORDER[1:-1]:
        assert set(cat.tables[name]["model_id"]) <= {"model_g1", "model_g2"}, name


def test_non_json_records_and_pages_are_rejects_never_errors():
    cat = Catalog.from_records([{"id": "a"}, {"id": "b", "x": {1, 2}}, {"id": "c", "y": b"\xff"}])
    assert cat.models["model_id"].to_list() == ["a"]
    assert cat.rejects["index"].to_list() == [1, 2]
    assert all("not JSON-serializable" in r for r in cat.rejects["reason"])
    pages = [
        page([{"id": "p0"}]),
        b'{"models": [',
        b'{"other": 1}',
        b"[1]",
        {"models": []},
        page([{"id": "p5"}]),
    ]
    cat = Catalog.from_json_pages(pages)
    assert cat.models["model_id"].to_list() == ["p0", "p5"]
    assert cat.rejects["page"].to_list() == [1, 2, 3, 4]
    assert cat.rejects["index"].null_count() == 4
    assert "not valid JSON" in cat.rejects["reason"][0]
    assert cat.meta.pages == 6


# ---------------------------------------------------------------------------------------------
# Pages, duplicates, paths
# ---------------------------------------------------------------------------------------------


def test_duplicates_across_pages_keep_the_later_copy():
    first = full_record("model_a")
    later = clone(first)
    later["name"] = "renamed"
    later["tags"] = ["only-one"]
    cat = Catalog.from_json_pages([page([first, full_record("model_b", 3)], "t1"), page([later])])
    assert cat.meta.duplicates == 1
    assert sorted(cat.models["model_id"]) == ["model_a", "model_b"]
    assert cat.models.filter(pl.col("model_id") == "model_a")["name"].to_list() == ["renamed"]
    assert cat.tags.filter(pl.col("model_id") == "model_a")["tag"].to_list() == ["only-one"]
    assert cat.variants.filter(pl.col("model_id") == "model_a").height == 2
    assert cat.inputs.filter(pl.col("model_id") == "model_a").height == 4


def test_str_pages_bytes_pages_and_records_agree():
    records = [full_record(f"model_{i}", i) for i in range(5)] + [minimal_record()]
    as_bytes = Catalog.from_json_pages([page(records[:3]), page(records[3:])])
    as_str = Catalog.from_json_pages([page(records[:3]).decode(), page(records[3:]).decode()])
    as_records = Catalog.from_records(records)
    for name in S.TABLE_ORDER:
        assert_frame_equal(as_bytes.tables[name], as_str.tables[name])
        assert_frame_equal(as_bytes.tables[name], as_records.tables[name])


def test_fast_path_falls_back_on_tricky_bytes():
    """Byte counting must never hide an unknown key: tricky pages give the exact answer."""
    rec = full_record("model_a")
    rec["name"] = 'quote \\": and "inputs": and "uiConfig": inside a string'
    rec["uiConfig"]["inputProperties"] = {"inputs": {"collapsed": True}}
    other = full_record("model_b", 1)
    other["parameters"]["inputs"] = [1]  # a key named inputs in the wrong place: unknown
    third = full_record("model_c", 2)
    third["shortDescription"] = None  # a known key set to null
    third["inputs"][0]["description"] = "é€😀 " * 3000  # non-ASCII, larger than a window
    pretty = json.dumps({"models": [full_record("model_d", 3)]}, indent=1, separators=(",", " : "))
    tables = _both_paths([page([rec, other, third]), pretty.encode()])
    assert tables["models"]["model_id"].to_list() == ["model_a", "model_b", "model_c", "model_d"]
    assert json.loads(tables["models"]["extra"][1]) == {"parameters": {"inputs": [1]}}
    props = json.loads(tables["models"]["ui_config_input_properties"][0])
    assert props == {"inputs": {"collapsed": True}}
    assert (
        tables["inputs"].filter(pl.col("model_id") == "model_c")["description"][0]
        == third["inputs"][0]["description"]
    )


# ---------------------------------------------------------------------------------------------
# Views and metadata
# ---------------------------------------------------------------------------------------------


def test_describe_lists_schema_columns_and_flags_strangers():
    cat = Catalog.from_records([full_record()])
    d = cat.describe("models")
    assert d.columns == ["column", "dtype", "description", "source", "in_schema"]
    row = d.filter(pl.col("column") == "parameters_learning_rate").row(0, named=True)
    assert row["source"] == "parameters.learningRate" and row["dtype"] == "Float64"
    assert row["description"] and row["in_schema"]
    assert d["in_schema"].all() and d.height == len(S.TABLES["models"].columns)
    odd = Catalog.from_tables({"models": cat.models.with_columns(my_note=pl.lit("x"))}, cat.meta)
    d2 = odd.describe("models")
    assert d2.filter(~pl.col("in_schema"))["column"].to_list() == ["my_note"]
    with pytest.raises(KeyError, match="no table"):
        cat.describe("nope")


def test_capability_matrix_known_and_unknown_capabilities():
    a = full_record("model_a")
    a["capabilities"] = ["txt2img", "txt2world"]
    b = minimal_record("model_b")
    cat = Catalog.from_records([a, b])
    m = cat.capability_matrix()
    assert m.columns == ["model_id", *S.CAPABILITIES, "txt2world"]
    assert m.row(0, named=True)["txt2img"] and m.row(0, named=True)["txt2world"]
    assert not m.row(0, named=True)["img2img"]
    assert not any(v for k, v in m.row(1, named=True).items() if k != "model_id")
    assert all(m.schema[c] == pl.Boolean for c in m.columns[1:])


def test_to_pandas_through_arrow():
    cat = Catalog.from_records([full_record("model_a"), minimal_record()])
    pdf = cat.to_pandas("models")
    assert list(pdf.columns) == cat.models.columns and len(pdf) == 2
    assert str(pdf["created_at"].dtype).startswith("datetime64") and "UTC" in str(
        pdf["created_at"].dtype
    )
    assert len(cat.to_pandas("inputs")) == 4


def test_meta_repr_with_meta_and_from_tables():
    meta = CatalogMeta(
        query={"privacy": "public"},
        base_url="https://key:secret@api.example/v1?x=1",
        pages=3,
        requests=4,
        retries=1,
        duration_s=1.5,
    )
    cat = Catalog.from_records([full_record()], meta=meta)
    text = repr(cat)
    assert "models=1" in text and "secret" not in text and "key:" not in text
    assert cat.meta.pages == 3 and cat.meta.duplicates == 0
    assert cat.meta.fetched_at.tzinfo is not None
    moved = cat.with_meta(incremental_from="2024-01-01")
    assert moved.meta.incremental_from == "2024-01-01" and cat.meta.incremental_from is None
    assert moved.models is cat.models
    assert CatalogMeta.from_dict(cat.meta.to_dict()) == cat.meta
    # from_tables: missing tables become empty, missing schema columns become nulls
    slim = Catalog.from_tables({"models": cat.models.drop("extra")}, cat.meta)
    assert slim.models["extra"].null_count() == 1 and slim.models.columns == cat.models.columns
    assert slim.variants.schema == S.TABLES["variants"].schema and slim.variants.height == 0
    with pytest.raises(ValueError, match="unknown table"):
        Catalog.from_tables({"model": cat.models}, cat.meta)
    tables = cat.tables
    tables["models"] = tables["models"].head(0)
    assert cat.models.height == 1  # the catalog does not change


@settings(max_examples=40, deadline=None)
@given(
    picks=st.lists(st.integers(0, 4), min_size=1, max_size=14),
    per_page=st.integers(1, 4),
    batch=st.integers(1, 6),
)
def test_any_batching_keeps_the_last_copy_with_its_child_rows(picks, per_page, batch):
    """Copies of a record anywhere (same page, same batch, later batches): whatever the batch
    size, the tables equal those built in one batch, and each record sent is a model or a
    counted duplicate.  Each copy differs (name, tags, variants), so keeping a wrong one or
    another copy's child rows shows."""
    recs = []
    for n, i in enumerate(picks):
        rec = full_record(f"model_{i}", i)
        rec["name"] = f"copy {n}"
        rec["tags"] = [f"t{n}", f"u{n}"][: 1 + n % 2]
        recs.append(rec)
    pages = [page(recs[k : k + per_page]) for k in range(0, len(recs), per_page)]
    whole = Catalog.from_json_pages(pages)
    saved = F.BATCH_RECORDS
    F.BATCH_RECORDS = batch
    try:
        split = Catalog.from_json_pages(pages)
    finally:
        F.BATCH_RECORDS = saved
    for name in S.TABLE_ORDER:
        assert_frame_equal(whole.tables[name], split.tables[name])
    last = {f"model_{i}": f"copy {n}" for n, i in enumerate(picks)}
    got = dict(split.models.select("model_id", "name").iter_rows())
    assert got == last
    assert split.meta.duplicates == len(picks) - len(last)
    want_tags = sorted(
        (f"model_{i}", t)
        for n, i in enumerate(picks)
        if last[f"model_{i}"] == f"copy {n}"
        for t in [f"t{n}", f"u{n}"][: 1 + n % 2]
    )
    assert sorted(split.tables["tags"].select("model_id", "tag").iter_rows()) == want_tags


def test_default_meta_counts_pages():
    cat = Catalog.from_json_pages([page([minimal_record("a")]), page([minimal_record("b")])])
    assert cat.meta.pages == 2 and cat.meta.requests == 2
    assert (dt.datetime.now(UTC) - cat.meta.fetched_at).total_seconds() < 60


def test_small_batches_give_the_same_tables(monkeypatch):
    """Tables are built in batches of pages; duplicates and refusals span batches."""
    recs = [full_record(f"model_{i}", i) for i in range(6)]
    late_bad = full_record("model_late", 9)
    late_bad["inputs"][0]["max"] = "ten"  # refused once the inputs are read
    again = clone(recs[1])
    again["name"] = "again"
    pages = [page(recs[:2]), page([late_bad, recs[2]]), page(recs[3:]), page([again])]
    whole = Catalog.from_json_pages(pages)
    monkeypatch.setattr(F, "BATCH_RECORDS", 2)
    split = Catalog.from_json_pages(pages)
    for name in S.TABLE_ORDER:
        assert_frame_equal(whole.tables[name], split.tables[name])
    assert split.meta.duplicates == 1 and split.rejects["model_id"].to_list() == ["model_late"]
    assert split.models.filter(pl.col("model_id") == "model_1")["name"].to_list() == ["again"]


def test_inputs_with_integers_wider_than_64_bits_are_read_row_by_row():
    """The inputs of a page are written for Arrow in one call; an integer orjson cannot write
    (beyond 64 bits, kept exactly by the exact decode) sends them through the writer that can,
    row by row, and the rows still read, on both routes alike."""
    rec = full_record("model_wide", 1)
    rec["inputs"][0]["max"] = 2**64 + 1
    rec["inputs"][0]["note"] = 10**30  # an unknown key: kept exactly in the input's extra
    body = b'{"models":[' + json.dumps(rec).encode() + b"]}"
    both_routes(body)
    cat = Catalog.from_json_pages([body])
    assert cat.rejects.height == 0
    first = cat.inputs.filter(pl.col("name") == "steps")
    assert first["max"].to_list() == [float(2**64 + 1)]
    assert json.loads(first["extra"].item()) == {"note": 10**30}


def test_pages_of_every_route_join_into_one_batch():
    """A batch joins its pages' typed reads into one struct array: pages read on the fast
    route, the whole-page route (an escaped envelope key) and a page whose inputs are read
    row by row (one refused) give, together, what each gives alone."""
    from scenario_frames.demo.generator import make_records

    recs = make_records(30, seed=3, drift=True)
    bad = full_record("model_bad", 1)
    bad["inputs"][0]["max"] = "ten"
    pages = [
        page(recs[:10]),
        page(recs[10:20]).replace(b'"models"', b'"\\u006dodels"', 1),
        page(recs[20:]),
        page([bad, full_record("model_ok", 2)]),
    ]
    together = Catalog.from_json_pages(pages)
    alone = [Catalog.from_json_pages([p]) for p in pages]
    assert together.rejects["model_id"].to_list() == ["model_bad"]
    for name in S.TABLE_ORDER:
        got, want = together.tables[name], pl.concat([c.tables[name] for c in alone])
        if name == "rejects":  # numbered by page
            got, want = got.drop("page"), want.drop("page")
        assert_frame_equal(got, want)
