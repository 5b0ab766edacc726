"""CLAP (audio-text) in vidembed's ONNX layout: the tiny random ClapModel of tests/tiny_clap.py, exported by
the export command's code, against its reference implementation (transformers' ClapFeatureExtractor and
get_audio_features / get_text_features); the ConSE audio role over it; and a stacks file's audio_text in
the embedded client."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from conftest import make_settings
from tiny_clap import TinyClap, make_tiny_clap
from tiny_models import TinyModel, make_tiny_clip

from vidembed import VidEmbed
from vidembed.client.transports.local import LocalTransport
from vidembed.devtools.synth import SegmentSpec, make_video, tone
from vidembed.errors import ConfigurationError, ModelUnavailableError
from vidembed.models.catalog import StackCatalog
from vidembed.models.clap import (
    MIN_EVENT_RATIO,
    AudioTextModel,
    ClapAudioEncoder,
    kept_classes,
    mel_filters,
    resample,
    resolve_model_folder,
)
from vidembed.models.runtime import conse
from vidembed.models.stack import StackSettings
from vidembed.models.stacks_file import parse_stacks_file

RATE = 48_000


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def synth(kind: str, rate: int, seconds: float) -> np.ndarray:
    """The same band-limited sound (everything below 7 kHz) computed at any rate, so a 16 kHz copy
    and a 48 kHz copy are one sound."""
    t = np.arange(int(rate * seconds)) / rate
    if kind == "chord":
        x = (np.sin(2 * np.pi * 440 * t) + 0.5 * np.sin(2 * np.pi * 1320 * t)) * (
            0.6 + 0.4 * np.sin(6 * np.pi * t)
        )
    elif kind == "chirp":
        x = np.sin(2 * np.pi * (200 * t + (4000 - 200) / (2 * seconds) * t**2))
    elif kind == "multitone":
        rng = np.random.default_rng(7)
        freqs, phases = rng.uniform(60, 6500, 60), rng.uniform(0, 2 * np.pi, 60)
        x = 0.07 * np.sin(2 * np.pi * freqs[:, None] * t[None] + phases[:, None]).sum(0)
    elif kind == "warble":
        x = np.sin(2 * np.pi * 1000 * t + 8 * np.sin(2 * np.pi * 5 * t)) * (0.5 + 0.5 * np.sin(2 * np.pi * t))
    else:
        raise ValueError(kind)
    return (0.3 * x).astype(np.float32)


KINDS = ("chord", "chirp", "multitone", "warble")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TinyClap]:
    root = tmp_path_factory.mktemp("tiny-clap")
    return {"unfused": make_tiny_clap(root), "fused": make_tiny_clap(root, fused=True)}


def test_the_export_writes_the_documented_layout(tiny: dict[str, TinyClap]) -> None:
    for name, reference in tiny.items():
        folder = reference.folder
        for path in ("config.json", "audio/model.onnx", "text/model.onnx", "text/tokenizer.json"):
            assert (folder / path).is_file(), path
        config = json.loads((folder / "config.json").read_text())
        assert config["format"] == "vidembed-clap-onnx" and config["embed_dim"] == reference.embed_dim
        assert config["logit_scale"] == pytest.approx(float(reference.model.logit_scale_a.detach().exp()))
        audio = config["audio"]
        assert {k: audio[k] for k in ("sample_rate", "max_length_s", "n_fft", "hop_length", "n_mels")} == {
            "sample_rate": 48000,
            "max_length_s": 10,
            "n_fft": 1024,
            "hop_length": 480,
            "n_mels": 64,
        }
        assert (audio["f_min"], audio["f_max"], audio["padding"], audio["frames"]) == (
            50,
            14000,
            "repeatpad",
            1001,
        )
        assert (audio["truncation"], audio["fusion"]) == ("split", False)
        assert (audio["mel_scale"], audio["mel_norm"]) == (
            ("htk", None) if name == "fused" else ("slaney", "slaney")
        )
        assert config["text"] == {"context_length": 77, "pad_token": "<pad>", "pad_id": 1}


def test_mel_filters_are_transformers_filter_banks() -> None:
    from transformers.audio_utils import mel_filter_bank

    for scale, norm in (("slaney", "slaney"), ("htk", None)):
        ours = mel_filters(1024, 64, 50, 14000, RATE, scale, norm)
        theirs = mel_filter_bank(513, 64, 50, 14000, RATE, norm=norm, mel_scale=scale)
        assert np.abs(ours - theirs).max() < 1e-9


@pytest.mark.parametrize("name", ["unfused", "fused"])
def test_log_mel_features_match_the_feature_extractor(tiny: dict[str, TinyClap], name: str) -> None:
    reference = tiny[name]
    model = AudioTextModel(reference.folder)
    noise = np.random.default_rng(1).standard_normal(RATE * 10).astype(np.float32) * 0.05
    waveforms = [
        synth("chord", RATE, 6) + noise[: RATE * 6],  # repeated once, then zero-padded
        synth("multitone", RATE, 10),  # exactly max_length_s: no padding
        synth("chirp", RATE, 0.5),  # repeated 20 times
        synth("warble", RATE, 3.3),
        np.zeros(RATE * 2, np.float32),  # all at the -100 dB floor
    ]
    worst = 0.0
    for waveform in waveforms:
        ours, theirs = model.features(waveform), reference.reference_features(waveform)
        assert ours.shape == theirs.shape == (1, 1001, 64)
        worst = max(worst, float(np.abs(ours - theirs).max()))
    print(f"{name}: max |ours - ClapFeatureExtractor| = {worst:.2e} dB")
    assert worst < 1e-3


@pytest.mark.parametrize("name", ["unfused", "fused"])
def test_onnx_towers_match_torch(tiny: dict[str, TinyClap], name: str) -> None:
    reference = tiny[name]
    model = AudioTextModel(reference.folder)
    features = np.stack([reference.reference_features(synth(kind, RATE, 6)) for kind in KINDS])
    ours = model.run_audio(features)  # one batch of 4
    theirs = reference.reference_audio_embeddings(features)
    assert ours.shape == (4, reference.embed_dim)
    assert np.allclose(np.linalg.norm(ours, axis=1), 1.0, atol=1e-5)
    for a, b in zip(ours, theirs, strict=True):
        assert cosine(a, b) >= 0.9999
    for a, b in zip(ours - ours.mean(0), theirs - theirs.mean(0), strict=True):
        assert cosine(a, b) >= 0.999

    texts = ["This is a sound of dog.", "a siren", "rain on a tin roof while a dog barks twice far away"]
    ids, mask = model.tokenize(texts)
    ref_ids, ref_mask = reference.reference_text_ids(texts)
    assert ids.tolist() == ref_ids.tolist() and mask.tolist() == ref_mask.tolist()
    for a, b in zip(model.encode_text(texts), reference.reference_text_embeddings(texts), strict=True):
        assert cosine(a, b) >= 0.9999


def test_the_16k_path_matches_the_reference_on_the_same_sound(tiny: dict[str, TinyClap]) -> None:
    """Ours: the sound at 16 kHz (what the engine decodes), resampled to 48 kHz by libswresample, our
    log-mel, the ONNX tower. Reference: the same sound computed at 48 kHz, ClapFeatureExtractor, torch."""
    reference = tiny["unfused"]
    model = AudioTextModel(reference.folder)
    ours = np.stack([model.encode_audio(synth(kind, 16_000, 6), 16_000) for kind in KINDS])
    theirs = np.stack([reference.reference_audio_embedding(synth(kind, RATE, 6)) for kind in KINDS])
    cosines = [cosine(a, b) for a, b in zip(ours, theirs, strict=True)]
    residuals = [cosine(a, b) for a, b in zip(ours - ours.mean(0), theirs - theirs.mean(0), strict=True)]
    print(f"16 kHz path vs reference: cosine {min(cosines):.6f}, residual cosine {min(residuals):.5f}")
    assert min(cosines) >= 0.999
    assert min(residuals) >= 0.99  # the sounds differ (cosine 0.95-0.99 between them): this is not trivial
    assert max(cosine(a, b) for i, a in enumerate(theirs) for b in theirs[i + 1 :]) < 0.999

    # 14 s: two 7 s pieces, their embeddings averaged
    long_ours = model.encode_audio(synth("multitone", 16_000, 14), 16_000)
    halves = synth("multitone", RATE, 14).reshape(2, -1)
    long_ref = sum(reference.reference_audio_embedding(h) for h in halves)
    assert cosine(long_ours, long_ref) >= 0.999
    assert len(resample(np.ones(16_000, np.float32), 16_000, RATE)) == RATE


def test_the_clap_audio_encoder_mixes_the_stack_s_label_vectors(tiny: dict[str, TinyClap]) -> None:
    reference = tiny["unfused"]
    model = AudioTextModel(reference.folder)
    names = ["dog", "speech", "siren", "rain", "music", "engine", "bird", "applause"]
    clap_labels = model.encode_text([f"This is a sound of {n}." for n in names])
    rng = np.random.default_rng(3)
    stack_labels = rng.standard_normal((len(names), 24)).astype(np.float32)  # another space, 24-d
    stack_labels /= np.linalg.norm(stack_labels, axis=1, keepdims=True)
    silence = np.eye(24, dtype=np.float32)[0]
    keep = np.array([n != "speech" for n in names])
    encoder = ClapAudioEncoder(model, clap_labels, stack_labels, silence, keep=keep, identity="test")

    second = 16_000
    pcm = np.concatenate(
        [synth("chord", 16_000, 6), np.zeros(2 * second, np.float32), synth("multitone", 16_000, 14)]
    )
    windows = [(0, 6 * second), (6 * second, 8 * second), (8 * second, 22 * second)]
    vectors = encoder.encode_clips(pcm, windows)
    assert vectors.shape == (3, 24)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    assert np.array_equal(vectors[1], silence)  # a silent window
    for row, (lo, hi) in ((0, windows[0]), (2, windows[2])):
        probabilities = encoder.class_probabilities(model.encode_audio(pcm[lo:hi])[None])[0]
        assert (probabilities * keep).max() >= MIN_EVENT_RATIO * probabilities.max()
        expected = conse((probabilities * keep)[None], stack_labels, 5)[0]
        assert cosine(vectors[row], expected) >= 0.9999
    # the same mix from the reference implementation's embedding of the 48 kHz sound
    theirs = encoder.class_probabilities(reference.reference_audio_embedding(synth("chord", RATE, 6))[None])[
        0
    ]
    assert cosine(vectors[0], conse((theirs * keep)[None], stack_labels, 5)[0]) >= 0.999

    assert np.array_equal(encoder.encode_clips(None, windows), np.tile(silence, (3, 1)))
    # a window whose sound is a class left out of the mix (here: CLAP's vector of the sound itself,
    # labelled as speech) holds "silence"
    own = np.stack([clap_labels[0], model.encode_audio(pcm[: 6 * second])])
    speechy = ClapAudioEncoder(model, own, stack_labels[:2], silence, keep=np.array([True, False]))
    assert np.array_equal(speechy.encode_clips(pcm, windows[:1])[0], silence)
    # YAMNet's class map: speech, silence and the generic animal parents stay out, as audio.py does
    assert not kept_classes(521)[[0, 1, 65, 67, 494]].any() and kept_classes(521).sum() == 521 - 12


def test_the_export_command(
    tiny: dict[str, TinyClap], tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from vidembed.devtools import export_clap

    with pytest.raises(SystemExit):
        export_clap.main(["--help"])
    assert 'pip install -e ".[export]"' in " ".join(capsys.readouterr().out.split())
    out = tmp_path / "exported"
    assert export_clap.main([str(tiny["unfused"].checkpoint), str(out)]) == 0
    assert f'audio_text = "{out.absolute()}"' in capsys.readouterr().out
    for tower in ("audio", "text"):
        assert (out / tower / "model.onnx").read_bytes() == (
            tiny["unfused"].folder / tower / "model.onnx"
        ).read_bytes()
    assert export_clap.main([str(tmp_path / "nothing-here"), str(tmp_path / "x")]) == 1
    assert "could not be loaded as a transformers ClapModel" in capsys.readouterr().err


def test_the_export_command_names_the_extra_when_torch_is_missing(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    import builtins

    from vidembed.devtools import export_clap

    real_import = builtins.__import__

    def no_torch(name: str, *args: object, **kwargs: object) -> object:
        if name == "torch" or name.startswith("torch."):
            raise ModuleNotFoundError("No module named 'torch'", name="torch")
        return real_import(name, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(builtins, "__import__", no_torch)
    assert export_clap.main(["laion/clap-htsat-unfused", str(tmp_path / "out")]) == 1
    err = capsys.readouterr().err
    assert "torch is missing" in err and 'pip install -e ".[export]"' in err


def test_a_transformers_checkpoint_is_not_the_layout(tiny: dict[str, TinyClap], tmp_path: Path) -> None:
    with pytest.raises(ModelUnavailableError) as error:
        resolve_model_folder(str(tiny["unfused"].checkpoint), tmp_path)
    assert "python -m vidembed.devtools.export_clap" in str(error.value)
    with pytest.raises(ModelUnavailableError) as missing:
        resolve_model_folder(str(tmp_path / "absent"), tmp_path)
    assert "export_clap" in str(missing.value)
    assert resolve_model_folder(str(tiny["unfused"].folder), tmp_path) == tiny["unfused"].folder


def test_a_hub_id_that_cannot_be_fetched_says_how_to_make_the_folder(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with pytest.raises(ModelUnavailableError) as error:  # nothing listens at that endpoint
        resolve_model_folder("laion/clap-htsat-unfused", tmp_path, hf_endpoint="http://127.0.0.1:9")
    message = str(error.value)
    assert "Could not download laion/clap-htsat-unfused" in message
    assert f"export_clap laion/clap-htsat-unfused {tmp_path / 'hub' / 'laion__clap-htsat-unfused'}" in message


def test_stacks_file_audio_text_key(tmp_path: Path) -> None:
    path = tmp_path / "stacks.toml"
    path.write_text(
        '[stacks.a]\nimage_text = "clip"\naudio_text = " clap "\n[stacks.b]\nimage_text = "clip"\n'
    )
    a, b = parse_stacks_file(path)
    assert (a.audio_text, b.audio_text) == ("clap", None)
    path.write_text('[stacks.a]\nimage_text = "clip"\naudio_text = 3\n')
    with pytest.raises(ConfigurationError) as error:
        parse_stacks_file(path)
    assert "[stacks.a]: audio_text must be a CLAP model folder" in str(error.value)


@pytest.fixture(scope="module")
def clip_and_clap(
    tmp_path_factory: pytest.TempPathFactory, tiny: dict[str, TinyClap]
) -> tuple[TinyModel, Path]:
    """A stacks file next to the tiny CLAP, naming it by a relative path, with the tiny CLIP."""
    root = tiny["unfused"].folder.parent
    clip = make_tiny_clip(tmp_path_factory.mktemp("tiny-clip") / "ViT-tiny__clip")
    path = root / "stacks.toml"
    path.write_text(
        f'[stacks.clip-clap]\nimage_text = "{clip.folder}"\naudio_text = "{tiny["unfused"].folder.name}"\n'
    )
    return clip, path


def test_a_stack_with_image_text_and_audio_text_embeds_a_video(
    clip_and_clap: tuple[TinyModel, Path], tiny: dict[str, TinyClap], tmp_path: Path
) -> None:
    clip, stacks_file = clip_and_clap
    video = make_video(
        tmp_path / "tone.mp4",
        [SegmentSpec(7, image=np.full((120, 160, 3), (30, 90, 200), np.uint8), audio=tone(880, 6.5))],
        width=160,
        height=120,
    )
    catalog = StackCatalog(StackSettings(stacks_file=stacks_file))
    audio_identity = catalog.identities("clip-clap")["audio"]
    assert audio_identity.startswith(f"conse clap {tiny['unfused'].folder.name} audio:")
    assert " text:" in audio_identity and audio_identity.endswith("(text)")
    silence = catalog.placeholder_vectors("clip-clap")["audio"]

    with VidEmbed(
        transport=LocalTransport(make_settings(tmp_path / "data", stacks_file=stacks_file))
    ) as client:
        task = client.embed.tasks.create(model_name="clip-clap", video_file=str(video))
        status = client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2)
        assert status.status == "ready", status.error
        segments = client.embed.tasks.retrieve(task.id).video_embedding.segments
        assert sorted(s.embedding_option for s in segments) == ["audio", "transcription", "visual"]
        audio = np.array(next(s.float_ for s in segments if s.embedding_option == "audio"))
        assert audio.shape == (clip.embed_dim,)  # CLIP's embed_dim: the audio vector is in CLIP's space
        assert np.linalg.norm(audio) == pytest.approx(1.0, abs=1e-5)
        print(f"audio vs the silence vector: cosine {cosine(audio, silence):.4f}")
        assert cosine(audio, silence) < 0.999  # the tone is heard: a mix of sound-class names
