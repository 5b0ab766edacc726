from __future__ import annotations

import json
from pathlib import Path

import pytest

from vidembed.cli import main


def test_embed_writes_wire_json_and_search_finds_the_spoken_clip(
    tmp_path: Path, labelled_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data, out = tmp_path / "data", tmp_path / "result.json"
    code = main(
        [
            "--data-dir",
            str(data),
            "embed",
            str(labelled_video),
            "--scope",
            "clip,video",
            "--clip-length",
            "6",
            "--out",
            str(out),
        ]
    )
    printed = capsys.readouterr().out
    assert code == 0
    assert "duration:   18.00 s" in printed and "clips:      3 x 6.0 s" in printed
    assert "segments:   12 vectors of dimension 384" in printed
    body = json.loads(out.read_text())
    assert len(body["_id"]) == 24 and body["status"] == "ready"
    first = body["video_embedding"]["segments"][0]
    assert set(first) == {
        "start_offset_sec",
        "end_offset_sec",
        "embedding_option",
        "embedding_scope",
        "float",
    }
    assert len(first["float"]) == 384

    assert (
        main(
            [
                "--data-dir",
                str(data),
                "search",
                "someone cutting vegetables for cooking",
                "--option",
                "transcription",
                "--top",
                "1",
            ]
        )
        == 0
    )
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "== transcription"
    assert f"{body['_id']}      0.00-6.00" in lines[1]


def test_search_reports_bad_parameters(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["--data-dir", str(tmp_path), "search", "a dog", "--top", "0"])
    assert code == 2
    assert (
        "The page_limit parameter is invalid. It must be at least 1 and at most 100."
        in capsys.readouterr().err
    )


def test_embed_reports_bad_parameters(
    tmp_path: Path, labelled_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--data-dir", str(tmp_path), "embed", str(labelled_video), "--clip-length", "12"])
    assert code == 2
    assert "video_clip_length should be within 2-10 seconds long" in capsys.readouterr().err


def test_embed_reports_a_failed_task(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    assert main(["--data-dir", str(tmp_path / "d"), "embed", str(broken)]) == 1
    assert "failed: The file is not a video" in capsys.readouterr().err
