"""The snapshot manifest: one ``Manifest`` type, written and read by the same code.

* Every ``CatalogMeta`` field (the fetch's ``FetchStats`` included) survives write -> read,
  and every manifest key survives read -> JSON: a field the writer or the reader dropped
  fails here, and so does a field added to ``CatalogMeta`` without a value below.
* Keys a newer version wrote are kept; a manifest from an older version, without the newer
  fields, still reads (with their defaults) through every reader.
* A value of the wrong type is a ``SnapshotError`` naming the field; credentials in an old
  manifest's base URL never reach the meta.
"""

from __future__ import annotations

import dataclasses
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest

from scenario_frames import store as snap
from scenario_frames.demo.generator import make_records
from scenario_frames.fetch_stats import FetchStats
from scenario_frames.tables.catalog import Catalog, CatalogMeta

# One value per CatalogMeta field, none of them the field's default.
EVERY_FIELD: dict[str, Any] = {
    "requests": 17,
    "retries": 3,
    "pages": 5,
    "body_bytes": 123_456,
    "models": 41,
    "duration_s": 1.234567,
    "partitioned": True,
    "workers": 4,
    "partitions": 6,
    "mode_reason": "partitioned",
    "resumed": True,
    "duplicates": 1,
    "records_fast": 30,
    "records_exact": 10,
    "fetched_at": datetime(2026, 3, 1, 12, 0, 0, 654321, tzinfo=UTC),
    "query": {"privacy": "public", "sortBy": "createdAt"},
    "base_url": "http://127.0.0.1:8000/v1",
    "incremental_from": "snapshot_at=2026-02-28T00-00-00Z",
}
# Keys older writers did not know (added with the unified FetchStats or the decode routes).
NEWER_KEYS = (
    "body_bytes",
    "models",
    "partitioned",
    "workers",
    "partitions",
    "mode_reason",
    "resumed",
    "records_fast",
    "records_exact",
)


def _catalog(**meta: Any) -> Catalog:
    return Catalog.from_records(make_records(20, seed=4)).with_meta(**meta)


def _manifest_json(folder: Path) -> dict[str, Any]:
    return json.loads((folder / snap.MANIFEST).read_text(encoding="utf-8"))


def _rewrite(folder: Path, data: dict[str, Any]) -> None:
    (folder / snap.MANIFEST).write_text(json.dumps(data, indent=2), encoding="utf-8")


def test_every_field_has_a_non_default_value_here() -> None:
    """The round trip below only proves a field when its value differs from the default."""
    fields = {f.name: f for f in dataclasses.fields(CatalogMeta)}
    assert set(EVERY_FIELD) == set(fields), "give every CatalogMeta field a value in EVERY_FIELD"
    plain = CatalogMeta()
    for name, value in EVERY_FIELD.items():
        assert value != getattr(plain, name), name


def test_write_then_read_round_trips_every_field(tmp_path: Path) -> None:
    cat = _catalog(**EVERY_FIELD)
    detail = {"from": EVERY_FIELD["incremental_from"], "fetched_models": 3, "overlap_s": 1.5}
    folder = snap.write_snapshot(cat, tmp_path, incremental=detail)

    # every CatalogMeta field is in the file under its own name ...
    data = _manifest_json(folder)
    for name in EVERY_FIELD:
        assert name in data, name
    assert data["fetched_at"] == "2026-03-01T12:00:00.654321Z"
    # ... and comes back equal, through the typed reader and through read_snapshot
    manifest = snap.Manifest.read(folder)
    assert manifest.meta == cat.meta
    assert snap.read_snapshot(folder).meta == cat.meta
    for name, value in EVERY_FIELD.items():
        assert getattr(manifest.meta, name) == value, name
    # the manifest's own fields
    assert manifest.rows == cat.counts
    assert set(manifest.tables) == {n for n, rows in cat.counts.items() if n != "rejects" or rows}
    assert all(len(info["sha256"]) == 64 for info in manifest.tables.values())
    assert manifest.incremental and manifest.incremental_detail == detail
    assert manifest.snapshot_at == folder.name.removeprefix(snap.PREFIX)
    assert (manifest.format, manifest.schema_version) == (snap.FORMAT, snap.SCHEMA_VERSION)
    assert manifest.schema_fingerprint == snap.schema_fingerprint()
    assert manifest.scenario_frames_version and manifest.written_at is not None
    assert manifest.other == {}
    # the typed manifest gives the file back exactly, and so does read_manifest
    assert manifest.to_json() == data == snap.read_manifest(folder)
    assert snap.Manifest.from_json(data) == manifest


def test_unknown_keys_from_a_newer_version_are_kept(tmp_path: Path) -> None:
    folder = snap.write_snapshot(_catalog(pages=2, requests=3), tmp_path)
    data = _manifest_json(folder)
    data["cost_cu"] = 12.5  # top-level keys a newer writer added
    data["server"] = {"region": "eu", "versions": [1, 2]}
    data["tables"]["models"]["row_groups"] = 1  # and one inside a table entry
    _rewrite(folder, data)

    manifest = snap.Manifest.read(folder)
    assert manifest.other == {"cost_cu": 12.5, "server": {"region": "eu", "versions": [1, 2]}}
    assert manifest.tables["models"]["row_groups"] == 1
    assert manifest.to_json() == data
    assert snap.read_manifest(folder) == data
    # the readers still work on it
    assert snap.read_snapshot(folder).meta.requests == 3
    assert snap.history(tmp_path)["models"].collect().height == 20


def test_a_manifest_from_an_older_version_still_reads(tmp_path: Path) -> None:
    cat = _catalog(pages=2, requests=3, retries=1, duration_s=0.5, query={"privacy": "public"})
    folder = snap.write_snapshot(cat, tmp_path)
    data = _manifest_json(folder)
    for key in (*NEWER_KEYS, "written_at", "schema_fingerprint", "incremental_detail"):
        del data[key]
    data["duplicates"] = None  # an older writer's null
    _rewrite(folder, data)

    meta = snap.read_snapshot(folder).meta
    plain = FetchStats()
    for key in NEWER_KEYS:
        assert getattr(meta, key) == getattr(plain, key), key
    assert meta.duplicates == 0
    assert (meta.pages, meta.requests, meta.retries, meta.duration_s) == (2, 3, 1, 0.5)
    assert meta.query == {"privacy": "public"} and meta.fetched_at == cat.meta.fetched_at
    manifest = snap.Manifest.read(folder)
    assert manifest.written_at is None and manifest.schema_fingerprint is None
    assert not manifest.incremental and manifest.other == {}
    # the JSON view has the newer keys at their defaults
    view = snap.read_manifest(folder)
    assert all(view[key] == getattr(plain, key) for key in NEWER_KEYS)
    assert snap.history(tmp_path)["models"].collect().height == 20


def test_a_manifest_without_fetched_at_is_dated_by_its_folder(tmp_path: Path) -> None:
    folder = snap.write_snapshot(
        _catalog(fetched_at=datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)), tmp_path
    )
    data = _manifest_json(folder)
    del data["fetched_at"]
    _rewrite(folder, data)
    assert snap.read_snapshot(folder).meta.fetched_at == datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC)


def test_a_value_of_the_wrong_type_names_its_field(tmp_path: Path) -> None:
    folder = snap.write_snapshot(_catalog(), tmp_path)
    data = _manifest_json(folder)
    data["requests"] = "many"
    _rewrite(folder, data)
    with pytest.raises(snap.SnapshotError, match="requests must be a int, not 'many'"):
        snap.read_snapshot(folder)


def test_credentials_in_an_old_manifest_base_url_never_reach_the_meta(tmp_path: Path) -> None:
    folder = snap.write_snapshot(_catalog(), tmp_path)
    data = _manifest_json(folder)
    data["base_url"] = "https://key123:secret456@api.example.test/v1?token=abc"
    _rewrite(folder, data)
    meta = snap.read_snapshot(folder).meta
    assert meta.base_url == "https://api.example.test/v1"
    for secret in ("key123", "secret456", "token=abc"):
        assert secret not in repr(meta) and secret not in json.dumps(snap.read_manifest(folder))


def test_history_names_a_manifest_that_is_not_json(tmp_path: Path) -> None:
    good = snap.write_snapshot(_catalog(), tmp_path, at=datetime(2026, 1, 1, tzinfo=UTC))
    bad = snap.write_snapshot(_catalog(), tmp_path, at=datetime(2026, 1, 2, tzinfo=UTC))
    (bad / snap.MANIFEST).write_text("{not json", encoding="utf-8")
    with pytest.raises(snap.SnapshotError, match="its manifest.json is not valid JSON") as err:
        snap.history(tmp_path)
    assert bad.name in str(err.value) and good.name not in str(err.value)
    assert snap.history(tmp_path, damaged="skip")["models"].collect().height == 20


def test_fetch_stats_from_dict_is_lenient_with_other_versions_and_strict_with_types() -> None:
    stats = FetchStats.from_dict({"requests": "3", "partitioned": 1, "duration_s": 2, "new": 1})
    assert stats == FetchStats(requests=3, partitioned=True, duration_s=2.0)
    assert FetchStats.from_dict({"pages": None}) == FetchStats()
    assert FetchStats.from_dict(FetchStats(pages=4, resumed=True).to_dict()) == FetchStats(
        pages=4, resumed=True
    )
    for bad in ({"pages": 1.5}, {"resumed": "maybe"}, {"workers": [1]}):
        with pytest.raises(ValueError, match=f"{next(iter(bad))} must be"):
            FetchStats.from_dict(bad)


def test_tables_wrapped_by_hand_are_written_with_a_default_meta(tmp_path: Path) -> None:
    """A catalog-like object without a CatalogMeta: fetched now, named by that same time."""
    from types import SimpleNamespace

    tables = Catalog.from_records(make_records(5, seed=8)).tables
    folder = snap.write_snapshot(SimpleNamespace(tables=tables, meta=None), tmp_path)
    meta = snap.read_snapshot(folder).meta
    assert folder.name == snap.PREFIX + snap.snapshot_name(meta.fetched_at)
    assert meta.fetch_stats() == FetchStats() and meta.query == {} and meta.base_url is None
    partial = SimpleNamespace(pages=4, query={"privacy": "public"})  # a meta-like object
    folder = snap.write_snapshot(SimpleNamespace(tables=tables, meta=partial), tmp_path)
    meta = snap.read_snapshot(folder).meta
    assert (meta.pages, meta.query, meta.requests) == (4, {"privacy": "public"}, 0)
