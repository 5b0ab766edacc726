"""TODO docstring."""

from __future__ import annotations

from vidembed.config import Settings
from vidembed.errors import ConfigurationError
from vidembed.executors.base import Executor
from vidembed.executors.threads import WorkerPool
from vidembed.stores.base import TaskStore


def make_executor(store: TaskStore, settings: Settings) -> Executor:
    """The executor ``settings.executor`` names; "ray" needs the ray extra."""
    if settings.executor == "threads":
        return WorkerPool(store, settings)
    if settings.executor == "ray":
        try:
            from vidembed.executors.ray import RayExecutor
        except ImportError as exc:
            raise ConfigurationError(
                f"The Ray executor needs Ray: pip install 'vidembed[ray]' ({exc})."
            ) from None
        return RayExecutor(store, settings)
    raise ConfigurationError(
        f"The executor (--executor / VIDEMBED_EXECUTOR) must be threads or ray, not {settings.executor!r}."
    )
