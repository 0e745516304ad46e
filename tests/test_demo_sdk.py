"""The official ``scenario_sdk`` client, pointed at the demo server, speaks its wire format."""

from __future__ import annotations

import typing
from collections.abc import Iterator

import pytest
import scenario_sdk
from scenario_sdk import Scenario
from scenario_sdk.types import ModelListResponse
from test_demo_server import VIOLATIONS

from scenario_frames import schema
from scenario_frames.demo import DemoServer, make_records, serve_demo

# The SDK release under test lists fewer model types than the API reference (no sd-1_5* and
# sd-xl* types), so the validation catalog keeps to the types both know.
SDK_TYPES = tuple(typing.get_args(ModelListResponse.model_fields["type"].annotation))
SHARED_TYPES = tuple(t for t in schema.MODEL_TYPES if t in SDK_TYPES)


@pytest.fixture(scope="module")
def sdk_server() -> Iterator[DemoServer]:
    with serve_demo(models=400, seed=21, types=SHARED_TYPES) as srv:
        yield srv


@pytest.fixture(autouse=True)
def _no_sdk_env(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in (
        "SCENARIO_SDK_API_KEY",
        "SCENARIO_SDK_API_SECRET",
        "SCENARIO_SDK_JWT",
        "SCENARIO_BASE_URL",
        "SCENARIO_CUSTOM_HEADERS",
    ):
        monkeypatch.delenv(name, raising=False)


def private_client(srv: DemoServer) -> Scenario:
    return Scenario(api_key="demo", api_secret="demo", base_url=srv.base_url, max_retries=0)


def public_client(srv: DemoServer) -> Scenario:
    return Scenario(
        api_key=None,
        api_secret=None,
        base_url=srv.base_url,
        max_retries=0,
        default_headers={"Authorization": "public-auth-token"},
    )


def test_sdk_pages_private_and_public_listings(sdk_server: DemoServer) -> None:
    sdk_server.reset_stats()
    private = list(private_client(sdk_server).models.list(privacy="private", page_size=37))
    public = list(public_client(sdk_server).models.list(privacy="public", page_size=53))
    ids_private = [m.id for m in private]
    ids_public = [m.id for m in public]
    assert len(ids_private) == len(set(ids_private)) and len(ids_public) == len(set(ids_public))
    assert not set(ids_private) & set(ids_public)
    assert set(ids_private) | set(ids_public) == set(sdk_server.catalog.ids())
    assert {m.privacy for m in private} == {"private", "unlisted"}
    assert {m.privacy for m in public} == {"public"}
    # the SDK followed the tokens page by page
    pages = -(-len(ids_private) // 37) + -(-len(ids_public) // 53)
    assert sdk_server.stats.requests == pages
    assert sum(1 for r in sdk_server.stats.log if "paginationToken" in r.params) == pages - 2


def test_model_list_response_accepts_every_record(sdk_server: DemoServer) -> None:
    records = list(sdk_server.catalog.records())
    for rec in records:
        model = ModelListResponse.model_validate(rec)
        assert model.id == rec["id"]
    # every input type, variants and training progress are among what was validated
    assert {i["type"] for r in records for i in r.get("inputs", [])} == set(schema.INPUT_TYPES)
    assert any("trainingProgress" in r for r in records)


def test_reference_types_unknown_to_this_sdk_are_the_only_gap() -> None:
    """With every reference type, the SDK refuses only the model types it does not list."""
    for rec in make_records(300, seed=0):
        try:
            ModelListResponse.model_validate(rec)
        except Exception as exc:  # pydantic.ValidationError
            errors = exc.errors()  # type: ignore[attr-defined]
            assert rec["type"] not in SDK_TYPES
            assert {e["loc"] for e in errors} == {("type",)}


@pytest.mark.parametrize("rule_id", sorted(VIOLATIONS))
def test_sdk_raises_bad_request_per_rule(sdk_server: DemoServer, rule_id: str) -> None:
    client = private_client(sdk_server)
    params = VIOLATIONS[rule_id]
    with pytest.raises(scenario_sdk.BadRequestError) as info:
        client.get("/models", cast_to=object, options={"params": params})
    assert info.value.status_code == 400
    body = info.value.body
    assert isinstance(body, dict) and body["reason"] == rule_id and rule_id in body["message"]


def test_sdk_typed_call_surfaces_rule(sdk_server: DemoServer) -> None:
    with pytest.raises(scenario_sdk.BadRequestError) as info:
        private_client(sdk_server).models.list(privacy="public", type="custom", types=["custom"])
    assert "type-with-types" in str(info.value)


def test_sdk_auth_errors(sdk_server: DemoServer) -> None:
    with pytest.raises(scenario_sdk.PermissionDeniedError):
        public_client(sdk_server).models.list(privacy="private")
    bad = Scenario(api_key="demo", api_secret="nope", base_url=sdk_server.base_url, max_retries=0)
    with pytest.raises(scenario_sdk.AuthenticationError):
        bad.models.list()


def test_sdk_types_filter_and_retry_on_fault() -> None:
    from scenario_frames.demo import Faults

    faults = Faults(rate=1.0, kinds=("503",), max_faults=1)
    with serve_demo(models=150, seed=2, types=SHARED_TYPES, faults=faults) as srv:
        client = Scenario(api_key="demo", api_secret="demo", base_url=srv.base_url, max_retries=2)
        got = list(
            client.models.list(privacy="public", types=["flux.1-lora", "custom"], page_size=10)
        )
        assert got and {m.type for m in got} <= {"flux.1-lora", "custom"}
        assert srv.stats.faults == {"503": 1}
