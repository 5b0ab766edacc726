"""``wait_for_done`` of both APIs: fetch, tell the callback, stop on a final status, else sleep."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Protocol, TypeVar

FINAL_STATUSES = ("ready", "failed")


class HasStatus(Protocol):
    @property
    def status(self) -> str | None: ...


Reply = TypeVar("Reply", bound=HasStatus)


def wait_until_final(
    fetch: Callable[[], Reply], sleep_interval: float, callback: Callable[[Reply], None] | None
) -> Reply:
    """Calls ``fetch`` until the answer's status is ``ready`` or ``failed`` and returns that answer
    (a failed task is returned, not raised)."""
    if sleep_interval <= 0:
        raise ValueError("sleep_interval must be greater than 0")
    while True:
        reply = fetch()
        if callback is not None:
            callback(reply)
        if reply.status in FINAL_STATUSES:
            return reply
        time.sleep(sleep_interval)
