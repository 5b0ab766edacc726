"""TwelveLabs' indexes API (the first step of the Search API, docs/SEARCH-API.md) with the official
SDK 1.3.6 against the real server: create, list (pages, filters, order), retrieve, rename, delete,
the documented errors, per-key isolation, and the same over raw HTTP."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
from conftest import LiveServer, make_service
from twelvelabs import BadRequestError, TwelveLabs
from twelvelabs.core.api_error import ApiError
from twelvelabs.indexes import IndexesCreateRequestModelsItem

KEYS = {"key-a", "key-b"}
MARENGO = [IndexesCreateRequestModelsItem(model_name="marengo3.0", model_options=["visual", "audio"])]


@pytest.fixture(autouse=True)
def _no_env_override(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("TWELVELABS_BASE_URL", raising=False)


@pytest.fixture(scope="module")
def live(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    server = LiveServer(make_service(tmp_path_factory.mktemp("indexes"), start_workers=False), KEYS)
    yield server
    server.stop()


def sdk(live: LiveServer, key: str = "key-a") -> TwelveLabs:
    return TwelveLabs(api_key=key, base_url=live.url + "/v1.3")


def test_the_sdk_creates_lists_retrieves_renames_and_deletes_an_index(live: LiveServer) -> None:
    client = sdk(live)
    made = client.indexes.create(index_name="my videos", models=MARENGO, addons=["thumbnail"])
    assert made.id is not None and len(made.id) == 24
    index = client.indexes.retrieve(made.id)
    assert index.index_name == "my videos"
    assert [(m.model_name, m.model_options) for m in index.models or []] == [
        ("marengo3.0", ["visual", "audio"])
    ]
    assert index.addons == ["thumbnail"]
    assert (index.video_count, index.total_duration) == (0, 0)
    assert index.created_at is not None and index.created_at.endswith("Z")
    assert made.id in [i.id for i in client.indexes.list()]
    client.indexes.update(made.id, index_name="renamed")
    assert client.indexes.retrieve(made.id).index_name == "renamed"
    client.indexes.delete(made.id)
    with pytest.raises(ApiError) as gone:
        client.indexes.retrieve(made.id)
    assert gone.value.status_code == 404
    assert gone.value.body == {
        "code": "resource_not_exist",
        "message": f"Resource with id {made.id} does not exist in indexes.",
    }


def test_names_are_unique_per_key_and_keys_see_only_their_own(live: LiveServer) -> None:
    a, b = sdk(live, "key-a"), sdk(live, "key-b")
    first = a.indexes.create(index_name="shared name", models=MARENGO)
    with pytest.raises(BadRequestError) as taken:
        a.indexes.create(index_name="shared name", models=MARENGO)
    assert taken.value.body["code"] == "index_name_already_exists"
    assert "shared name" in taken.value.body["message"]
    other = b.indexes.create(index_name="shared name", models=MARENGO)  # another key may
    assert first.id not in [i.id for i in b.indexes.list()]
    with pytest.raises(ApiError) as hidden:
        b.indexes.retrieve(first.id)
    assert hidden.value.status_code == 404
    with pytest.raises(ApiError):
        b.indexes.delete(first.id)
    assert a.indexes.retrieve(first.id).index_name == "shared name"
    a.indexes.delete(first.id)
    b.indexes.delete(other.id)


def test_the_list_pages_filters_and_sorts(live: LiveServer) -> None:
    client = sdk(live, "key-b")
    made = [
        client.indexes.create(
            index_name=f"list-{n}",
            models=[IndexesCreateRequestModelsItem(model_name="marengo3.0", model_options=options)],
        ).id
        for n, options in enumerate((["visual"], ["visual", "audio"], ["audio"]))
    ]
    newest_first = [i.id for i in client.indexes.list(page_limit=2)]  # two pages, then an empty one
    assert newest_first[:3] == made[::-1]
    assert [i.id for i in client.indexes.list(sort_option="asc")][-3:] == made
    assert [i.id for i in client.indexes.list(index_name="list-1")] == [made[1]]
    assert [i.id for i in client.indexes.list(model_options="visual")][:2] == [made[1], made[0]]
    assert [i.id for i in client.indexes.list(model_options="visual,audio")] == [made[1]]
    assert list(client.indexes.list(model_family="pegasus")) == []
    past = httpx.get(f"{live.url}/indexes", params={"page": 99}, headers={"x-api-key": "key-b"})
    assert past.status_code == 200 and past.json()["data"] == []
    assert past.json()["page_info"]["total_results"] >= 3
    for index_id in made:
        client.indexes.delete(index_id)


@pytest.mark.parametrize(
    ("body", "code", "message"),
    [
        (
            {"models": [{"model_name": "marengo3.0", "model_options": ["visual"]}]},
            "parameter_not_provided",
            "The index_name parameter is required but was not provided.",
        ),
        (
            {"index_name": "x"},
            "parameter_not_provided",
            "The models parameter is required but was not provided.",
        ),
        (
            {"index_name": "x", "models": [{"model_name": "nope", "model_options": ["visual"]}]},
            "parameter_invalid",
            "The models[0].model_name parameter is invalid. Available models:",
        ),
        (
            {"index_name": "x", "models": [{"model_name": "marengo3.0", "model_options": []}]},
            "parameter_invalid",
            "The models[0].model_options parameter is invalid. Give a non-empty list of: visual, audio.",
        ),
        (
            {"index_name": "x", "models": [{"model_name": "marengo3.0", "model_options": ["conversation"]}]},
            "parameter_invalid",
            "The models[0].model_options parameter is invalid. conversation is not a model option here; use some of: visual, audio.",
        ),
        (
            {"index_name": "x", "models": [{"model_name": "pegasus1.2", "model_options": ["visual"]}]},
            "parameter_invalid",
            "The models parameter is invalid. Pegasus (video to text) is not served by vidembed",
        ),
        (
            {
                "index_name": "x",
                "models": [{"model_name": "marengo3.0", "model_options": ["visual"]}],
                "addons": ["hls"],
            },
            "parameter_invalid",
            "The addons parameter is invalid. The only add-on is thumbnail.",
        ),
        (
            {
                "index_name": "x",
                "models": [{"model_name": "marengo3.0", "model_options": ["visual"]}],
                "engines": [],
            },
            "parameter_unknown",
            "The engines parameter is unknown.",
        ),
    ],
)
def test_bad_bodies_get_a_400_that_names_the_field(
    live: LiveServer, body: dict, code: str, message: str
) -> None:
    answer = httpx.post(f"{live.url}/v1.3/indexes", json=body, headers={"x-api-key": "key-a"})
    assert answer.status_code == 400
    assert answer.json()["code"] == code and answer.json()["message"].startswith(message)


def test_an_index_keeps_its_models_and_a_rename_to_a_taken_name_fails(live: LiveServer) -> None:
    client = sdk(live)
    one = client.indexes.create(index_name="keep-1", models=MARENGO).id
    two = client.indexes.create(index_name="keep-2", models=MARENGO).id
    headers = {"x-api-key": "key-a"}
    changed = httpx.put(f"{live.url}/indexes/{one}", json={"index_name": "z", "models": []}, headers=headers)
    assert changed.status_code == 400 and changed.json()["code"] == "index_option_cannot_be_changed"
    with pytest.raises(BadRequestError) as taken:
        client.indexes.update(two, index_name="keep-1")
    assert taken.value.body["code"] == "index_name_already_exists"
    with pytest.raises(ApiError) as missing:
        client.indexes.update("f" * 24, index_name="whatever")
    assert missing.value.status_code == 404
    for index_id in (one, two):
        client.indexes.delete(index_id)


def test_indexes_survive_a_restart(tmp_path: Path) -> None:
    first = LiveServer(make_service(tmp_path, start_workers=False))
    try:
        made = sdk(first).indexes.create(index_name="durable", models=MARENGO).id
    finally:
        first.stop()
    second = LiveServer(make_service(tmp_path, start_workers=False))
    try:
        assert sdk(second).indexes.retrieve(made).index_name == "durable"
    finally:
        second.stop()
