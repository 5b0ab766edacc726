"""Build labelled test videos with PyAV: a picture, a sound and a spoken sentence per segment.

Segment boundaries are known exactly, so tests and the quality benchmark have ground truth.
Speech comes from espeak-ng (Debian package ``espeak-ng``).
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
import wave
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

AUDIO_RATE = 22_050


@dataclass
class SegmentSpec:
    duration: float
    image: np.ndarray | None = None  # RGB uint8, any size; black if None
    audio: np.ndarray | None = None  # mono float32 at AUDIO_RATE, mixed in from the start
    speech: str | None = None  # spoken with espeak-ng, mixed in after ``speech_delay``
    speech_delay: float = 0.3


def espeak_available() -> bool:
    return shutil.which("espeak-ng") is not None


def speak(text: str, rate: int = AUDIO_RATE, voice: str | None = None) -> np.ndarray:
    """Mono float32 speech for ``text`` at ``rate`` Hz, in espeak-ng's ``voice`` ("de", "es",
    "ja", ...; None: its default, English)."""
    with tempfile.TemporaryDirectory() as tmp:
        wav_path = Path(tmp) / "speech.wav"
        chosen = ["-v", voice] if voice else []
        subprocess.run(
            ["espeak-ng", *chosen, "-s", "150", "-w", str(wav_path), text],
            check=True,
            capture_output=True,
            timeout=60,
        )
        with wave.open(str(wav_path)) as wav:
            source_rate = wav.getframerate()
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").astype(np.float32) / 32768
    return resample(samples, source_rate, rate)


def resample(samples: np.ndarray, source_rate: int, rate: int) -> np.ndarray:
    if source_rate == rate or len(samples) == 0:
        return samples.astype(np.float32)
    n = int(len(samples) * rate / source_rate)
    return np.interp(np.linspace(0, len(samples) - 1, n), np.arange(len(samples)), samples).astype(np.float32)


def tone(freq: float, seconds: float, rate: int = AUDIO_RATE, amplitude: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * rate)) / rate
    return (amplitude * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def _fit(image: np.ndarray | None, width: int, height: int) -> np.ndarray:
    canvas = np.zeros((height, width, 3), np.uint8)
    if image is None:
        return canvas
    from PIL import Image

    picture = Image.fromarray(image[..., :3])
    picture.thumbnail((width, height))
    w, h = picture.size
    canvas[(height - h) // 2 : (height - h) // 2 + h, (width - w) // 2 : (width - w) // 2 + w] = np.asarray(
        picture
    )
    return canvas


def make_video(
    path: Path,
    segments: Sequence[SegmentSpec],
    *,
    width: int = 640,
    height: int = 360,
    fps: int = 10,
    with_audio: bool = True,
    video_codec: str = "libx264",
    audio_codec: str = "aac",
    start_offset: float = 0.0,
) -> Path:
    """Writes a video whose segments follow each other (H.264 + AAC unless told otherwise; the
    container follows the file name); returns ``path``. ``start_offset`` shifts every timestamp,
    as in files cut from a broadcast stream."""
    total = sum(s.duration for s in segments)
    track = np.zeros(int(round(total * AUDIO_RATE)) + AUDIO_RATE, np.float32)
    offset = 0.0
    for seg in segments:
        start = int(offset * AUDIO_RATE)
        limit = int((offset + seg.duration) * AUDIO_RATE)
        for clip, delay in ((seg.audio, 0.0), (speak(seg.speech) if seg.speech else None, seg.speech_delay)):
            if clip is None:
                continue
            lo = start + int(delay * AUDIO_RATE)
            piece = clip[: max(0, limit - lo)]
            track[lo : lo + len(piece)] += piece
        offset += seg.duration
    track = np.clip(track[: int(round(total * AUDIO_RATE))], -1, 1)

    with av.open(str(path), "w") as container:
        vstream = container.add_stream(video_codec, rate=fps)
        assert isinstance(vstream, av.VideoStream)  # a video codec's (the codec names are plain str)
        vstream.width, vstream.height = width, height
        vstream.pix_fmt = "yuv420p" if video_codec != "cinepak" else "rgb24"
        audio_rate = 48_000 if audio_codec in ("libopus", "ac3") else AUDIO_RATE
        astream = container.add_stream(audio_codec, rate=audio_rate, layout="mono") if with_audio else None
        assert astream is None or isinstance(astream, av.AudioStream)
        if audio_rate != AUDIO_RATE:
            track = resample(track, AUDIO_RATE, audio_rate)
        frame_index = 0
        for seg in segments:
            picture = _fit(seg.image, width, height)
            for _ in range(int(round(seg.duration * fps))):
                frame = av.VideoFrame.from_ndarray(picture, format="rgb24")
                frame.pts = frame_index + round(start_offset * fps)
                frame.time_base = Fraction(1, fps)
                frame_index += 1
                for packet in vstream.encode(frame):
                    container.mux(packet)
        for packet in vstream.encode(None):
            container.mux(packet)
        if astream is not None:
            samples = track.reshape(1, -1)
            step = astream.codec_context.frame_size or 1024
            for i in range(0, samples.shape[1], step):
                piece = samples[:, i : i + step]
                if audio_codec != "aac":  # AAC takes a short last frame; Opus and AC-3 need whole ones
                    piece = np.pad(piece, ((0, 0), (0, step - piece.shape[1])))
                piece = np.ascontiguousarray(piece)
                audio_frame = av.AudioFrame.from_ndarray(piece, format="flt", layout="mono")
                audio_frame.sample_rate = audio_rate
                audio_frame.pts = i + round(start_offset * audio_rate)
                audio_frame.time_base = Fraction(1, audio_rate)
                for packet in astream.encode(audio_frame):
                    container.mux(packet)
            for packet in astream.encode(None):
                container.mux(packet)
    return path
