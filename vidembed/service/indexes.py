"""IndexCore: search indexes and their videos as records (the core of TwelveLabs'
``client.indexes`` and ``client.tasks``; the request rules and JSON are in ``vidembed.api``).

An index is a named collection of videos embedded by one stack with some of its options; its
model name resolves to a stack as an embed task's does (``marengo3.0`` is the default stack's
alias). Names are unique per owner, enforced by the store so that servers sharing a database
agree.

A video enters an index by an index task, which is an embed task (api ``index``) with the index's
stack and options, both scopes, and the index's id and the video's user metadata on its record:
the same media rules, leases, executors, Ray and crash recovery as every task. The video's id is
its task's id. Deleting a video deletes its task (vectors and transcript texts with it) and its
media; deleting an index deletes all of its videos first.
"""

from __future__ import annotations

import builtins  # builtins.list: in IndexCore, list names the method
import math
import posixpath
import secrets
import time
from dataclasses import dataclass
from urllib.parse import urlparse

from vidembed import errors, intake
from vidembed.models.catalog import StackCatalog
from vidembed.records import FileInput, IndexListing, IndexRecord, JsonObject, TaskRecord
from vidembed.segmentation import ClipParams
from vidembed.service.assets import AssetCore
from vidembed.service.tasks import TaskCore
from vidembed.stores.base import WAITING_FOR_ASSET, IndexStore, page_offset

# What an index's model_options embed: "audio" covers sound and speech (Marengo 3.0's rule), so
# it is what makes the audio and transcription search options possible.
EMBEDDED_FOR = {"visual": ("visual",), "audio": ("audio", "transcription")}
# The system metadata a filter can name (docs/SEARCH-API.md, "Filters"); every other key is user
# metadata.
SYSTEM_FIELDS = ("id", "filename", "duration", "width", "height", "fps", "size")


@dataclass(frozen=True)
class IndexRequest:
    """A new index as the request rules accepted it."""

    name: str
    model_name: str
    options: tuple[str, ...]
    addons: tuple[str, ...] = ()


@dataclass(frozen=True)
class Condition:
    """One key of a filter: the video's value must equal one of ``equals``, or lie within
    ``[gte, lte]`` (numbers). ``key`` is a system field (SYSTEM_FIELDS) or a user-metadata key."""

    key: str
    equals: tuple[str | float | bool, ...] = ()
    gte: float | None = None
    lte: float | None = None


VideoFilter = tuple[Condition, ...]  # every condition must hold (AND)


@dataclass(frozen=True)
class VideoInput:
    """A new index task's video: an upload or a URL, and its user metadata."""

    upload: FileInput | None = None
    url: str | None = None
    user_metadata: JsonObject | None = None


def new_index_id() -> str:
    return secrets.token_hex(12)  # 24 hex characters, as task and asset ids


def embedded_options(index: IndexRecord) -> list[str]:
    """The task options an index's videos are embedded for, in the stack's order."""
    chosen = {o for option in index.options for o in EMBEDDED_FOR.get(option, ())}
    return [o for o in ("visual", "audio", "transcription") if o in chosen]


def filename_of(task: TaskRecord) -> str:
    """A video's file name: the upload's, or the last part of its URL's path."""
    if task.input_filename:
        return task.input_filename
    if task.input_url:
        return posixpath.basename(urlparse(task.input_url).path) or task.input_url
    return ""


def system_value(task: TaskRecord, key: str) -> str | float | None:
    """A video's system metadata field (None: unknown)."""
    if key == "id":
        return task.id
    if key == "filename":
        return filename_of(task)
    if key == "duration":
        return task.duration
    return (task.media or {}).get(key)


def _equal(have: object, want: str | float | bool) -> bool:
    if isinstance(want, bool) or isinstance(have, bool):
        return have is want
    if isinstance(want, int | float) and isinstance(have, int | float):
        return math.isclose(float(have), float(want), rel_tol=0, abs_tol=1e-9)
    return have == want


def holds(have: object, condition: Condition) -> bool:
    """Whether a video's value of the condition's key (None: it has none) passes it."""
    if have is None:
        return False
    if isinstance(have, list):  # a list of strings matches when one of them does
        return any(holds(item, condition) for item in have)
    if condition.equals and not any(_equal(have, want) for want in condition.equals):
        return False
    if condition.gte is not None or condition.lte is not None:
        if isinstance(have, bool) or not isinstance(have, int | float):
            return False
        if condition.gte is not None and have < condition.gte:
            return False
        if condition.lte is not None and have > condition.lte:
            return False
    return True


def matches(task: TaskRecord, conditions: VideoFilter) -> bool:
    """Whether a video passes every condition: the one rule of the videos list's filters and of
    search's ``filter``. A key the video lacks matches nothing."""
    return all(holds(value_of(task, condition.key), condition) for condition in conditions)


def value_of(task: TaskRecord, key: str) -> object:
    """A video's value of a filter's key: a system field, else its user metadata's (None: none)."""
    if key in SYSTEM_FIELDS:
        return system_value(task, key)
    return (task.user_metadata or {}).get(key)


class IndexCore:
    def __init__(
        self, store: IndexStore, catalog: StackCatalog, tasks: TaskCore, assets: AssetCore | None = None
    ) -> None:
        self.store = store
        self.catalog = catalog
        self.tasks = tasks
        self.assets = assets  # indexed assets take their videos from here

    def close(self) -> None:
        self.store.close()

    def create(self, owner: str, request: IndexRequest) -> IndexRecord:
        now = time.time()
        index = IndexRecord(
            id=new_index_id(),
            owner=owner,
            name=request.name,
            model_name=request.model_name,
            stack=self.catalog.resolve(request.model_name),
            options=list(request.options),
            addons=list(request.addons),
            created_at=now,
            updated_at=now,
        )
        if not self.store.insert(index):
            raise errors.index_name_taken(request.name)
        return index

    def get(self, index_id: str, owner: str | None) -> IndexRecord:
        index = self.store.get(index_id, owner)
        if index is None:
            raise errors.index_not_found(index_id)
        return index

    def list(
        self, owner: str | None, listing: IndexListing, page: int, limit: int
    ) -> tuple[builtins.list[IndexRecord], int]:
        return self.store.list(owner, listing, page_offset(page, limit), limit)

    def rename(self, index_id: str, owner: str | None, name: str) -> None:
        outcome = self.store.rename(index_id, owner, name, time.time())
        if outcome == "missing":
            raise errors.index_not_found(index_id)
        if outcome == "taken":
            raise errors.index_name_taken(name)

    def delete(self, index_id: str, owner: str | None) -> None:
        """An index and everything in it: its videos' tasks, vectors, texts and media first, so
        that nothing is left behind if this stops half way (the index is still there to delete)."""
        self.get(index_id, owner)
        for task in self.tasks.store.index_tasks(index_id):
            self._delete_task(task)
        if not self.store.delete(index_id, owner):
            raise errors.index_not_found(index_id)

    def totals(self, index_id: str) -> tuple[int, float]:
        """An index's ready videos: how many, and their total duration in seconds."""
        return self.tasks.store.index_totals(index_id)

    # --- index tasks: a video into an index ------------------------------------------------

    def _new_task(self, owner: str, index: IndexRecord, metadata: JsonObject | None) -> TaskRecord:
        """An index task of ``index`` (not yet stored; the caller sets its input, then submits):
        the index's stack and options, both scopes, thumbnails with the add-on. 429 past the
        owner's limit of active tasks."""
        self.tasks.admit(owner)
        params = ClipParams(scopes=("clip", "video"), thumbnails="thumbnail" in index.addons)
        task = self.tasks.new_task(owner, index.model_name, params, embedded_options(index), api="index")
        task.stack, task.index_id, task.user_metadata = index.stack, index.id, metadata
        return task

    def add_video(self, owner: str, index: IndexRecord, video: VideoInput) -> TaskRecord:
        """An index task for a video (an upload or a URL): stored and woken, as an embed task."""
        task = self._new_task(owner, index, video.user_metadata)
        if video.url is not None:
            self.tasks.check_url(video.url)
            task.input_url = video.url
        else:
            assert video.upload is not None  # the rules took a file or a URL
            image_format = intake.still_image_upload(video.upload)
            if image_format is not None:
                raise errors.still_image_as_video("video_file", image_format)
            self.tasks.save_upload(task, video.upload, "video_file")
        self.tasks.submit(task)
        return task

    def add_asset(
        self, owner: str, index: IndexRecord, asset_id: str, metadata: JsonObject | None
    ) -> TaskRecord:
        """An index task for an asset (an indexed asset), accepted at once: an asset still
        processing leaves the task waiting for it (``WAITING_FOR_ASSET``: the asset workers start
        it once the asset is ready, or fail it with the asset's reason, as for Embed v2 tasks);
        a ready one is copied under the task's key now. 404 for an unknown asset, 400 for a
        failed one or one that is not a video."""
        if self.assets is None:
            raise errors.invalid("asset_id", "This service was started without assets.")
        asset = self.assets.get(asset_id, owner)
        if asset.status == "failed":
            raise errors.invalid("asset_id", f"The asset {asset_id} failed to process: {asset.error}")
        if asset.asset_type not in (None, "video"):
            raise errors.invalid(
                "asset_id", f"The asset {asset_id} is a {asset.asset_type}; an index takes videos."
            )
        task = self._new_task(owner, index, metadata)
        task.asset_id, task.input_filename = asset_id, asset.filename
        if asset.status == "processing":
            task.stage = WAITING_FOR_ASSET
        else:
            linked = self.assets.copy_to(asset_id, owner, f"{task.id}/asset")
            task.source_path = linked.location
        self.tasks.submit(task)
        return task

    def index_task(self, task_id: str, owner: str | None) -> TaskRecord:
        task = self.tasks.store.get(task_id, owner)
        if task is None or task.api != "index":
            raise errors.task_not_found(task_id, "tasks")
        return task

    def index_tasks(self, owner: str | None, index_id: str | None) -> builtins.list[TaskRecord]:
        """Index tasks, newest first: of one index, or of every index of ``owner``."""
        if index_id is not None:
            self.get(index_id, owner)
            return self.tasks.store.index_tasks(index_id)
        indexes, _ = self.store.list(owner, IndexListing(), 0, 2**31)
        found = [t for index in indexes for t in self.tasks.store.index_tasks(index.id)]
        return sorted(found, key=lambda t: (t.created_at, t.id), reverse=True)

    def delete_task(self, task_id: str, owner: str | None) -> None:
        """An index task and its video; a task still processing cannot be deleted (TwelveLabs'
        ``task_cannot_be_deleted``): its worker holds it."""
        task = self.index_task(task_id, owner)
        if task.status == "processing":
            raise errors.BadRequestError(
                f"The task {task_id} is still processing and cannot be deleted now; delete it once "
                "it is ready or failed.",
                "task_cannot_be_deleted",
            )
        self._delete_task(task)

    def _delete_task(self, task: TaskRecord) -> None:
        self.tasks.store.delete(task.id)
        self.tasks.media_store.delete_prefix(task.id)

    # --- videos: the ready index tasks -------------------------------------------------------

    def videos(self, index: IndexRecord) -> builtins.list[TaskRecord]:
        """An index's ready videos, newest first (filters are the caller's: ``matches``)."""
        return [t for t in self.tasks.store.index_tasks(index.id) if t.status == "ready"]

    def indexed(self, index: IndexRecord, task_id: str) -> TaskRecord:
        """An index task of this index in any state (an indexed asset); 404 otherwise."""
        task = self.tasks.store.get(task_id, index.owner)
        if task is None or task.index_id != index.id:
            raise errors.NotFoundError(
                f"Resource with id {task_id} does not exist in the indexed assets of {index.id}."
            )
        return task

    def video(self, index: IndexRecord, video_id: str) -> TaskRecord:
        task = self.tasks.store.get(video_id, index.owner)
        if task is None or task.index_id != index.id or task.status != "ready":
            raise errors.video_not_found(video_id, index.id)
        return task

    def set_user_metadata(
        self, index: IndexRecord, video_id: str, metadata: JsonObject, ready_only: bool = True
    ) -> None:
        """Merges ``metadata`` into the video's user metadata (a key set to null is removed); an
        indexed asset's may be set in any state (``ready_only=False``)."""
        task = self.video(index, video_id) if ready_only else self.indexed(index, video_id)
        merged = dict(task.user_metadata or {})
        for key, value in metadata.items():
            if value is None:
                merged.pop(key, None)
            else:
                merged[key] = value
        if not self.tasks.store.set_user_metadata(task.id, merged or None):
            raise errors.video_not_found(video_id, index.id)

    def delete_video(self, index: IndexRecord, video_id: str, ready_only: bool = True) -> None:
        """The video leaves the index and search at once (its task, vectors, texts, media); an
        indexed asset may be deleted in any state but processing in a worker's hands."""
        task = self.video(index, video_id) if ready_only else self.indexed(index, video_id)
        if task.status == "processing" and task.stage != WAITING_FOR_ASSET:
            raise errors.BadRequestError(
                f"The indexed asset {video_id} is being indexed and cannot be deleted now; delete it "
                "once it is ready or failed.",
                "task_cannot_be_deleted",
            )
        self._delete_task(task)
