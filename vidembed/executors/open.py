"""Opens the executor a configuration names (``--executor``): worker threads (the default) or Ray
actors (the ``ray`` extra, imported only then)."""

from __future__ import annotations

from vidembed.config import Settings
from vidembed.errors import ConfigurationError
from vidembed.executors.base import Executor
from vidembed.executors.threads import WorkerPool
from vidembed.stores.base import MediaStore, TaskStore


def make_executor(store: TaskStore, media: MediaStore, settings: Settings) -> Executor:
    """The executor ``settings.executor`` names, over the process's stores; "ray" needs the ray
    extra (its actors open the media store on their own nodes)."""
    if settings.executor == "threads":
        return WorkerPool(store, settings, media)
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
