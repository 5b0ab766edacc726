"""Every create-parameter rule, with its code and message (CONTRACT.md §2.1, the seed)."""

from __future__ import annotations

import pytest

from vidembed import BadRequestError
from vidembed.api.embed.operations import TaskService
from vidembed.api.embed.rules import parse_clip_params

URL = "https://example.com/video.mp4"


def _error(service: TaskService, **fields: object) -> BadRequestError:
    fields.setdefault("model_name", "marengo3.0")
    with pytest.raises(BadRequestError) as info:
        service.create(**fields)
    assert info.value.status_code == 400
    return info.value


@pytest.mark.parametrize("length", [1.9, 10.5, 0, -3, "abc", "11"])
def test_clip_length_out_of_range(idle_service: TaskService, length: object) -> None:
    err = _error(idle_service, video_url=URL, video_clip_length=length)
    assert err.code == "parameter_invalid"
    assert err.message == (
        "The video_clip_length parameter is invalid. video_clip_length should be within 2-10 seconds long"
    )


def test_end_not_after_start(idle_service: TaskService) -> None:
    for start, end in ((5, 5), (8, 3)):
        err = _error(idle_service, video_url=URL, video_start_offset_sec=start, video_end_offset_sec=end)
        assert err.code == "parameter_invalid"
        assert err.message == (
            "The video_end_offset_sec parameter is invalid. "
            "video_end_offset_sec should be greater than video_start_offset_sec"
        )


def test_model_name_required_and_known(idle_service: TaskService) -> None:
    err = _error(idle_service, model_name="", video_url=URL)
    assert (err.code, err.message) == (
        "parameter_not_provided",
        "The model_name parameter is required but was not provided.",
    )
    err = _error(idle_service, model_name="gpt-video", video_url=URL)
    assert err.code == "parameter_invalid"
    assert err.message.startswith("The model_name parameter is invalid.")


def test_video_required(idle_service: TaskService) -> None:
    err = _error(idle_service)
    assert (err.code, err.message) == (
        "parameter_not_provided",
        "The following required parameters were not provided: video_url, video_file.",
    )


def test_negative_start(idle_service: TaskService) -> None:
    err = _error(idle_service, video_url=URL, video_start_offset_sec=-1, video_end_offset_sec=10)
    assert err.code == "parameter_invalid"
    assert err.message.startswith("The video_start_offset_sec parameter is invalid.")


@pytest.mark.parametrize("fields", [{"video_start_offset_sec": 2}, {"video_end_offset_sec": 20}])
def test_both_offsets_or_neither(idle_service: TaskService, fields: dict) -> None:
    err = _error(idle_service, video_url=URL, **fields)
    assert err.code == "parameter_invalid"
    assert err.message.startswith(
        "The following parameters are invalid: video_start_offset_sec, video_end_offset_sec."
    )


def test_clip_must_fit_between_offsets(idle_service: TaskService) -> None:
    err = _error(
        idle_service, video_url=URL, video_start_offset_sec=0, video_end_offset_sec=4, video_clip_length=6
    )
    assert err.message.startswith(
        "The following parameters are invalid: video_start_offset_sec, video_end_offset_sec."
    )
    assert "(4 s)" in err.message and "(6 s)" in err.message


def test_scope_values(idle_service: TaskService) -> None:
    err = _error(idle_service, video_url=URL, video_embedding_scope=["clip", "frame"])
    assert err.code == "parameter_invalid"
    assert err.message.startswith("The video_embedding_scope parameter is invalid.")


def test_unsupported_url_scheme(idle_service: TaskService) -> None:
    err = _error(idle_service, video_url="ftp://example.com/v.mp4")
    assert err.message.startswith("The video_url parameter is invalid.")


def test_defaults_and_wire_strings() -> None:
    """Numbers may arrive as strings, "" means absent, scopes may repeat or be comma-separated."""
    assert parse_clip_params().as_dict() == {
        "clip_length": 6.0,
        "start": None,
        "end": None,
        "scopes": ["clip"],
        "strategy": "fixed",
        "min_duration": 4.0,
    }
    p = parse_clip_params("5", "0", "10", ["clip", "video"])
    assert (p.clip_length, p.start, p.end, p.scopes) == (5.0, 0.0, 10.0, ("clip", "video"))
    assert parse_clip_params("", "", "", "").scopes == ("clip",)
    assert parse_clip_params(video_embedding_scope="clip,video").scopes == ("clip", "video")
    assert parse_clip_params(video_embedding_scope=["", "video"]).scopes == ("clip", "video")


def test_valid_request_is_accepted(idle_service: TaskService) -> None:
    created = idle_service.create(
        model_name="marengo3.0",
        video_url=URL,
        video_start_offset_sec=0,
        video_end_offset_sec=10,
        video_clip_length=5,
        video_embedding_scope=["clip", "video"],
    )
    assert len(created["_id"]) == 24
    status = idle_service.status(created["_id"])
    assert status["status"] == "processing"
    assert status["video_embedding"]["metadata"] == {
        "video_clip_length": 5.0,
        "video_embedding_scope": ["clip", "video"],
        "video_embedding_option": ["visual", "audio", "transcription"],
        "input_url": URL,
    }
