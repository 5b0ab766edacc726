"""``executors.isolated.run_killable``: a call in a child process that is killed when it hangs,
reported when it crashes, and whose result or exception comes back (asset probing uses it)."""

from __future__ import annotations

import os
import time

import pytest

from vidembed.executors.isolated import IsolatedCrash, IsolatedTimeout, run_killable


def test_a_result_and_an_exception_come_back() -> None:
    assert run_killable(sum, ([1, 2, 3],), timeout=30) == 6
    with pytest.raises(ValueError, match="invalid literal"):
        run_killable(int, ("not a number",), timeout=30)


def test_a_hanging_call_is_killed_at_its_timeout() -> None:
    started = time.monotonic()
    with pytest.raises(IsolatedTimeout, match="gave up after 0.5 s"):
        run_killable(time.sleep, (60,), timeout=0.5)
    assert time.monotonic() - started < 10  # not the 60 s the call wanted


def test_a_crashing_call_is_reported() -> None:
    with pytest.raises(IsolatedCrash, match="exit code 3"):
        run_killable(os._exit, (3,), timeout=30)
