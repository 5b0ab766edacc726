"""The OpenAPI schemas of Embed v2's JSON bodies (``vidembed.api.embed_v2.schema``): in the server's
document, built from the rules' constants, valid for every body the docs, the routes' examples,
TwelveLabs' contract examples and the official SDK 1.3.6 send, and permissive where the parser
is: the cross-field rules are in the schema's description, and bodies refused only by them are
schema-valid."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import jsonschema
import pytest
from conftest import make_service

from vidembed.api.compose import services_for
from vidembed.api.embed_v2 import rules
from vidembed.api.embed_v2.schema import SYNC_RULES, TASK_RULES, sync_schema, task_schema
from vidembed.errors import BadRequestError
from vidembed.segmentation import MAX_CLIP_SEC, MAX_DYNAMIC_SEC, MIN_CLIP_SEC, MIN_DYNAMIC_SEC
from vidembed.server.app import create_app
from vidembed.server.auth import ApiKeys

DOCS = Path(__file__).resolve().parents[2] / "docs" / "EMBED_V2.md"
SYNC, TASKS = "/embed-v2", "/embed-v2/tasks"
DIMENSION = 512
B64 = "AAAA"  # three zero bytes: decodes, which is all the parser asks of it


@pytest.fixture(scope="module")
def document(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    services = services_for(make_service(tmp_path_factory.mktemp("schema"), start_workers=False))
    try:
        yield create_app(services, ApiKeys({"key"}), preload_models=False).openapi()
    finally:
        services.close()


@pytest.fixture(scope="module")
def models(document: dict[str, Any]) -> list[str]:
    names = document["paths"][SYNC]["post"]["requestBody"]["content"]["application/json"]["schema"]
    return list(names["properties"]["model_name"]["enum"])


def _body(document: dict[str, Any], path: str) -> dict[str, Any]:
    content = document["paths"][path]["post"]["requestBody"]["content"]["application/json"]
    return dict(content)


def _validator(document: dict[str, Any], path: str) -> jsonschema.Draft202012Validator:
    return jsonschema.Draft202012Validator(_body(document, path)["schema"])


def _parser(path: str, models: list[str]) -> Callable[[object], object]:
    parse = rules.parse_sync if path == SYNC else rules.parse_async
    return lambda body: parse(body, models, lambda _: DIMENSION)


def test_the_document_describes_both_bodies(document: dict[str, Any], models: list[str]) -> None:
    assert document["openapi"].startswith("3.1")
    assert {"marengo3.0", "marengo3.5"} <= set(models)
    for path, schema, text in ((SYNC, sync_schema, SYNC_RULES), (TASKS, task_schema, TASK_RULES)):
        for prefix in ("", "/v1.3"):
            body = _body(document, prefix + path)
            assert body["schema"] == {**schema(models), "description": text}
        jsonschema.Draft202012Validator.check_schema(body["schema"])


def test_enums_and_bounds_are_the_rules_constants(models: list[str]) -> None:
    sync, task = sync_schema(models), task_schema(models)
    assert sync["properties"]["input_type"]["enum"] == list(rules.SYNC_INPUT_TYPES)
    assert task["properties"]["input_type"]["enum"] == list(rules.ASYNC_INPUT_TYPES)
    for schema in (sync, task):
        assert list(schema["properties"]) == list(rules.TOP_LEVEL_FIELDS)
        assert schema["properties"]["model_name"]["enum"] == models
        for kind in ("audio", "video"):
            media = schema["properties"][kind]["properties"]
            assert list(media) == list(rules.MEDIA_FIELDS)
            assert list(media["media_source"]["properties"]) == list(rules.MEDIA_SOURCE_KEYS)
            assert media["embedding_option"]["items"]["enum"] == list(rules.OPTIONS_BY_INPUT[kind])
            assert media["embedding_scope"]["items"]["enum"] == [*rules.SCOPES, *rules.SCOPE_ALIASES]
            assert media["embedding_type"]["items"]["enum"] == list(rules.EMBEDDING_TYPES)
            direct = media["segmentation"]["oneOf"][1]["oneOf"]
            assert [s["properties"]["strategy"]["const"] for s in direct] == list(
                rules.STRATEGIES_BY_INPUT[kind]
            )
            settings = {s["properties"]["strategy"]["const"]: s["properties"] for s in direct}
            fixed = settings["fixed"]["fixed"]["properties"]["duration_sec"]
            assert (fixed["minimum"], fixed["maximum"]) == (MIN_CLIP_SEC, MAX_CLIP_SEC)
            if "dynamic" in settings:
                dynamic = settings["dynamic"]["dynamic"]["properties"]["min_duration_sec"]
                assert (dynamic["minimum"], dynamic["maximum"]) == (MIN_DYNAMIC_SEC, MAX_DYNAMIC_SEC)
            assert (
                media["segmentation"]["oneOf"][2]["properties"]["temporal"]
                == media["segmentation"]["oneOf"][1]
            )
    for kind, fields in rules.SYNC_FIELDS.items():
        assert list(sync["properties"][kind]["properties"]) == list(fields)
    multi = sync["properties"]["multi_input"]
    assert list(multi["properties"]) == list(rules.MULTI_INPUT_FIELDS)
    sources = multi["properties"]["media_sources"]
    assert sources["maxItems"] == rules.MAX_MULTI_SOURCES
    assert list(sources["items"]["properties"]) == list(rules.MULTI_SOURCE_FIELDS)
    kinds = [k for k in rules.MULTI_MEDIA_TYPES if k not in rules.MULTI_ONLY_35]
    assert sources["items"]["properties"]["media_type"]["enum"] == kinds
    image_task = task["properties"]["image"]["properties"]
    assert {f: image_task[f]["items"]["enum"] for f in rules.IMAGE_TASK_VALUES} == {
        f: [v] for f, v in rules.IMAGE_TASK_VALUES.items()
    }
    # the inputs a route does not embed, like Marengo 3.5's fields, are only absent (or null)
    assert {k for k, v in task["properties"].items() if v.get("type") == "null"} == {
        "text",
        "text_image",
        "multi_input",
        "document",
        "auto_truncate",
    }
    assert sync["properties"]["document"]["type"] == "null"


def _docs_bodies() -> list[tuple[str, dict[str, Any]]]:
    """The curl bodies of docs/EMBED_V2.md, with their route."""
    text = DOCS.read_text(encoding="utf-8")
    found = re.findall(r"curl \S+?(/embed-v2(?:/tasks)?) .*?-d '(\{.*?\})'", text, flags=re.S)
    return [(path, json.loads(body.replace("…", "x"))) for path, body in found]


def _sdk_bodies() -> list[tuple[str, dict[str, Any]]]:
    """What the official SDK 1.3.6 sends for the calls of tests/api/test_embed_v2.py and of
    TwelveLabs' docstrings (captured with a mock transport, no server)."""
    from twelvelabs import (
        AsyncAudioInputRequest,
        AsyncImageInputRequest,
        AsyncTemporalSegmentation,
        MultiInputRequest,
        TemporalSegmentation_Fixed,
        TemporalSegmentationFixedFixed,
        TwelveLabs,
    )
    from twelvelabs.types import MediaSource, MultiInputMediaSource, TextInputRequest, VideoInputRequest

    sent: list[tuple[str, dict[str, Any]]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        path = request.url.path
        sent.append((path, json.loads(request.content)))
        if path == TASKS:
            return httpx.Response(202, json={"_id": "t", "status": "processing"})
        return httpx.Response(200, json={"data": [{"embedding": [1.0]}]})

    client = TwelveLabs(
        api_key="key", base_url="http://sdk", httpx_client=httpx.Client(transport=httpx.MockTransport(answer))
    )
    v2, m30, m35 = client.embed.v_2, "marengo3.0", "marengo3.5"
    v2.create(input_type="text", model_name=m30, text=TextInputRequest(input_text="a dog"))
    v2.create(input_type="image", model_name=m30, image={"media_source": {"base64_string": B64}})
    v2.create(
        input_type="text_image",
        model_name=m30,
        text_image={"media_source": {"url": "https://e/a.png"}, "input_text": "a dog"},
    )
    v2.create(
        input_type="audio",
        model_name=m30,
        audio={
            "media_source": {"base64_string": B64},
            "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 2}},
        },
    )
    v2.create(
        input_type="video",
        model_name=m30,
        video={"media_source": {"base64_string": B64}, "start_sec": 6, "end_sec": 12},
        embedding_dimension=DIMENSION,
    )
    v2.create(
        input_type="multi_input",
        model_name=m35,
        multi_input=MultiInputRequest(input_text="man walking a dog"),
    )
    v2.create(
        input_type="multi_input",
        model_name=m30,
        multi_input=MultiInputRequest(
            input_text="a chef wearing <@top> beside <@pan>",
            media_sources=[
                MultiInputMediaSource(name="top", media_type="image", base_64_string=B64),
                MultiInputMediaSource(name="pan", media_type="image", url="https://e/p.png"),
            ],
        ),
    )
    v2.create(
        input_type="multi_input",
        model_name=m30,
        multi_input={
            "input_text": "a kitchen",
            "media_sources": [
                {"media_type": "video", "base64_string": B64},
                {"media_type": "audio", "asset_id": "a1"},
            ],
        },
    )
    v2.tasks.create(
        input_type="video", model_name=m30, video=VideoInputRequest(media_source=MediaSource(asset_id="a1"))
    )
    v2.tasks.create(
        input_type="audio",
        model_name=m35,
        audio=AsyncAudioInputRequest(
            media_source=MediaSource(url="https://e/speech.wav"),
            start_sec=0.0,
            end_sec=3600.0,
            segmentation=AsyncTemporalSegmentation(
                temporal=TemporalSegmentation_Fixed(fixed=TemporalSegmentationFixedFixed(duration_sec=2))
            ),
            embedding_option=["audio"],
            embedding_scope=["clip", "asset"],
        ),
    )
    v2.tasks.create(
        input_type="image",
        model_name=m30,
        image=AsyncImageInputRequest(media_source=MediaSource(base_64_string=B64)),
    )
    return sent


# TwelveLabs' captured request examples (CONTRACT.md §5), and fields the SDK documents
CONTRACT_BODIES = [
    {
        "input_type": "video",
        "model_name": "marengo3.0",
        "video": {
            "media_source": {"url": "https://e/v.mp4"},
            "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 6}},
            "embedding_option": ["visual"],
            "embedding_scope": ["clip"],
        },
    },
    {"input_type": "text", "model_name": "marengo3.0", "text": {"input_text": "hello"}},
    {"input_type": "video", "model_name": "marengo3.0", "video": {"media_source": {"base64_string": "AAAA"}}},
    {
        "input_type": "video",
        "model_name": "marengo3.5",
        "video": {
            "media_source": {"url": "https://e/v.mp4"},
            "segmentation": {"temporal": {"strategy": "dynamic", "dynamic": {"min_duration_sec": 2}}},
            "embedding_scope": ["local", "asset"],
            "embedding_type": ["separate_embedding", "fused_embedding"],
        },
    },
]


def test_every_documented_and_sdk_body_is_schema_valid_and_accepted(
    document: dict[str, Any], models: list[str]
) -> None:
    """Each body the docs, the routes' examples, the contract and the SDK send is valid by the
    document's schema for its route, and the parser accepts it (the schema refuses none of them)."""
    bodies = _docs_bodies()
    assert {path for path, _ in bodies} == {SYNC, TASKS}
    bodies += [(path, _body(document, path)["example"]) for path in (SYNC, TASKS)]
    bodies += [(SYNC if b["input_type"] == "text" else TASKS, b) for b in CONTRACT_BODIES]
    sdk = _sdk_bodies()
    assert len(sdk) == 11
    for path, body in bodies + sdk:
        _validator(document, path).validate(body)
        _parser(path, models)(body)


# Bodies valid by the schema that the server refuses for a rule the description states: why the
# description exists. (route, body, a phrase of the description, a phrase of the 400's message)
_MEDIA = {"media_source": {"url": "https://e/v.mp4"}}
REFUSED_BY_A_RULE = [
    (
        SYNC,
        {"input_type": "video", "model_name": "marengo3.0"},
        "object named by input_type is required",
        "video",
    ),
    (
        SYNC,
        {"input_type": "text", "model_name": "marengo3.0", "text": {"input_text": "x"}, "video": _MEDIA},
        "no other input object may be set",
        "does not go with input_type text",
    ),
    (
        TASKS,
        {
            "input_type": "video",
            "model_name": "marengo3.0",
            "video": {"media_source": {"url": "u", "asset_id": "a"}},
        },
        "exactly one of url, base64_string and asset_id",
        "Set exactly one of url, base64_string and asset_id",
    ),
    (
        TASKS,
        {"input_type": "video", "model_name": "marengo3.0", "video": {"media_source": {}}},
        "exactly one of url, base64_string and asset_id",
        "(the request set none)",
    ),
    (
        TASKS,
        {
            "input_type": "video",
            "model_name": "marengo3.0",
            "video": {
                **_MEDIA,
                "segmentation": {"temporal": {"strategy": "fixed", "fixed": {"duration_sec": 4}}},
            },
        },
        "with any other model directly in the object",
        'The "temporal" form is Marengo 3.5\'s',
    ),
    (
        TASKS,
        {
            "input_type": "video",
            "model_name": "marengo3.0",
            "video": {**_MEDIA, "start_sec": 5, "end_sec": 3},
        },
        "end_sec must be greater than start_sec",
        "It must be greater than start_sec.",
    ),
    (
        TASKS,
        {
            "input_type": "audio",
            "model_name": "marengo3.5",
            "audio": {**_MEDIA, "embedding_type": ["fused_embedding"]},
        },
        "fused_embedding needs at least two embedding_option",
        "set at least two in embedding_option",
    ),
    (
        SYNC,
        {
            "input_type": "text",
            "model_name": "marengo3.0",
            "text": {"input_text": "x"},
            "embedding_dimension": 256,
        },
        "embedding_dimension, if set, must equal",
        "cannot shorten",
    ),
    (
        SYNC,
        {"input_type": "multi_input", "model_name": "marengo3.0", "multi_input": {}},
        "at least one of input_text and media_sources",
        "multi_input.input_text, multi_input.media_sources",
    ),
    (
        SYNC,
        {
            "input_type": "multi_input",
            "model_name": "marengo3.0",
            "multi_input": {
                "media_sources": [
                    {"media_type": "image", "url": "https://e/a.png"},
                    {"media_type": "video", "url": "https://e/v.mp4"},
                ]
            },
        },
        "sources of different media types need input_text",
        "multi_input.input_text parameter is required",
    ),
    (
        SYNC,
        {
            "input_type": "multi_input",
            "model_name": "marengo3.0",
            "multi_input": {"input_text": "a <@hat>", "media_sources": [{"media_type": "image", "url": "u"}]},
        },
        "every <@name> in input_text must name a source",
        "no media source has the name hat",
    ),
]


@pytest.mark.parametrize(("path", "body", "rule", "message"), REFUSED_BY_A_RULE)
def test_a_rule_of_the_description_refuses_a_schema_valid_body(
    document: dict[str, Any], models: list[str], path: str, body: dict[str, Any], rule: str, message: str
) -> None:
    _validator(document, path).validate(body)
    assert rule in _body(document, path)["schema"]["description"]
    with pytest.raises(BadRequestError) as refused:
        _parser(path, models)(body)
    assert message in refused.value.message


@pytest.mark.parametrize(
    ("path", "body"),
    [
        (SYNC, {"input_type": "text", "model_name": "marengo3.0", "text": {"input_txt": "x"}}),
        (SYNC, {"input_type": "text", "model_name": "marengo3.0", "text": {"input_text": "  "}}),
        (SYNC, {"input_type": "document", "model_name": "marengo3.0", "document": {}}),
        (SYNC, {"input_type": "text", "model_name": "nope", "text": {"input_text": "x"}}),
        (
            SYNC,
            {
                "input_type": "text",
                "model_name": "marengo3.0",
                "text": {"input_text": "x"},
                "embedding_uncertainty": True,
            },
        ),
        (
            TASKS,
            {"input_type": "multi_input", "model_name": "marengo3.0", "multi_input": {"input_text": "x"}},
        ),
        (
            TASKS,
            {
                "input_type": "video",
                "model_name": "marengo3.0",
                "video": {**_MEDIA, "time_based_metadata": []},
            },
        ),
        (
            TASKS,
            {
                "input_type": "audio",
                "model_name": "marengo3.0",
                "audio": {**_MEDIA, "embedding_option": ["visual"]},
            },
        ),
        (
            TASKS,
            {
                "input_type": "audio",
                "model_name": "marengo3.0",
                "audio": {
                    **_MEDIA,
                    "segmentation": {"strategy": "dynamic", "dynamic": {"min_duration_sec": 3}},
                },
            },
        ),
        (
            TASKS,
            {
                "input_type": "video",
                "model_name": "marengo3.0",
                "video": {**_MEDIA, "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 11}}},
            },
        ),
        (
            TASKS,
            {
                "input_type": "image",
                "model_name": "marengo3.0",
                "image": {**_MEDIA, "embedding_scope": ["clip"]},
            },
        ),
        (
            SYNC,
            {
                "input_type": "multi_input",
                "model_name": "marengo3.0",
                "multi_input": {"media_sources": [{"media_type": "document", "url": "https://e/x.pdf"}]},
            },
        ),
    ],
)
def test_the_schema_refuses_what_the_parser_refuses_alone(
    document: dict[str, Any], models: list[str], path: str, body: dict[str, Any]
) -> None:
    """What the schema can say, it says: these fail both."""
    assert not _validator(document, path).is_valid(body)
    with pytest.raises(BadRequestError):
        _parser(path, models)(body)
