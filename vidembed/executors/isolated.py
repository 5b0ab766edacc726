"""One short call in a child process that can be killed: for work on a user's file that a native
library may hang on or crash in (PyAV probing an asset), where the engine's long-lived child
(``child.py``) would be too heavy.

Children fork from a forkserver that has PyAV and Pillow imported already (started on first use),
so a call costs a fork, not an interpreter start. A call that takes longer than its timeout is
killed (``IsolatedTimeout``); a child that dies without answering raises ``IsolatedCrash``; an
exception in the child is raised again in the caller (it must pickle: ours do).
"""

from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Callable
from multiprocessing.connection import Connection
from typing import TypeVar

from vidembed.errors import VidEmbedError

T = TypeVar("T")
_PRELOAD = ["av", "PIL.Image"]  # what probing imports: loaded once, in the forkserver
_lock = threading.Lock()
_context: multiprocessing.context.ForkServerContext | None = None


class IsolatedTimeout(VidEmbedError):
    """The call ran past its timeout and its process was killed."""


class IsolatedCrash(VidEmbedError):
    """The child process died without answering (a crash in native code)."""


def _forkserver(module: str) -> multiprocessing.context.ForkServerContext:
    """The forkserver context; the first call's function module is preloaded with PyAV and Pillow
    (this process has one use: probing assets)."""
    global _context
    with _lock:
        if _context is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload([*_PRELOAD, module])
            _context = context
        return _context


def _child(conn: Connection, func: Callable[..., object], args: tuple[object, ...]) -> None:
    try:
        conn.send(("ok", func(*args)))
    except BaseException as exc:  # handed to the caller, which raises it
        conn.send(("error", exc))
    finally:
        conn.close()


def run_killable(func: Callable[..., T], args: tuple[object, ...], timeout: float) -> T:
    """``func(*args)`` in a child process, killed after ``timeout`` seconds. ``func`` must be a
    module-level function; its arguments and result must pickle."""
    context = _forkserver(func.__module__)
    receiver, sender = context.Pipe(duplex=False)
    process = context.Process(target=_child, args=(sender, func, args), daemon=True)
    process.start()
    sender.close()  # ours closed: EOF on the receiver once the child is gone
    try:
        if not receiver.poll(timeout):
            raise IsolatedTimeout(f"gave up after {timeout:g} s")
        kind, value = receiver.recv()
    except EOFError:
        process.join(5)
        raise IsolatedCrash(f"the process died (exit code {process.exitcode})") from None
    finally:
        if process.is_alive():
            process.kill()
        process.join(5)
        receiver.close()
    if kind == "error":
        assert isinstance(value, BaseException)
        raise value
    return value  # type: ignore[no-any-return]
