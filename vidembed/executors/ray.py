"""The Ray executor: tasks claimed from the store by this process, embedded on a pool of Ray actors.

``Settings(executor="ray")`` (``vidembed serve --executor ray --ray-address HOST:PORT``) replaces the
thread ``WorkerPool`` with this. The lease rules stay those of every worker: this process claims a
task, renews its lease while the actor works, and completes or fails it as the lease holder. The
actors only compute: each loads the model stack once (``StackCatalog.load`` keeps it for the actor's
life) and returns the ``EmbeddingResult``; nothing on the Ray side writes to the store.

- **Backpressure.** One driver thread per actor ("slot"); a slot claims a task only when its actor
  has answered that it is alive and idle, so at most ``Settings.workers`` tasks are claimed at once,
  and none while the cluster has no room for the actors.
- **Resources.** An actor asks for ``Settings.ray_actor_cpus`` CPUs (default 1: decode and the CPU
  stages run on threads inside it) and ``ray_actor_gpus`` GPUs (default: 1 when the cluster has
  GPUs, else 0): Ray then sets ``CUDA_VISIBLE_DEVICES`` for it and onnxruntime and CTranslate2 pick
  CUDA (``vidembed.models.providers``). A fraction (0.25: four actors share a GPU) keeps a GPU busy
  while each actor's own decoding runs on its CPUs: decode and encode run in one streaming pass
  per task, so this, not separate decode and encode actors, is how the two stages overlap.
- **Media.** The actor reads the task's input on its own node (``worker.task_input`` with the
  service's media store): an S3 media store (``--media-url s3://...``) works from any machine; a
  local media folder (the default) only on the machine that holds it, or on a shared mount at the
  same path. URLs are downloaded by the actor.
- **Failures.** Ray never re-runs a call (``max_task_retries=0``, ``max_restarts=0``): an actor or node
  that dies makes the call raise ``RayActorError``; the slot gives the task back (``store.release``,
  retried up to ``max_attempts`` claims, as for a crashed engine process) and starts a new actor. A
  call that makes no progress for ``stall_seconds`` kills its actor and fails the task, as
  ``EngineProcess`` does. A slot whose lease was lost (taken over after expiry) kills its actor and
  writes nothing; ``store.complete`` would refuse it anyway. Results are therefore written once.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import socket
import tempfile
import threading
import time
from contextlib import AbstractContextManager
from dataclasses import dataclass
from pathlib import Path
from typing import cast

import ray
from ray.exceptions import GetTimeoutError, RayActorError, RayError

from vidembed.config import Settings
from vidembed.engine.engine import EmbeddingResult
from vidembed.errors import ApiError, BadRequestError, ConfigurationError, MediaError
from vidembed.executors.base import LOADING, Job, job_of, result_rows, store_thumbnails, task_input
from vidembed.models.catalog import StackCatalog
from vidembed.models.stack import StackSettings
from vidembed.records import TaskRecord
from vidembed.stores.base import MediaStore, TaskStore
from vidembed.stores.open import open_media_store
from vidembed.stores.s3 import S3Settings

log = logging.getLogger("vidembed.ray")
# How long a slot waits for a new actor before saying so in the log (it keeps waiting: the
# cluster may be adding a node).
PLACEMENT_WARNING_SECONDS = 60.0
# Loading the default stack in a new actor takes 10-20 s on these 2 cores; a stall guard shorter
# than that would kill actors that are only loading (EngineProcess allows the same 600 s).
LOADING_STALL_SECONDS = 600.0


@dataclass(frozen=True)
class ActorOutcome:
    """What an actor returns for one job: the result, or why the media could not be embedded."""

    result: EmbeddingResult | None
    error_kind: str = ""  # "bad_request", "media" or "other" when result is None
    message: str = ""
    node: str = ""  # the node's address, for the log


class EmbedActor:
    """A Ray actor that keeps its model stacks loaded and embeds one job at a time.

    It runs with ``max_concurrency=2`` so that ``progress`` answers while ``embed`` works; the slot
    that drives it never sends a second ``embed`` before the first returned."""

    def __init__(self, stacks: StackSettings) -> None:
        self._catalog = StackCatalog(stacks)
        self._progress: tuple[float, str] = (0.0, "idle")
        self._media: dict[tuple[str | None, str, S3Settings], MediaStore] = {}

    def ready(self) -> str:
        """The address of the node the actor runs on (a call that returns once it is placed)."""
        return ray.util.get_node_ip_address()

    def pid(self) -> int:
        """The actor's process id on its node (to find it in `ps` or the Ray dashboard)."""
        return os.getpid()

    def progress(self) -> tuple[float, str]:
        """The running job's fraction done and stage."""
        return self._progress

    def embed(self, task: TaskRecord, settings: Settings) -> ActorOutcome:
        """Embeds the task's input, read on this node (see ``_input``); the task's failure as an
        outcome, never an exception."""
        node = ray.util.get_node_ip_address()
        self._progress = (0.0, LOADING)
        try:
            with self._input(task, settings) as path:
                return ActorOutcome(self._embed(job_of(task, path, settings)), node=node)
        except BadRequestError as exc:
            return ActorOutcome(None, "bad_request", exc.message, node)
        except MediaError as exc:
            return ActorOutcome(None, "media", str(exc), node)
        except ApiError as exc:
            return ActorOutcome(None, "other", exc.message, node)
        except Exception as exc:  # a bug: the task ends with the reason, the actor goes on
            log.exception("embedding failed")
            reason = f"Internal error while embedding the video ({type(exc).__name__}: {exc})."
            return ActorOutcome(None, "other", reason, node)
        finally:
            self._progress = (1.0, "idle")

    def _input(self, task: TaskRecord, settings: Settings) -> AbstractContextManager[Path]:
        """The task's input as a file on this node: ``task_input`` with the service's media store
        (its own file for a local folder on this machine, a download for S3) and a scratch folder
        of this node's (the service's data folder need not exist here)."""
        local_folder = not (settings.media_url or "").startswith("s3://")
        source = task.source_path
        if local_folder and source and not source.startswith("s3://") and not Path(source).is_file():
            raise MediaError(
                f"The task's input {source} is not on the Ray node {ray.util.get_node_ip_address()}. "
                "With --executor ray on several machines, keep media in S3 (--media-url s3://bucket/prefix) "
                "or mount the media folder at the same path on every node."
            )
        key = (settings.media_url, str(settings.media_dir), settings.s3)
        if key not in self._media:
            self._media[key] = open_media_store(settings.media_url, settings.media_dir, settings.s3)
        here = dataclasses.replace(settings, data_dir=Path(tempfile.gettempdir()) / "vidembed-ray")
        return task_input(self._media[key], here, task)

    def _embed(self, job: Job) -> EmbeddingResult:
        from vidembed.engine import Engine

        engine = Engine(self._catalog.load(job.model_name))
        self._progress = (0.0, "started")
        return engine.embed(
            Path(job.path),
            job.params,
            job.options,
            self._report,
            max_duration=job.max_duration,
            input_type=job.input_type,
        )

    def _report(self, fraction: float, stage: str) -> None:
        self._progress = (fraction, stage)


def check_actor_resources(cpus: float, gpus: float | None) -> None:
    """ConfigurationError unless an actor asks for some CPU and no negative GPUs."""
    if not cpus > 0 or (gpus is not None and not gpus >= 0):
        raise ConfigurationError(
            f"--ray-actor-cpus must be above 0 and --ray-actor-gpus at least 0, not {cpus:g} and {gpus:g}."
            if gpus is not None
            else f"--ray-actor-cpus must be above 0, not {cpus:g}."
        )


def actor_gpus(asked: float | None) -> float:
    """The GPUs each actor asks for: as configured, or (None) 1 when the cluster has GPUs."""
    if asked is not None:
        return asked
    return 1.0 if ray.cluster_resources().get("GPU", 0) >= 1 else 0.0


def actor_options(cpus: float, gpus: float) -> dict[str, object]:
    """Ray options of an embedding actor (see the module docstring for why each)."""
    return {
        "num_cpus": cpus,
        "num_gpus": gpus,
        "max_restarts": 0,
        "max_task_retries": 0,
        "max_concurrency": 2,
        "scheduling_strategy": "SPREAD",  # one actor per node before two on one
    }


def connect(address: str | None) -> bool:
    """Connects this process to the Ray cluster at ``address`` (None: "auto"), unless it already
    is; True if this call connected (the caller then disconnects). ConfigurationError, saying what
    to do, when nothing answers there."""
    if ray.is_initialized():
        return False
    if address and "://" not in address:
        _check_reachable(address)
    try:
        ray.init(address=address or "auto", log_to_driver=False, configure_logging=False)
    except (ConnectionError, RuntimeError, ValueError) as exc:
        where = address or "auto (RAY_ADDRESS, or a cluster started on this machine by `ray start --head`)"
        raise ConfigurationError(
            f"Cannot connect to the Ray cluster at {where}: {exc}. Start one with `ray start --head "
            "--node-ip-address HOST --port 6379` and pass --ray-address HOST:6379."
        ) from None
    return True


def _check_reachable(address: str) -> None:
    """Fails fast on a GCS address where nothing listens: ray.init itself retries for minutes
    (measured: still retrying after 200 s for a closed port)."""
    host, _, port = address.rpartition(":")
    if not host or not port.isdigit():
        raise ConfigurationError(
            f"--ray-address must be HOST:PORT (the head's GCS, e.g. 10.0.0.1:6379) or ray://HOST:10001, "
            f"not {address!r}."
        )
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=5).close()
    except OSError as exc:
        raise ConfigurationError(
            f"Cannot connect to the Ray cluster at {address}: nothing answers there ({exc.strerror or exc}). "
            "Start its head with `ray start --head --node-ip-address HOST --port PORT`, or pass the "
            "address that `ray start` printed."
        ) from None


class ActorSlot:
    """One actor and the driver thread that feeds it one task at a time."""

    def __init__(self, name: str, stacks: StackSettings, gpus: float, cpus: float = 1.0) -> None:
        self.name, self._stacks, self._gpus, self._cpus = name, stacks, gpus, cpus
        self.actor: ray.actor.ActorHandle | None = None
        self.current: str | None = None  # the id of the task its actor is embedding
        self._ready: ray.ObjectRef[str] | None = None
        self._since = 0.0
        self._warned = False

    @property
    def placed(self) -> bool:
        """Whether the slot's actor has been placed on a node and answered."""
        return self.actor is not None and self._ready is None

    def discard(self) -> None:
        """Kills the actor (if any); the next ``alive`` starts a new one."""
        if self.actor is not None:
            try:
                ray.kill(self.actor, no_restart=True)
            except RayError:
                pass
        self.actor, self._ready = None, None

    def alive(self, timeout: float) -> bool:
        """Whether the actor is placed and answers; starts one when there is none."""
        if self.actor is None:
            # Ray's stubs type a remote class's .remote() as "the class or a handle"
            options = actor_options(self._cpus, self._gpus)
            remote = ray.remote(EmbedActor).options(**options).remote(self._stacks)
            actor = cast(ray.actor.ActorHandle, remote)
            self.actor = actor
            self._ready, self._since, self._warned = actor.ready.remote(), time.monotonic(), False
        if self._ready is None:
            return True
        try:
            node = ray.get(self._ready, timeout=timeout)
        except GetTimeoutError:
            self._warn_if_unplaced()
            return False
        except RayError as exc:
            log.warning("%s: the Ray actor could not start (%s); starting another", self.name, exc)
            self.discard()
            return False
        log.info("%s: Ray actor ready on node %s", self.name, node)
        self._ready = None
        return True

    def _warn_if_unplaced(self) -> None:
        if not self._warned and time.monotonic() - self._since > PLACEMENT_WARNING_SECONDS:
            self._warned = True
            log.warning(
                "%s: the Ray actor has waited %.0f s for a node with %g free CPU%s; add nodes, or "
                "lower --workers (or --ray-actor-cpus / --ray-actor-gpus)",
                self.name,
                PLACEMENT_WARNING_SECONDS,
                self._cpus,
                f" and {self._gpus:g} GPU" if self._gpus else "",
            )


class RayExecutor:
    """Runs the store's tasks on ``settings.workers`` Ray actors (an ``Executor`` of the core)."""

    def __init__(self, store: TaskStore, settings: Settings) -> None:
        check_actor_resources(settings.ray_actor_cpus, settings.ray_actor_gpus)
        self.store = store
        self.settings = settings
        self._stop = threading.Event()
        self._wake = threading.Event()
        self._threads: list[threading.Thread] = []
        self.slots: list[ActorSlot] = []
        self._connected = False
        self._media: MediaStore | None = None  # where thumbnails go, opened when the first comes

    def _driver_media(self) -> MediaStore:
        if self._media is None:
            s = self.settings
            self._media = open_media_store(s.media_url, s.media_dir, s.s3)
        return self._media

    def start(self) -> None:
        """Connects to the cluster and starts one slot (actor + driver thread) per worker."""
        self._connected = connect(self.settings.ray_address)
        gpus = actor_gpus(self.settings.ray_actor_gpus)
        prefix = f"{socket.gethostname()}:{os.getpid()}:ray"
        for n in range(self.settings.workers):
            slot = ActorSlot(f"{prefix}{n}", self.settings.stacks, gpus, self.settings.ray_actor_cpus)
            self.slots.append(slot)
            thread = threading.Thread(target=self._loop, args=(slot,), name=f"ray-slot-{n}", daemon=True)
            thread.start()
            self._threads.append(thread)

    def wake(self) -> None:
        self._wake.set()

    def stop(self) -> None:
        """Stops claiming and kills the actors; a task in progress stays processing and is claimed
        again once its lease expires (as with the thread workers)."""
        self._stop.set()
        self._wake.set()
        for thread in self._threads:
            thread.join(timeout=60)
        for slot in self.slots:
            slot.discard()
        self._threads.clear()
        self.slots.clear()
        if self._connected:
            ray.shutdown()
            self._connected = False

    def _loop(self, slot: ActorSlot) -> None:
        while not self._stop.is_set():
            if not slot.alive(timeout=self.settings.poll_seconds):
                continue
            task = self.store.claim(slot.name, self.settings.lease_seconds, self.settings.max_attempts)
            if task is None:
                self._wake.wait(self.settings.poll_seconds)
                self._wake.clear()
                continue
            slot.current = task.id
            try:
                self.run_task(task, slot)
            except Exception:  # a bug or a store outage: the lease expires, the task is retried
                log.exception("task %s: unexpected error in the Ray slot", task.id)
            finally:
                slot.current = None

    def run_task(self, task: TaskRecord, slot: ActorSlot) -> None:
        """One claimed task on the slot's actor, to ``ready``, ``failed`` or given back."""
        log.info("task %s: started on Ray (attempt %d)", task.id, task.attempts)
        worker = slot.name
        self.store.renew(task.id, worker, self.settings.lease_seconds, 0.0, "started")
        assert slot.actor is not None
        call: ray.ObjectRef[ActorOutcome] = slot.actor.embed.remote(task, self.settings)
        if not self._watch(task, slot, call):
            return
        try:
            outcome: ActorOutcome = ray.get(call)
        except RayActorError as exc:
            reason = f"The Ray actor embedding this video died ({type(exc).__name__}); retrying."
            log.warning("task %s: %s", task.id, reason)
            slot.discard()
            if not self._stop.is_set():
                self.store.release(task.id, worker, reason)  # retried, up to max_attempts
            return
        except RayError as exc:  # e.g. the result was lost with its node: another attempt
            log.warning("task %s: the Ray call failed (%s); retrying", task.id, exc)
            self.store.release(task.id, worker, f"The Ray call failed ({type(exc).__name__}); retrying.")
            return
        self._write(task, worker, outcome)

    def _watch(self, task: TaskRecord, slot: ActorSlot, call: ray.ObjectRef[ActorOutcome]) -> bool:
        """Renews the lease and records progress until the call returns (True); False when the
        task was let go: shutting down, lease lost, or stalled (failed, actor killed)."""
        assert slot.actor is not None
        settings, last_change, last = self.settings, time.monotonic(), (0.0, "started")
        while not ray.wait([call], timeout=settings.heartbeat_seconds)[0]:
            if self._stop.is_set():
                return False
            progress = _progress_of(slot.actor, settings.heartbeat_seconds) or last
            if progress != last:
                last, last_change = progress, time.monotonic()
            if not self.store.renew(task.id, slot.name, settings.lease_seconds, *progress):
                log.warning("task %s: lease lost; stopping its Ray actor", task.id)
                slot.discard()
                return False
            allowed = LOADING_STALL_SECONDS if last[1] == LOADING else settings.stall_seconds
            if time.monotonic() - last_change > allowed:
                slot.discard()
                self.store.fail(
                    task.id,
                    f"Processing made no progress for {settings.stall_seconds:g} s and was stopped; "
                    "the video could not be decoded in time (damaged or unsupported file?).",
                )
                return False
        return True

    def _write(self, task: TaskRecord, worker: str, outcome: ActorOutcome) -> None:
        result = outcome.result
        if result is None:
            log.info("task %s: failed on %s: %s", task.id, outcome.node, outcome.message)
            self.store.fail(task.id, outcome.message)
            return
        rows, texts = result_rows(result)
        if result.thumbnails:
            store_thumbnails(self._driver_media(), task.id, result)
        if self.store.complete(task.id, worker, result.duration, rows, result.encoders, texts, result.media):
            log.info("task %s: ready on %s (%d segments)", task.id, outcome.node, len(rows))
        else:
            log.warning("task %s: finished after its lease was lost; result dropped", task.id)


def _progress_of(actor: ray.actor.ActorHandle, timeout: float) -> tuple[float, str] | None:
    """The actor's progress, or None if it does not answer in time (busy, or dying)."""
    try:
        answer = cast(tuple[float, str], ray.get(actor.progress.remote(), timeout=timeout))
    except (GetTimeoutError, RayError):
        return None
    return float(answer[0]), str(answer[1])
