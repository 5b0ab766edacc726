"""A corpus of awkward and broken inputs: each embeds correctly or fails with a clear reason,
in bounded time, and the worker goes on to the next task.

Decoding decides ready or failed, not the models: the corpus runs on the fake stack
(conftest.fake_client, model_name FAKE), except Megamind.avi with every option, on the real models."""

from __future__ import annotations

import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from conftest import FAKE
from PIL import Image

from vidembed import BadRequestError, VidEmbed
from vidembed.devtools.synth import SegmentSpec, make_video, tone

ROOT = Path(__file__).resolve().parents[2]
MEGAMIND_BUGY = ROOT / ".cache" / "media" / "Megamind_bugy.avi"
MEGAMIND = ROOT / ".cache" / "media" / "Megamind.avi"  # valid: MPEG-4 Part 2 + AC-3, one bad AC-3 packet
PICTURE = np.tile(np.linspace(0, 255, 320, dtype=np.uint8)[None, :, None], (180, 1, 3))


def outcome(client: VidEmbed, path: Path, timeout: float = 120) -> tuple[str, str, list]:
    started = time.monotonic()
    task = client.embed.tasks.create(
        model_name=FAKE, video_file=str(path), embedding_option=["visual", "audio"]
    )
    status = client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2)
    assert time.monotonic() - started < timeout
    if status.status == "failed":
        return "failed", status.error.message, []
    segments = client.embed.tasks.retrieve(task.id, embedding_option="visual").video_embedding.segments
    return status.status, "", [(s.start_offset_sec, s.end_offset_sec) for s in segments]


def clip(path: Path, seconds: float = 8.0, **kw: object) -> Path:
    return make_video(
        path,
        [SegmentSpec(seconds, image=PICTURE, audio=tone(300, seconds - 0.5))],
        width=320,
        height=180,
        **kw,
    )  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("corpus")


def test_random_bytes_and_text_and_png_fail_clearly(fake_client: VidEmbed, corpus: Path) -> None:
    (corpus / "random.mp4").write_bytes(
        np.random.default_rng(1).integers(0, 256, 50_000, dtype=np.uint8).tobytes()
    )
    (corpus / "notes.mp4").write_text("this is a text file\n" * 100)
    Image.fromarray(PICTURE).save(corpus / "picture.png")
    for name in ("random.mp4", "notes.mp4"):
        status, reason, _ = outcome(fake_client, corpus / name)
        assert status == "failed" and "not a video that can be decoded" in reason
    # a still image is refused at once, saying what it is (issue 23: it used to fail later with a
    # message about the clip length)
    with pytest.raises(BadRequestError) as still:
        outcome(fake_client, corpus / "picture.png")
    assert still.value.message.startswith(
        "The video_file parameter is invalid. The file is a still image (PNG), not a video."
    )


def test_truncated_files(fake_client: VidEmbed, corpus: Path) -> None:
    whole = clip(corpus / "whole.mp4", 12).read_bytes()
    (corpus / "no-moov.mp4").write_bytes(whole[: len(whole) * 2 // 3])  # moov sits at the end
    status, reason, _ = outcome(fake_client, corpus / "no-moov.mp4")
    assert status == "failed" and "not a video that can be decoded" in reason

    faststart = corpus / "faststart.mp4"
    with (
        av.open(str(corpus / "whole.mp4")) as src,
        av.open(str(faststart), "w", options={"movflags": "faststart"}) as out,
    ):
        mapping = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is not None:
                packet.stream = mapping[packet.stream.index]
                out.mux(packet)
    data = faststart.read_bytes()
    (corpus / "cut.mp4").write_bytes(data[: len(data) // 2])  # header intact, media cut
    status, reason, _ = outcome(fake_client, corpus / "cut.mp4")
    assert status == "failed" and "looks truncated or damaged" in reason


def test_audio_only_and_too_short_inputs(fake_client: VidEmbed, corpus: Path) -> None:
    with av.open(str(corpus / "sound.m4a"), "w") as out:
        stream = out.add_stream("aac", rate=22050, layout="mono")
        samples = tone(300, 5.0, rate=22050)
        for i in range(0, len(samples) - 1024, 1024):
            frame = av.AudioFrame.from_ndarray(
                samples[None, i : i + 1024].copy(), format="flt", layout="mono"
            )
            frame.sample_rate, frame.pts = 22050, i
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    status, reason, _ = outcome(fake_client, corpus / "sound.m4a")
    assert status == "failed" and "no video stream" in reason
    for name, seconds in (("one-frame.mp4", 0.1), ("one-second.mp4", 1.0)):
        status, reason, _ = outcome(
            fake_client,
            make_video(corpus / name, [SegmentSpec(seconds, image=PICTURE)], width=320, height=180),
        )
        assert status == "failed" and "at least 2 s are needed for one clip" in reason


@pytest.mark.parametrize(
    "name,kw",
    [
        ("mpeg4.avi", {"video_codec": "mpeg4", "audio_codec": "mp3"}),
        ("msmpeg4.avi", {"video_codec": "msmpeg4v3", "audio_codec": "ac3"}),
        ("cinepak.mov", {"video_codec": "cinepak", "with_audio": False}),
        ("vp9.webm", {"video_codec": "libvpx-vp9", "audio_codec": "libopus"}),
        ("av1.mp4", {"video_codec": "libsvtav1", "audio_codec": "aac"}),
        ("offset.mp4", {"start_offset": 10.0}),
    ],
)
def test_codecs_and_containers_embed(fake_client: VidEmbed, corpus: Path, name: str, kw: dict) -> None:
    status, reason, clips = outcome(fake_client, clip(corpus / name, 8.0, **kw))
    assert (status, reason) == ("ready", "")
    assert clips[0] == (0.0, 6.0) and clips[1][0] == 6.0 and clips[1][1] == pytest.approx(8.0, abs=0.15)
    assert len(clips) == 2


def test_variable_frame_rate(fake_client: VidEmbed, corpus: Path) -> None:
    path = corpus / "vfr.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=30)
        stream.width, stream.height, stream.pix_fmt = 320, 180, "yuv420p"
        stream.codec_context.time_base = Fraction(1, 1000)
        t = 0
        while t < 13_000:
            frame = av.VideoFrame.from_ndarray(PICTURE, format="rgb24")
            frame.pts, frame.time_base = t, Fraction(1, 1000)
            for packet in stream.encode(frame):
                out.mux(packet)
            t += 33 if (t // 2000) % 2 == 0 else 250  # 30 fps and 4 fps in turns
        for packet in stream.encode(None):
            out.mux(packet)
    status, _, clips = outcome(fake_client, path)
    assert status == "ready" and clips == [(0.0, 6.0), (6.0, 12.0)]


def test_damaged_stream_from_opencv_samples(fake_client: VidEmbed) -> None:
    assert MEGAMIND_BUGY.exists(), "scripts/test.sh fetches it from Debian's opencv-doc"
    status, reason, clips = outcome(fake_client, MEGAMIND_BUGY)
    assert status == "ready", reason
    assert clips[0] == (0.0, 6.0)


def test_valid_file_with_one_bad_audio_packet_is_ready_with_every_option(client: VidEmbed) -> None:
    """Megamind.avi plays everywhere; only its first AC-3 packet (pts 0) does not decode. The bad
    packet is skipped: the video is not lost for it, and the audio after it is used."""
    assert MEGAMIND.exists(), "scripts/test.sh fetches it from Debian's opencv-doc"
    task = client.embed.tasks.create(model_name="marengo3.0", video_file=str(MEGAMIND))
    status = client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2)
    assert status.status == "ready", status.error
    segments = client.embed.tasks.retrieve(task.id).video_embedding.segments
    by_option: dict[str, list[tuple[float, float]]] = {}
    for s in segments:
        by_option.setdefault(s.embedding_option, []).append((s.start_offset_sec, s.end_offset_sec))
    assert sorted(by_option) == ["audio", "transcription", "visual"]
    for clips in by_option.values():
        assert clips[0] == (0.0, 6.0) and clips[1][0] == 6.0
        assert clips[1][1] == pytest.approx(11.26, abs=0.01)


def _garble_audio(source: Path, target: Path) -> Path:
    """A copy of ``source`` whose every audio packet is replaced by random bytes."""
    rng = np.random.default_rng(0)
    with av.open(str(source)) as src, av.open(str(target), "w") as out:
        mapping = {s.index: out.add_stream_from_template(s) for s in src.streams}
        for packet in src.demux():
            if packet.dts is None:
                continue
            stream = mapping[packet.stream.index]
            if packet.stream.type == "audio":
                garbage = av.Packet(rng.integers(0, 256, packet.size, dtype=np.uint8).tobytes())
                garbage.pts, garbage.dts, garbage.time_base = packet.pts, packet.dts, packet.time_base
                packet = garbage
            packet.stream = stream
            out.mux(packet)
    return target


def test_an_audio_stream_that_never_decodes_fails_only_the_audio_options(
    fake_client: VidEmbed, corpus: Path
) -> None:
    good = clip(corpus / "for-garbling.avi", 6.5, video_codec="mpeg4", audio_codec="ac3")
    broken = _garble_audio(good, corpus / "garbled-audio.avi")
    status, reason, _ = outcome(fake_client, broken)  # visual and audio
    assert status == "failed"
    assert reason.startswith("The audio stream (ac3) could not be decoded: ")
    assert reason.endswith("Embed the visual option only (embedding_option=visual), or re-encode the audio.")
    task = fake_client.embed.tasks.create(
        model_name=FAKE, video_file=str(broken), embedding_option=["visual"]
    )
    assert fake_client.embed.tasks.wait_for_done(task.id, sleep_interval=0.2).status == "ready"


def test_decoding_counts_the_packets_it_skips() -> None:
    from vidembed.engine.media import DecodeReport, FrameRequest, decode, probe

    info = probe(MEGAMIND)
    report = DecodeReport()
    events = list(
        decode(MEGAMIND, info, [FrameRequest(t, 64, 64, True) for t in (1, 5, 10)], (0, 11), report=report)
    )
    assert report.skipped_packets == {"audio": 1}
    assert sum(1 for e in events if isinstance(e, tuple)) == 3
    audio = sum(len(e.samples) for e in events if not isinstance(e, tuple)) / 16_000
    assert audio == pytest.approx(11.0, abs=0.1)  # everything after the bad packet


def test_the_worker_goes_on_after_failures(fake_client: VidEmbed, corpus: Path) -> None:
    (corpus / "junk.mp4").write_bytes(b"\x00" * 4096)
    failed = fake_client.embed.tasks.create(model_name=FAKE, video_file=str(corpus / "junk.mp4"))
    good = fake_client.embed.tasks.create(
        model_name=FAKE, video_file=str(clip(corpus / "good.mp4", 6.5)), embedding_option=["visual"]
    )
    assert fake_client.embed.tasks.wait_for_done(failed.id, sleep_interval=0.2).status == "failed"
    assert fake_client.embed.tasks.wait_for_done(good.id, sleep_interval=0.2).status == "ready"


def _rotate_mp4(source: Path, target: Path) -> None:
    """Writes a phone-style rotation into the video track header (tkhd matrix of a portrait
    iPhone clip: landscape pixels, displayed turned 90 degrees clockwise)."""
    data = bytearray(source.read_bytes())
    pos = 0
    while (pos := data.find(b"tkhd", pos + 1)) != -1:
        box = pos - 4
        width = int.from_bytes(data[box + 84 : box + 88], "big") >> 16
        if width:  # the video track (audio tracks have zero size)
            matrix = [0, 0x10000, 0, 0xFFFF0000, 0, 0, 0, 0, 0x40000000]
            data[box + 48 : box + 84] = b"".join(v.to_bytes(4, "big") for v in matrix)
    target.write_bytes(bytes(data))


def test_rotated_phone_video_is_seen_upright(corpus: Path) -> None:
    from vidembed.engine.media import FrameRequest, decode, probe

    picture = np.zeros((180, 320, 3), np.uint8)
    picture[:, :160] = 255  # white left half
    plain = make_video(
        corpus / "landscape.mp4", [SegmentSpec(4, image=picture)], width=320, height=180, with_audio=False
    )
    rotated = corpus / "portrait.mp4"
    _rotate_mp4(plain, rotated)
    info = probe(rotated)
    frames = dict(decode(rotated, info, [FrameRequest(1.0, 640, 640, False)], None))  # type: ignore[arg-type]
    upright = frames[0]
    assert upright.shape[:2] == (320, 180)  # portrait, as a phone shows it
    top, bottom = upright[:100].mean(), upright[-100:].mean()
    assert top > 200 and bottom < 50  # turned clockwise: the left half is now on top


def test_huge_declared_resolution_is_refused(fake_client: VidEmbed, corpus: Path) -> None:
    path = corpus / "huge.mp4"
    with av.open(str(path), "w") as out:
        stream = out.add_stream("libx264", rate=1, options={"preset": "ultrafast"})
        stream.width, stream.height, stream.pix_fmt = 8208, 8208, "yuv420p"
        blank = np.zeros((8208 * 3 // 2, 8208), np.uint8)
        for i in range(3):
            frame = av.VideoFrame.from_ndarray(blank, format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, 1)
            for packet in stream.encode(frame):
                out.mux(packet)
        for packet in stream.encode(None):
            out.mux(packet)
    status, reason, _ = outcome(fake_client, path)
    assert status == "failed"
    assert reason == (
        "The video's resolution (8208x8208) is larger than this service decodes "
        "(at most 8192x8192 pixels); scale it down first."
    )
