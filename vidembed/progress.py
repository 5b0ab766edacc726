"""How ``vidembed embed`` shows a task's progress while it waits.

On a terminal one bar is redrawn in place (``\\r``). Anywhere else (a log file, a pipe, CI) a
redrawn bar would leave hundreds of ``\\r`` frames on one line, so plain lines are written
instead: one when the stage or the status changes, and one at each further 10 % of progress.
"""

from __future__ import annotations

from typing import Protocol, TextIO


class Progress(Protocol):
    fraction: float
    stage: str


class HasProgress(Protocol):
    """What the display reads: an embed task's status or an index task (``client.tasks``)."""

    @property
    def status(self) -> str | None: ...
    @property
    def progress(self) -> Progress | None: ...


BAR_WIDTH = 30
LINE_STEP_PERCENT = 10


def is_terminal(stream: TextIO) -> bool:
    """``stream.isatty()``, and False for a stream without one or a closed one."""
    isatty = getattr(stream, "isatty", None)
    if isatty is None:
        return False
    try:
        return bool(isatty())
    except (OSError, ValueError):
        return False


class ProgressDisplay:
    """A ``wait_for_done`` callback; call :meth:`finish` once the wait is over."""

    def __init__(self, stream: TextIO, *, interactive: bool | None = None) -> None:
        self.stream = stream
        self.interactive = is_terminal(stream) if interactive is None else interactive
        self._bar_drawn = False
        self._last_line: tuple[int, str, str] | None = None  # (10 % step, stage, status)

    def __call__(self, status: HasProgress) -> None:
        fraction = min(max(status.progress.fraction, 0.0), 1.0) if status.progress else 0.0
        stage = status.progress.stage if status.progress else ""
        state = status.status or ""
        if self.interactive:
            self._draw_bar(fraction, stage, state)
        else:
            self._write_line(fraction, stage, state)

    def finish(self) -> None:
        """Ends the bar's line (on a terminal); plain lines need nothing more."""
        if self._bar_drawn:
            self.stream.write("\n")
            self.stream.flush()
            self._bar_drawn = False

    def _draw_bar(self, fraction: float, stage: str, state: str) -> None:
        bar = "#" * int(fraction * BAR_WIDTH)
        self.stream.write(f"\r[{bar:<{BAR_WIDTH}}] {fraction * 100:5.1f}% {stage:<14} {state:<10}")
        self.stream.flush()
        self._bar_drawn = True

    def _write_line(self, fraction: float, stage: str, state: str) -> None:
        percent = int(fraction * 100 + 1e-9)
        key = (percent // LINE_STEP_PERCENT, stage, state)
        if key == self._last_line:
            return
        self._last_line = key
        words = " ".join(word for word in (stage, state) if word)
        self.stream.write(f"progress {percent:3d}% {words}".rstrip() + "\n")
        self.stream.flush()
