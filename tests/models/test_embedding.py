"""A real task end to end: a generated video with speech, a sound and pictures, real models."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from conftest import PARAPHRASE, SPOKEN, UNRELATED

from vidembed import VidEmbed
from vidembed.engine import Engine
from vidembed.models.catalog import load_stack
from vidembed.models.speech import NO_SPEECH_TEXT
from vidembed.segmentation import ClipParams


@pytest.fixture(scope="session")
def labelled_task(client: VidEmbed, labelled_video: Path):
    task = client.embed.tasks.create(
        model_name="marengo3.0", video_file=str(labelled_video), video_embedding_scope=["clip", "video"]
    )
    status = client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2)
    assert status.status == "ready", status.error
    return client.embed.tasks.retrieve(task.id)


def vectors(task, option: str, scope: str = "clip") -> np.ndarray:
    segs = [
        s
        for s in task.video_embedding.segments
        if s.embedding_option == option and s.embedding_scope == scope
    ]
    return np.array([s.float_ for s in segs], dtype=np.float32)


def text(query: str) -> np.ndarray:
    return load_stack("marengo3.0").encode_text([query])[0]


def test_segments_boundaries_dimensions_and_norms(labelled_task) -> None:
    segs = labelled_task.video_embedding.segments
    meta = labelled_task.video_embedding.metadata
    assert meta.duration == pytest.approx(18.0, abs=0.1)
    assert meta.input_filename == "labelled.mp4"
    assert meta.video_embedding_scope == ["clip", "video"]
    for option in ("visual", "audio", "transcription"):
        clips = [
            (s.start_offset_sec, s.end_offset_sec)
            for s in segs
            if s.embedding_option == option and s.embedding_scope == "clip"
        ]
        assert clips == [(0.0, 6.0), (6.0, 12.0), (12.0, 18.0)]
        video = [s for s in segs if s.embedding_option == option and s.embedding_scope == "video"]
        assert [(v.start_offset_sec, v.end_offset_sec) for v in video] == [
            (0.0, pytest.approx(18.0, abs=0.1))
        ]
    assert len(segs) == 12
    for s in segs:
        assert len(s.float_) == 384
        assert np.linalg.norm(s.float_) == pytest.approx(1.0, abs=1e-4)


def test_transcription_of_the_speech_clip_matches_a_paraphrase(labelled_task) -> None:
    speech_clip = vectors(labelled_task, "transcription")[0]
    assert speech_clip @ text(PARAPHRASE) > speech_clip @ text(UNRELATED) + 0.1
    assert speech_clip @ text(SPOKEN) > 0.8  # Whisper heard the sentence nearly word for word


def test_clips_without_speech_hold_the_no_speech_vector(labelled_task) -> None:
    silent_clip = vectors(labelled_task, "transcription")[2]
    assert silent_clip @ text(NO_SPEECH_TEXT) == pytest.approx(1.0, abs=1e-4)


def test_audio_option_tells_the_tone_from_silence(labelled_task) -> None:
    audio = vectors(labelled_task, "audio")
    silence = text("silence")
    assert audio[2] @ silence == pytest.approx(1.0, abs=1e-4)  # black, silent last clip
    assert audio[1] @ silence < 0.9
    assert audio[1] @ text("the sound of a sine wave tone") > audio[1] @ text("the sound of a dog barking")


def test_retrieve_filters_options(client: VidEmbed, labelled_task) -> None:
    only = client.embed.tasks.retrieve(labelled_task.id, embedding_option="audio")
    assert {s.embedding_option for s in only.video_embedding.segments} == {"audio"}
    two = client.embed.tasks.retrieve(labelled_task.id, embedding_option=["visual", "transcription"])
    assert {s.embedding_option for s in two.video_embedding.segments} == {"visual", "transcription"}


def test_text_query_vector_is_in_the_same_space(client: VidEmbed) -> None:
    result = client.embed.create(model_name="marengo3.0", text=PARAPHRASE)
    vector = np.array(result.text_embedding.segments[0].float_)
    assert vector.shape == (384,)
    assert vector @ text(PARAPHRASE) == pytest.approx(1.0, abs=1e-5)


def test_embedding_is_deterministic(labelled_video: Path, labelled_task) -> None:
    again = Engine(load_stack("marengo3.0")).embed(labelled_video, ClipParams(scopes=("clip", "video")))
    for option in ("visual", "audio", "transcription"):
        first = vectors(labelled_task, option)
        second = np.array([s.vector for s in again.segments if s.option == option and s.scope == "clip"])
        assert np.all((first * second).sum(axis=1) >= 0.9999)


def test_offsets_select_absolute_clips(client: VidEmbed, labelled_video: Path) -> None:
    task = client.embed.tasks.create(
        model_name="marengo3.0",
        video_file=str(labelled_video),
        video_start_offset_sec=3,
        video_end_offset_sec=13,
        video_clip_length=4,
        embedding_option=["visual"],
    )
    assert client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2).status == "ready"
    segs = client.embed.tasks.retrieve(task.id).video_embedding.segments
    assert [(s.start_offset_sec, s.end_offset_sec, s.embedding_option) for s in segs] == [
        (3.0, 7.0, "visual"),
        (7.0, 11.0, "visual"),
        (11.0, 13.0, "visual"),
    ]


def test_end_offset_beyond_the_video_fails_the_task(client: VidEmbed, labelled_video: Path) -> None:
    task = client.embed.tasks.create(
        model_name="marengo3.0",
        video_file=str(labelled_video),
        video_start_offset_sec=0,
        video_end_offset_sec=40,
    )
    status = client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2)
    assert status.status == "failed"
    assert "beyond the end of the video (18.0" in status.error.message


def test_video_without_audio_stream_is_ready(client: VidEmbed, silent_video: Path) -> None:
    task = client.embed.tasks.create(model_name="marengo3.0", video_file=silent_video.read_bytes())
    assert client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2).status == "ready"
    result = client.embed.tasks.retrieve(task.id)
    assert result.video_embedding.metadata.input_filename == "upload"
    assert vectors(result, "audio")[0] @ text("silence") == pytest.approx(1.0, abs=1e-4)
    assert vectors(result, "transcription")[0] @ text(NO_SPEECH_TEXT) == pytest.approx(1.0, abs=1e-4)
    assert vectors(result, "visual").shape == (1, 384)


@pytest.mark.parametrize(
    "content,reason",
    [
        (b"", "The file is empty"),
        (b"this is a text file, not a video\n" * 20, "not a video that can be decoded"),
    ],
)
def test_broken_files_fail_with_a_reason(client: VidEmbed, content: bytes, reason: str) -> None:
    task = client.embed.tasks.create(model_name="marengo3.0", video_file=content)
    status = client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2)
    assert status.status == "failed"
    assert reason in status.error.message


def test_sample_video_with_six_channel_audio(client: VidEmbed, sample_video: Path) -> None:
    with open(sample_video, "rb") as fh:
        task = client.embed.tasks.create(model_name="conse-minilm-384", video_file=fh, video_clip_length=2)
    assert client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2).status == "ready"
    result = client.embed.tasks.retrieve(task.id)
    assert result.video_embedding.metadata.input_filename == "bigbuckbunny.mp4"
    assert [
        (s.start_offset_sec, s.end_offset_sec)
        for s in result.video_embedding.segments
        if s.embedding_option == "visual"
    ] == [(0.0, 2.0), (2.0, 4.0)]
