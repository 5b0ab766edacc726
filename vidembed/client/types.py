"""Response objects with the names and fields of the TwelveLabs SDK (``float_``, ``.id``)."""

from __future__ import annotations

import datetime as dt

from pydantic import BaseModel, ConfigDict, Field


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class VideoEmbeddingMetadata(_Model):
    video_clip_length: float | None = None
    video_embedding_scope: list[str] | None = None
    video_embedding_option: list[str] | None = None
    duration: float | None = None
    input_url: str | None = None
    input_filename: str | None = None


class VideoSegment(_Model):
    start_offset_sec: float | None = None
    end_offset_sec: float | None = None
    embedding_option: str | None = None
    embedding_scope: str | None = None
    float_: list[float] | None = Field(default=None, alias="float")


class TaskProgress(_Model):
    fraction: float = 0.0
    stage: str = ""


class TaskError(_Model):
    message: str = ""


class TasksStatusResponseVideoEmbedding(_Model):
    metadata: VideoEmbeddingMetadata | None = None


class TasksRetrieveResponseVideoEmbedding(_Model):
    metadata: VideoEmbeddingMetadata | None = None
    segments: list[VideoSegment] | None = None


class TasksCreateResponse(_Model):
    id: str | None = Field(default=None, alias="_id")


class TaskStack(_Model):
    """Our addition: the stack that embedded a task and, once ready, each role's encoder identity."""

    name: str
    encoders: dict[str, str] | None = None


class _TaskBase(_Model):
    id: str | None = Field(default=None, alias="_id")
    model_name: str | None = None
    status: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    progress: TaskProgress | None = None
    stack: TaskStack | None = None
    error: TaskError | None = None


class TasksStatusResponse(_TaskBase):
    video_embedding: TasksStatusResponseVideoEmbedding | None = None


class TasksRetrieveResponse(_TaskBase):
    video_embedding: TasksRetrieveResponseVideoEmbedding | None = None


class MediaEmbeddingTask(_TaskBase):
    video_embedding: TasksStatusResponseVideoEmbedding | None = None


class PageInfo(_Model):
    limit_per_page: int
    page: int
    total_page: int
    total_results: int


class TaskListPage(_Model):
    data: list[MediaEmbeddingTask]
    page_info: PageInfo


class BaseSegment(_Model):
    float_: list[float] | None = Field(default=None, alias="float")
    start_offset_sec: float | None = None
    end_offset_sec: float | None = None


class TextEmbeddingResult(_Model):
    segments: list[BaseSegment] | None = None
    error_message: str | None = None


class BaseEmbeddingMetadata(_Model):
    """Where an embedded input came from: ``input_url`` or ``input_filename``."""

    input_url: str | None = None
    input_filename: str | None = None


class ImageEmbeddingResult(_Model):
    segments: list[BaseSegment] | None = None
    metadata: BaseEmbeddingMetadata | None = None
    error_message: str | None = None


class AudioEmbeddingResult(_Model):
    segments: list[BaseSegment] | None = None
    metadata: BaseEmbeddingMetadata | None = None
    error_message: str | None = None


class EmbeddingResponse(_Model):
    """``embed.create``: one result per input sent (text, image, audio), in the stack's space."""

    model_name: str
    text_embedding: TextEmbeddingResult | None = None
    image_embedding: ImageEmbeddingResult | None = None
    audio_embedding: AudioEmbeddingResult | None = None


class ClipHit(_Model):
    task_id: str
    source: str | None = None  # the task's video: the uploaded file's name or the URL
    embedding_option: str
    start_offset_sec: float
    end_offset_sec: float
    score: float


class LeftOutTask(_Model):
    task_id: str
    reason: str


class ClipSearchResponse(_Model):
    """Clips ranked per option; ``fused`` (all searched options on one scale) when there are several.
    ``left_out``: tasks of the stack that were not searched (their encoders changed since). The
    query is ``query_text``, or ``query_image`` (the image's file name; visual option only)."""

    query_text: str | None = None
    query_image: str | None = None
    model_name: str
    data: dict[str, list[ClipHit]]
    left_out: list[LeftOutTask] = []

    @property
    def best(self) -> list[ClipHit]:
        """The fused ranking, or the only option's when one option was searched."""
        return self.data.get("fused") or next(iter(self.data.values()), [])
