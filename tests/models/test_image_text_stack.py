"""A stack with an image-text model, from a stacks file, end to end: the tiny random CLIP and
SigLIP of tests/tiny_models.py (real architectures, Immich's ONNX layout) against their reference
implementation (transformers), through vidembed's own path (decode -> preprocess -> ONNX; its
tokenizer -> ONNX), in the embedded client, the CLI and the server with the official SDK."""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import pytest
from conftest import LiveServer, make_service, make_settings
from PIL import Image
from tiny_models import TinyModel, make_tiny_clip, make_tiny_siglip

from vidembed import BadRequestError, VidEmbed
from vidembed.client.transports.local import LocalTransport
from vidembed.devtools.synth import SegmentSpec, make_video, tone
from vidembed.errors import ConfigurationError
from vidembed.models.catalog import StackCatalog
from vidembed.models.openclip import ImageTextModel
from vidembed.models.stack import StackSettings

ROOT = Path(__file__).resolve().parents[2]
PHOTOS = [ROOT / ".cache" / "media" / name for name in ("messi5.jpg", "left06.jpg", "squirrel_cls.jpg")]


def cosine(a: np.ndarray, b: np.ndarray) -> float:
    return float(a @ b / (np.linalg.norm(a) * np.linalg.norm(b)))


def pictures() -> list[Image.Image]:
    """Three real photos (opencv-doc) and a drawn one: unrelated pictures."""
    drawn = np.zeros((120, 200, 3), np.uint8)
    drawn[:, :100] = (230, 40, 40)
    drawn[40:80, 120:180] = (20, 200, 60)
    return [Image.open(p).convert("RGB") for p in PHOTOS] + [Image.fromarray(drawn)]


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> dict[str, TinyModel]:
    root = tmp_path_factory.mktemp("tiny-models")
    return {
        "clip": make_tiny_clip(root / "ViT-tiny__clip"),
        "siglip": make_tiny_siglip(root / "ViT-tiny__siglip"),
    }


@pytest.mark.parametrize("kind", ["clip", "siglip"])
def test_preprocessing_and_towers_match_the_reference(tiny: dict[str, TinyModel], kind: str) -> None:
    reference = tiny[kind]
    model = ImageTextModel(reference.folder)
    images = pictures()
    ours = model.preprocess([np.asarray(im) for im in images])
    theirs = np.concatenate([reference.reference_pixel_values(im) for im in images])
    assert ours.shape == theirs.shape == (4, 3, reference.image_size, reference.image_size)
    assert float(np.abs(ours - theirs).max()) < 1e-3  # the reference processor's own tensor

    # A random vision tower gives nearly the same vector for any picture: compare what is left
    # after the mean over unrelated pictures, as well as the vectors themselves.
    vectors = model.encode_images([np.asarray(im) for im in images])
    expected = np.stack([reference.reference_image_embedding(im) for im in images])
    assert vectors.shape == (4, reference.embed_dim)
    assert np.allclose(np.linalg.norm(vectors, axis=1), 1.0, atol=1e-5)
    for ours_v, theirs_v in zip(vectors, expected, strict=True):
        assert cosine(ours_v, theirs_v) >= 0.9999
    for ours_r, theirs_r in zip(vectors - vectors.mean(0), expected - expected.mean(0), strict=True):
        assert cosine(ours_r, theirs_r) >= 0.999

    texts = ["a man walking a dog", "A red kite over the sea.", "two cups of coffee"]
    for text, vector in zip(texts, model.encode_text(texts), strict=True):
        assert cosine(vector, reference.reference_text_embedding(text)) >= 0.9999
    assert model.tokenize(texts[:1])[0].tolist() == reference.reference_text_ids(texts[0])


@pytest.fixture(scope="module")
def stacks_file(tiny: dict[str, TinyModel], tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The issue's minimal stacks file, exactly as written, pointing at the tiny CLIP."""
    path = tmp_path_factory.mktemp("stacks") / "stacks.toml"
    path.write_text(
        f'[stacks.my-clip]\nimage_text = "{tiny["clip"].folder}"   # a local folder or a Hugging Face hub id\n'
        'aliases = ["marengo3.0"]\n'
    )
    return path


@pytest.fixture(scope="module")
def still_video(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Image.Image]:
    """7 s of one still photo (a 6 s clip and a 1 s rest, dropped), with a tone."""
    photo = Image.open(PHOTOS[0]).convert("RGB").resize((320, 240))
    path = make_video(
        tmp_path_factory.mktemp("still") / "still.mp4",
        [SegmentSpec(7, image=np.asarray(photo), audio=tone(440, 6.5))],
        width=320,
        height=240,
    )
    return path, photo


def test_the_minimal_stacks_file_works_in_the_embedded_client(
    tiny: dict[str, TinyModel], stacks_file: Path, still_video: tuple[Path, Image.Image], tmp_path: Path
) -> None:
    clip = tiny["clip"]
    video, photo = still_video
    with VidEmbed(transport=LocalTransport(make_settings(tmp_path, stacks_file=stacks_file))) as client:
        task = client.embed.tasks.create(model_name="marengo3.0", video_file=str(video))  # the alias
        status = client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2)
        assert status.status == "ready", status.error
        segments = client.embed.tasks.retrieve(task.id).video_embedding.segments
        assert sorted(s.embedding_option for s in segments) == ["audio", "transcription", "visual"]
        for s in segments:
            assert (s.start_offset_sec, s.end_offset_sec) == (0.0, 6.0)
            assert len(s.float_) == clip.embed_dim  # the model's embed_dim, not 384
            assert np.linalg.norm(s.float_) == pytest.approx(1.0, abs=1e-5)
        visual = np.array(next(s.float_ for s in segments if s.embedding_option == "visual"))
        assert cosine(visual, clip.reference_image_embedding(photo)) >= 0.98

        query = client.embed.create(model_name="marengo3.0", text="a man walking a dog")
        vector = np.array(query.text_embedding.segments[0].float_)
        assert cosine(vector, clip.reference_text_embedding("a man walking a dog")) >= 0.999

        # The built-in stack is still there, in its own space; search keeps the spaces apart.
        builtin = client.embed.tasks.create(model_name="conse-minilm-384", video_file=str(video))
        client.embed.tasks.wait_for_done(builtin.id, sleep_interval=0.2)
        own = client.embed.tasks.retrieve(builtin.id).video_embedding.segments
        assert {len(s.float_) for s in own} == {384}
        found = client.clips.search(query_text="a footballer", model_name="my-clip")
        assert {h.task_id for hits in found.data.values() for h in hits} == {task.id}
        with pytest.raises(BadRequestError) as wrong_space:
            client.clips.search(query_text="a footballer", model_name="my-clip", task_id=builtin.id)
        assert wrong_space.value.message == (
            f"The task_id parameter is invalid. Task {builtin.id} was embedded by the stack "
            "conse-minilm-384, not my-clip."
        )


def test_the_server_and_the_official_sdk_select_the_stack_by_model_name(
    tiny: dict[str, TinyModel], stacks_file: Path, still_video: tuple[Path, Image.Image], tmp_path: Path
) -> None:
    from twelvelabs import TwelveLabs

    live = LiveServer(make_service(tmp_path, stacks_file=stacks_file))
    try:
        sdk = TwelveLabs(api_key="k", base_url=f"{live.url}/v1.3")
        with open(still_video[0], "rb") as fh:
            task = sdk.embed.tasks.create(model_name="my-clip", video_file=fh)
        done = sdk.embed.tasks.wait_for_done(task.id, sleep_interval=0.2)
        assert done.status == "ready"
        segments = sdk.embed.tasks.retrieve(task.id).video_embedding.segments
        assert {len(s.float_) for s in segments} == {tiny["clip"].embed_dim}
        text = sdk.embed.create(model_name="my-clip", text="a dog")
        assert len(text.text_embedding.segments[0].float_) == tiny["clip"].embed_dim

        import httpx

        stacks = httpx.get(f"{live.url}/v1.3/models").json()["data"]
        by_name = {s["name"]: s for s in stacks}
        assert set(by_name) == {"conse-minilm-384", "conse-muse-512", "my-clip"}
        assert by_name["my-clip"]["aliases"] == ["marengo3.0"]
        assert by_name["conse-minilm-384"]["aliases"] == ["Marengo-retrieval-2.7", "marengo3.5"]
        mine = by_name["my-clip"]
        assert mine["dimension"] == tiny["clip"].embed_dim
        visual = mine["encoders"]["visual"]
        assert visual["provider"] == "CPUExecutionProvider"
        assert visual["identity"].startswith("ViT-tiny__clip visual:")
    finally:
        live.stop()


def test_stacks_file_mistakes_name_the_file_and_the_key(tmp_path: Path) -> None:
    path = tmp_path / "stacks.toml"
    cases = {
        "[stacks.a]\nimage_txt = 'x'\n": "[stacks.a]: unknown keys image_txt; a stack takes aliases, audio_text, "
        "image_text, language, speech, text_model.",
        "[stacks.a]\naliases = ['b']\n": "[stacks.a]: image_text (a model folder or a Hugging Face hub id) or "
        "text_model ('minilm' or 'muse') is required.",
        "[stacks.a]\ntext_model = 'labse'\n": "[stacks.a]: text_model 'labse' is none of 'minilm', 'muse'.",
        "[stacks.a]\ntext_model = 'muse'\nimage_text = 'x'\n": "[stacks.a]: image_text and text_model exclude "
        "each other",
        "[stacks.conse-minilm-384]\nimage_text = 'x'\n": "[stacks.conse-minilm-384]: conse-minilm-384 is built in "
        "and cannot be redefined; choose another name.",
        "stacks = 3\n": "defines no stack (add a [stacks.NAME] table).",
        "[stacks.a\n": "is not valid TOML",
    }
    for text, message in cases.items():
        path.write_text(text)
        with pytest.raises(ConfigurationError) as error:
            StackCatalog(StackSettings(stacks_file=path))
        assert message in str(error.value) and str(path) in str(error.value)


def test_a_hub_id_that_cannot_be_fetched_says_where_to_copy_the_model(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from vidembed.errors import ModelUnavailableError

    path = tmp_path / "stacks.toml"
    path.write_text('[stacks.hub]\nimage_text = "immich-app/ViT-B-32__openai"\n')
    catalog = StackCatalog(  # nothing listens at that endpoint
        StackSettings(stacks_file=path, models_dir=tmp_path / "models", hf_endpoint="http://127.0.0.1:9")
    )
    with pytest.raises(ModelUnavailableError) as error:
        catalog.text_encoder("hub")
    assert str(tmp_path / "models" / "hub" / "immich-app__ViT-B-32__openai") in str(error.value)


def test_the_cli_takes_the_stacks_file(
    tiny: dict[str, TinyModel],
    stacks_file: Path,
    still_video: tuple[Path, Image.Image],
    tmp_path: Path,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from vidembed.cli import main

    video = str(still_video[0])
    assert (
        main(
            ["embed", video, "--model", "my-clip", "--data-dir", str(tmp_path), "--stacks", str(stacks_file)]
        )
        == 0
    )
    printed = capsys.readouterr().out
    assert f"segments:   3 vectors of dimension {tiny['clip'].embed_dim}" in printed
    assert (
        main(
            [
                "--stacks",
                str(stacks_file),
                "--data-dir",
                str(tmp_path),
                "search",
                "a man",
                "--model",
                "my-clip",
            ]
        )
        == 0
    )
    assert "still.mp4" in capsys.readouterr().out
    # without the file, the name is unknown, and the error names the flag
    assert main(["embed", video, "--model", "my-clip", "--data-dir", str(tmp_path)]) == 2
    assert "--model" in capsys.readouterr().err


def test_tasks_record_their_stack_and_encoders_and_search_sets_aside_changed_ones(
    stacks_file: Path, still_video: tuple[Path, Image.Image], tmp_path: Path
) -> None:
    import json

    service = make_service(tmp_path, stacks_file=stacks_file)
    try:
        ids = [
            service.create(model_name="marengo3.0", video_file=str(still_video[0]))["_id"] for _ in range(2)
        ]
        for task_id in ids:
            while service.status(task_id)["status"] == "processing":
                time.sleep(0.2)
        body = service.retrieve(ids[0])
        assert body["stack"]["name"] == "my-clip"  # the alias, resolved when the task was created
        assert body["stack"]["encoders"] == service.catalog.identities("my-clip")
        assert set(body["stack"]["encoders"]) == {"text", "visual", "audio", "transcription"}
        assert body["stack"]["encoders"]["visual"].startswith("ViT-tiny__clip visual:")

        # As if ids[1] had been embedded by an earlier image model.
        older = {**body["stack"]["encoders"], "visual": "ViT-tiny__clip visual:000000000000 (image)"}
        with service.store._transaction() as db:
            db.execute("UPDATE tasks SET encoders = ? WHERE id = ?", (json.dumps(older), ids[1]))
        found = service.search_clips(query_text="a man", model_name="my-clip")
        assert {h["task_id"] for hits in found["data"].values() for h in hits} == {ids[0]}
        assert found["left_out"] == [
            {"task_id": ids[1], "reason": "embedded by encoders that have changed since: visual"}
        ]
    finally:
        service.close()


def test_a_database_from_before_the_stack_columns_is_upgraded(tmp_path: Path) -> None:
    import sqlite3

    from vidembed.stores.sqlite.tasks import SQLiteStore

    path = tmp_path / "old.sqlite3"
    with sqlite3.connect(path) as db:  # the tasks table as the first release wrote it
        db.execute(
            "CREATE TABLE tasks (id TEXT PRIMARY KEY, owner TEXT NOT NULL, model_name TEXT NOT NULL, "
            "status TEXT NOT NULL, params TEXT NOT NULL, options TEXT NOT NULL, source_path TEXT, "
            "input_url TEXT, input_filename TEXT, duration REAL, error TEXT, progress REAL NOT NULL DEFAULT 0, "
            "stage TEXT NOT NULL DEFAULT 'queued', attempts INTEGER NOT NULL DEFAULT 0, lease_owner TEXT, "
            "lease_until REAL, created_at REAL NOT NULL, updated_at REAL NOT NULL)"
        )
        db.execute(
            "INSERT INTO tasks (id, owner, model_name, status, params, options, created_at, updated_at) "
            "VALUES ('a', '', 'marengo3.0', 'ready', '{}', '[\"visual\"]', 1, 1)"
        )
    store = SQLiteStore(path)
    try:
        task = store.get("a")
        assert task is not None and task.stack is None and task.encoders is None
        assert [t.id for t in store.ready_tasks(None)] == ["a"]
    finally:
        store.close()
