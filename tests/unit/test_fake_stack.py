"""The fake stack (vidembed.models.fake): what the tests of logic rely on it for. Its vectors mean
nothing; they must be deterministic unit vectors of one space, built in milliseconds, with the
built-in stacks' placeholders, and reachable from code only (never from a stacks file)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FAKE

from vidembed.engine import Engine
from vidembed.errors import ConfigurationError
from vidembed.models import fake, registry
from vidembed.models.catalog import StackCatalog
from vidembed.models.fake import FAKE_STACK, FakeTextEncoder
from vidembed.models.stack import DEFAULT_STACK, MULTILINGUAL_STACK, StackSettings
from vidembed.models.stacks_file import KEYS, parse_stacks_file
from vidembed.segmentation import ClipParams

SETTINGS = StackSettings(extra_stacks=(FAKE_STACK,))


def test_the_fake_stack_builds_in_milliseconds_without_weights() -> None:
    started = time.perf_counter()
    text = registry.build_text_encoder(FAKE_STACK, SETTINGS)
    stack = registry.build_stack(FAKE_STACK, SETTINGS, text)
    stack.warm_up()
    assert time.perf_counter() - started < 0.5  # about 10 ms; generous for shared cores
    assert stack.dimension == 16
    assert stack.identities() == {
        "text": "fake-text",
        "visual": "fake-visual",
        "audio": "fake-audio",
        "transcription": "fake-transcription",
    }
    assert registry.identities(FAKE_STACK, SETTINGS, text) == stack.identities()
    assert stack.visual.frames.size == 32 and stack.visual.frames.crop_square
    assert stack.visual.detail is None


def test_a_catalog_serves_extra_stacks_beside_the_built_in_one() -> None:
    catalog = StackCatalog(SETTINGS)
    assert list(catalog.configs) == [DEFAULT_STACK, MULTILINGUAL_STACK, FAKE]  # two built in
    assert catalog.resolve("marengo3.0") == DEFAULT_STACK  # the aliases stay the built-in stack's
    assert catalog.describe(FAKE)["dimension"] == 16
    assert set(catalog.describe(FAKE)["encoders"]) == {"text", "visual", "audio", "transcription"}
    assert FAKE not in StackCatalog(StackSettings()).configs
    with pytest.raises(ValueError, match="names of their own"):
        StackCatalog(StackSettings(extra_stacks=(FAKE_STACK, FAKE_STACK)))


def test_a_stacks_file_cannot_ask_for_the_fake_kind(tmp_path: Path) -> None:
    assert "kind" not in KEYS
    path = tmp_path / "stacks.toml"
    path.write_text('[stacks.mine]\nimage_text = "/m"\nkind = "fake"\n')
    with pytest.raises(ConfigurationError, match="unknown keys kind"):
        parse_stacks_file(path)
    path.write_text('[stacks.fake]\nimage_text = "/m"\n')
    with pytest.raises(ConfigurationError, match="cannot be redefined"):
        StackCatalog(StackSettings(stacks_file=path, extra_stacks=(FAKE_STACK,)))


def test_text_vectors_are_unit_deterministic_and_the_same_in_another_process() -> None:
    texts = ["a dog", "A dog!", "", "no speech", "silence", "übermäßig 🐕"]
    vectors = FakeTextEncoder().encode(texts)
    assert vectors.shape == (6, 16) and vectors.dtype == np.float32
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert vectors[0] @ vectors[1] == pytest.approx(1.0)  # case and punctuation: the same words
    assert vectors[0] @ vectors[3] < 0.99
    code = (
        "from vidembed.models.fake import FakeTextEncoder; import sys; "
        f"sys.stdout.buffer.write(FakeTextEncoder().encode({texts!r}).tobytes())"
    )
    other = subprocess.run([sys.executable, "-c", code], capture_output=True, check=True).stdout
    assert np.array_equal(np.frombuffer(other, np.float32).reshape(6, 16), vectors)


def test_visual_vectors_follow_the_frames_colour() -> None:
    visual = fake.FakeVisualEncoder()
    red, blue = (np.zeros((3, 32, 32, 3), np.uint8) for _ in range(2))
    red[..., 0], blue[..., 2] = 200, 200
    black = np.zeros((3, 32, 32, 3), np.uint8)  # no colour at all still gives a unit vector
    vectors = np.stack([visual.encode_clip(f, None) for f in (red, blue, black, red.copy())])
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-6)
    assert np.array_equal(vectors[0], vectors[3])
    assert vectors[0] @ vectors[1] < 0.99 and vectors[0] @ vectors[2] < 0.99


def test_audio_and_transcription_hold_the_placeholders() -> None:
    from vidembed.models.audio import SILENCE_TEXT
    from vidembed.models.speech import NO_SPEECH_TEXT

    assert registry.placeholder_texts(FAKE_STACK) == registry.placeholder_texts(
        StackCatalog().config(DEFAULT_STACK)
    )
    assert (fake.SILENCE_TEXT, fake.NO_SPEECH_TEXT) == (SILENCE_TEXT, NO_SPEECH_TEXT)
    text = FakeTextEncoder()
    silence, no_speech = text.encode([SILENCE_TEXT, NO_SPEECH_TEXT])
    audio = fake.FakeAudioEncoder(text)
    pcm = np.zeros(32_000, np.float32)
    pcm[16_000:] = 0.3 * np.sin(np.arange(16_000) * 2 * np.pi * 440 / 16_000)
    vectors = audio.encode_clips(pcm, [(0, 16_000), (16_000, 32_000)])
    assert np.array_equal(vectors[0], silence) and vectors[1] @ silence < 0.99
    assert np.linalg.norm(vectors[1]) == pytest.approx(1.0, abs=1e-6)
    assert np.array_equal(audio.encode_clips(None, [(0, 16_000)])[0], silence)
    transcription = fake.FakeTranscriptionEncoder(text)
    session = transcription.session()
    assert session.add(pcm, 0.0) == [] and session.flush() == []
    assert np.array_equal(transcription.encode_texts(["", " "]), np.stack([no_speech, no_speech]))


def test_the_engine_embeds_with_the_fake_stack(labelled_video: Path) -> None:
    result = Engine(StackCatalog(SETTINGS).load(FAKE)).embed(
        labelled_video, ClipParams(scopes=("clip", "video"))
    )
    clips = [(s.option, s.start, s.end) for s in result.segments if s.scope == "clip"]
    assert clips == [(o, t, t + 6.0) for o in ("visual", "audio", "transcription") for t in (0.0, 6.0, 12.0)]
    assert len(result.segments) == 12 and result.transcript == ""
    assert result.encoders == StackCatalog(SETTINGS).identities(FAKE)
    by = {(s.option, s.scope, s.start): s.vector for s in result.segments}
    silence, no_speech = FakeTextEncoder().encode(["silence", "no speech"])
    assert np.allclose(by["audio", "clip", 12.0], silence)  # the black, silent last clip
    assert by["audio", "clip", 6.0] @ silence < 0.99  # the tone
    assert all(np.allclose(by["transcription", "clip", t], no_speech) for t in (0.0, 6.0, 12.0))
    assert by["visual", "clip", 0.0] @ by["visual", "clip", 6.0] < 0.99  # checkerboard vs red
