from __future__ import annotations

import io
import json
from pathlib import Path

import pytest

from vidembed.api.embed.operations import TaskService
from vidembed.cli import DESCRIPTION, EMBED_FLAGS, build_parser, cli_message, main
from vidembed.client.types import TasksStatusResponse
from vidembed.models.stack import DEFAULT_STACK
from vidembed.progress import ProgressDisplay


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
    captured = capsys.readouterr()
    printed = captured.out
    assert code == 0
    # stderr is not a terminal here: plain progress lines, no redrawn bar
    assert "\r" not in captured.err
    assert captured.err.splitlines()[-1] == "progress 100% done ready"
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
    assert lines[0] == "== transcription (cosine with the query)"
    # the hit names the video a person recognises, then the task
    score, rest = lines[1].split(maxsplit=1)
    assert 0.3 < float(score) <= 1.0
    assert rest == f"0.0-6.0 s       {labelled_video.name}  (task {body['_id']})"


@pytest.mark.parametrize(
    ("argv", "description"),
    [
        ([], DESCRIPTION),
        (["embed"], "Embed a video file or URL in the embedded service."),
        (["search"], "Rank stored clips against a text query or an image."),
        (["serve"], "Serve the TwelveLabs-compatible HTTP API."),
        (["models"], "Prepare and verify the default stack's weights."),
    ],
)
def test_help_is_plain_text(
    argv: list[str], description: str, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("COLUMNS", "200")  # no wrapping
    with pytest.raises(SystemExit) as exited:
        main([*argv, "--help"])
    assert exited.value.code == 0
    text = capsys.readouterr().out
    assert description in text.splitlines()
    for markup in ("``", ":func:", ":class:", ":meth:", "**"):
        assert markup not in text


def test_top_level_description() -> None:
    assert DESCRIPTION == (
        "The vidembed command: embed a video, search stored clips, serve the API, prepare models."
    )


@pytest.mark.parametrize(
    ("argv", "data_dir"),
    [
        (["--data-dir", "A", "embed", "x.mp4"], "A"),
        (["embed", "x.mp4", "--data-dir", "B"], "B"),
        (["embed", "--data-dir", "B", "x.mp4", "--clip-length", "4"], "B"),
        (["--data-dir", "A", "search", "a dog", "--data-dir", "B"], "B"),
        (["--data-dir", "A", "search", "a dog", "--top", "3"], "A"),
        (["search", "a dog", "--data-dir", "B"], "B"),
        (["serve", "--data-dir", "C", "--port", "9000"], "C"),
        (["models", "--data-dir", "C"], "C"),
        (["search", "a dog"], "from-env"),
    ],
)
def test_data_dir_before_or_after_the_command(
    argv: list[str], data_dir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("VIDEMBED_HOME", "from-env")
    assert build_parser().parse_args(argv).data_dir == data_dir


def test_data_dir_default_without_env(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("VIDEMBED_HOME", raising=False)
    assert build_parser().parse_args(["embed", "x.mp4"]).data_dir is None


def test_data_dir_after_the_command_is_used(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    data = tmp_path / "after"
    assert main(["search", "a dog", "--top", "0", "--data-dir", str(data)]) == 2
    assert (data / "vidembed.sqlite3").is_file()
    assert capsys.readouterr().err == (
        "error: The --top parameter is invalid. It must be at least 1 and at most 100.\n"
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (
            ["--clip-length", "12"],
            "The --clip-length parameter is invalid. --clip-length should be within 2-10 seconds long",
        ),
        (
            ["--start", "3"],
            "The following parameters are invalid: --start, --end. Set both --start and --end, or neither.",
        ),
        (["--start", "-1", "--end", "8"], "The --start parameter is invalid. It must be a number >= 0."),
        (
            ["--start", "4", "--end", "2"],
            "The --end parameter is invalid. --end should be greater than --start",
        ),
        (
            ["--start", "0", "--end", "4"],
            "The following parameters are invalid: --start, --end. "
            "The interval between them (4 s) must be at least --clip-length (6 s).",
        ),
        (
            ["--option", "smell"],
            "The --option parameter is invalid. Use some of: visual, audio, transcription.",
        ),
    ],
)
def test_embed_errors_name_the_flags(
    args: list[str], message: str, tmp_path: Path, labelled_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["--data-dir", str(tmp_path), "embed", str(labelled_video), *args])
    assert code == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_embed_unknown_model_names_the_flag(
    tmp_path: Path, labelled_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(tmp_path), "embed", str(labelled_video), "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The --model parameter is invalid. Available models: ")
    assert DEFAULT_STACK in err and "model_name" not in err


def test_embed_url_errors_name_the_video_argument(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(tmp_path), "embed", "ftp://example.com/a.mp4"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The video argument is invalid. Use an ")
    assert "video_url" not in err


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["a dog", "--top", "0"], "The --top parameter is invalid. It must be at least 1 and at most 100."),
        (
            ["a dog", "--page-limit", "101"],
            "The --top parameter is invalid. It must be at least 1 and at most 100.",
        ),
        (["   "], "No query was provided: send query (a text) or --image (an image file)."),
        (
            ["a dog", "--option", "smell"],
            "The --option parameter is invalid. Use some of: visual, audio, transcription.",
        ),
    ],
)
def test_search_errors_name_the_flags(
    args: list[str], message: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["--data-dir", str(tmp_path), "search", *args]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"


def test_search_unknown_model_names_the_flag(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--data-dir", str(tmp_path), "search", "a dog", "--model", "nope"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: The --model parameter is invalid. Available models: ")
    assert "model_name" not in err


def test_search_of_an_unfinished_task_names_the_flag(
    tmp_path: Path, idle_service: TaskService, labelled_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    task_id = idle_service.create(model_name=DEFAULT_STACK, video_file=str(labelled_video))["_id"]
    assert main(["--data-dir", str(tmp_path / "data"), "search", "a dog", "--task", task_id]) == 2
    assert capsys.readouterr().err == (
        f"error: The --task parameter is invalid. Task {task_id} is processing, not ready.\n"
    )


def test_cli_message_rewrites_whole_field_names_only() -> None:
    message = "The video_clip_length parameter is invalid. video_clip_lengths and my_model_name stay."
    assert cli_message(message, EMBED_FLAGS) == (
        "The --clip-length parameter is invalid. video_clip_lengths and my_model_name stay."
    )
    assert cli_message("The model_name parameter is invalid.", {}) == "The model_name parameter is invalid."


def test_api_messages_keep_the_field_names(idle_service: TaskService, labelled_video: Path) -> None:
    from vidembed.errors import ApiError

    with pytest.raises(ApiError) as raised:
        idle_service.create(model_name=DEFAULT_STACK, video_file=str(labelled_video), video_clip_length=12)
    assert raised.value.message == (
        "The video_clip_length parameter is invalid. video_clip_length should be within 2-10 seconds long"
    )


@pytest.mark.parametrize("scope", ["video", "", "clip,frame", "video,video"])
def test_embed_rejects_a_scope_other_than_clip_or_clip_video(
    scope: str, tmp_path: Path, labelled_video: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    data = tmp_path / "data"
    with pytest.raises(SystemExit) as exited:
        main(["--data-dir", str(data), "embed", str(labelled_video), "--scope", scope])
    assert exited.value.code == 2
    assert capsys.readouterr().err.splitlines()[-1] == (
        f"vidembed embed: error: argument --scope: invalid value {scope!r}: use clip or clip,video "
        "(video segments always come with the clip segments)"
    )
    assert not data.exists()  # refused before any task was created


@pytest.mark.parametrize(
    ("scope", "scopes"),
    [
        (None, ["clip"]),
        ("clip", ["clip"]),
        ("clip,video", ["clip", "video"]),
        (" video , clip ", ["clip", "video"]),
    ],
)
def test_embed_accepts_clip_and_clip_video(scope: str | None, scopes: list[str]) -> None:
    argv = ["embed", "x.mp4"] + ([] if scope is None else ["--scope", scope])
    assert build_parser().parse_args(argv).scope == scopes


def test_embed_failure_reason_names_the_flags(
    tmp_path: Path, labelled_video: Path, capsys: pytest.CaptureFixture[str], fake_cli: str
) -> None:
    # known only once the video is probed: the task fails rather than the create call
    argv = ["--data-dir", str(tmp_path), "embed", str(labelled_video), "--start", "12", "--end", "20"]
    argv += ["--model", fake_cli]
    assert main(argv) == 1
    last = capsys.readouterr().err.splitlines()[-1]
    assert last.endswith(
        " failed: The --end parameter is invalid. --end (20 s) is beyond the end of the video (18.000 s)."
    )


def _status(state: str, fraction: float, stage: str) -> TasksStatusResponse:
    return TasksStatusResponse.model_validate(
        {"_id": "t1", "status": state, "progress": {"fraction": fraction, "stage": stage}}
    )


_RUN = [
    _status("processing", 0.0, "queued"),
    _status("processing", 0.0, "loading models"),
    _status("processing", 0.0, "loading models"),
    _status("processing", 0.02, "probed"),
    *[_status("processing", f / 100, "visual") for f in range(5, 100, 3)],
    _status("ready", 1.0, "done"),
]


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_progress_off_a_terminal_is_plain_lines() -> None:
    stream = io.StringIO()
    display = ProgressDisplay(stream)
    assert display.interactive is False
    for status in _RUN:
        display(status)
    display.finish()
    text = stream.getvalue()
    assert "\r" not in text
    assert text.splitlines() == [
        "progress   0% queued processing",
        "progress   0% loading models processing",
        "progress   2% probed processing",
        "progress   5% visual processing",
        "progress  11% visual processing",
        "progress  20% visual processing",
        "progress  32% visual processing",
        "progress  41% visual processing",
        "progress  50% visual processing",
        "progress  62% visual processing",
        "progress  71% visual processing",
        "progress  80% visual processing",
        "progress  92% visual processing",
        "progress 100% done ready",
    ]


def test_progress_on_a_terminal_redraws_one_bar() -> None:
    stream = _Terminal()
    display = ProgressDisplay(stream)
    assert display.interactive is True
    display(_status("processing", 0.4, "visual"))
    display(_status("ready", 1.0, "done"))
    display.finish()
    frames = stream.getvalue().split("\r")
    assert frames[0] == ""
    assert frames[1] == f"[{'#' * 12:<30}]  40.0% {'visual':<14} {'processing':<10}"
    assert frames[2] == f"[{'#' * 30}] 100.0% {'done':<14} {'ready':<10}\n"


def test_progress_of_a_stream_without_isatty_is_plain() -> None:
    class Sink:
        def __init__(self) -> None:
            self.text = ""

        def write(self, text: str) -> int:
            self.text += text
            return len(text)

        def flush(self) -> None:
            pass

    sink = Sink()
    display = ProgressDisplay(sink)  # type: ignore[arg-type]
    display(_status("processing", 0.5, "audio"))
    display.finish()
    assert sink.text == "progress  50% audio processing\n"


def test_embed_reports_a_failed_task(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], fake_cli: str
) -> None:
    broken = tmp_path / "broken.mp4"
    broken.write_bytes(b"\x00" * 1000)
    assert main(["--data-dir", str(tmp_path / "d"), "embed", str(broken), "--model", fake_cli]) == 1
    assert "failed: The file is not a video" in capsys.readouterr().err
