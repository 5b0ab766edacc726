"""The ground's plain data: the records every floor passes around (tasks, their stored segments,
assets and what probing found) and the shapes of an input file. No behaviour, no I/O: stores
serialise these, the core and the APIs read them, the client never needs them."""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import IO

import numpy as np

from vidembed.segmentation import ClipParams


@dataclass(frozen=True)
class V2Output:
    """What an Embed v2 task answers with beside its clips: the v2 scopes and embedding types
    asked for (it always embeds clips and the whole, and filters on output)."""

    scopes: tuple[str, ...] = ("clip", "asset")
    embedding_types: tuple[str, ...] = ("separate_embedding",)


JsonObject = dict[str, object]
# What a ready task's input is: width, height, fps, size in bytes, the language heard
MediaFacts = dict[str, float | str]


@dataclass
class TaskRecord:
    id: str
    owner: str
    model_name: str
    status: str
    params: ClipParams  # what to embed and how it is cut
    options: list[str]
    created_at: float
    updated_at: float
    source_path: str | None = None
    input_url: str | None = None
    input_filename: str | None = None
    duration: float | None = None
    error: str | None = None
    progress: float = 0.0
    stage: str = "queued"
    attempts: int = 0
    stack: str | None = None  # the stack model_name selected at creation (aliases resolved)
    encoders: dict[str, str] | None = None  # per role, the identity of the encoder that made the vectors
    # which API made the task: "v1.3" (/embed/tasks), "v2" (/embed-v2/tasks) or "v2-sync" (the
    # video or audio of a POST /embed-v2, run as a task and waited for); each lists its own
    api: str = "v1.3"
    input_type: str = "video"  # "video", or "audio" (an audio file: audio and transcription only)
    asset_id: str | None = None  # the asset the media came from (v2 media_source.asset_id)
    v2: V2Output | None = None  # an Embed v2 task's answer options (None: every other task)
    # api "index" (TwelveLabs' index tasks, POST /tasks): the search index the video is in (the
    # video's id is the task's id) and the video's user metadata
    index_id: str | None = None
    user_metadata: JsonObject | None = None
    media: MediaFacts | None = None  # once ready: the input's width, height, fps, size, language


@dataclass(frozen=True)
class StoredSegment:
    task_id: str
    option: str
    scope: str
    start: float
    end: float
    vector: np.ndarray


@dataclass
class AssetRecord:
    id: str
    owner: str
    method: str  # "direct" (an upload) or "url" (an import)
    status: str  # "processing" | "ready" | "failed"
    filename: str
    file_type: str  # MIME: guessed from the name at creation, from the content once probed
    created_at: float
    updated_at: float
    asset_type: str | None = None  # "video" | "audio" | "image", once probed
    source_url: str | None = None  # method=url: where the file comes from
    path: str | None = None  # the stored file; None until a URL import is downloaded
    user_metadata: JsonObject | None = None
    technical_metadata: JsonObject | None = None
    size: int | None = None
    duration: float | None = None
    error: str | None = None
    attempts: int = 0


@dataclass(frozen=True)
class Probed:
    """What processing found out about an asset's file."""

    asset_type: str
    file_type: str
    technical_metadata: JsonObject
    size: int
    duration: float | None


# A file parameter (video_file, image_file, query_image): a path, bytes, a binary file object, or
# (file name, content) as the SDK and the server hand uploads over.
FileInput = str | os.PathLike[str] | bytes | IO[bytes] | tuple[str | None, IO[bytes] | bytes]


# (option, scope, start_sec, end_sec, vector): one result row as the worker hands it to complete()
SegmentRow = tuple[str, str, float, float, np.ndarray]


@dataclass
class IndexRecord:
    """A search index (TwelveLabs' ``client.indexes``): a named collection of videos embedded by one
    stack with some of its options. Names are unique per owner."""

    id: str
    owner: str
    name: str
    model_name: str  # as the user gave it (``marengo3.0``); ``stack`` is what it selected
    stack: str
    options: list[str]  # model_options: "visual" and/or "audio"
    addons: list[str]
    created_at: float
    updated_at: float


@dataclass(frozen=True)
class IndexListing:
    """Which indexes a list shows and in what order: exact name, the options they must all have,
    created or updated at or after (epoch seconds), sorted by created_at or updated_at."""

    name: str | None = None
    options: tuple[str, ...] = ()
    created_from: float | None = None
    updated_from: float | None = None
    sort_by: str = "created_at"
    descending: bool = True
