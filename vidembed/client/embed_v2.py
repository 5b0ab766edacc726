"""``client.embed.v_2``: Embed API v2 with the SDK's surface (``create``; ``tasks.create``,
``retrieve``, ``list``), embedded or over HTTP, returning objects with the SDK's names.

Inputs are dicts in the wire shape (``{"media_source": {"asset_id": ...}}``) or pydantic models,
the SDK's own request types included (dumped by alias, so ``base_64_string`` goes out as
``base64_string``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from vidembed.client.pages import pages
from vidembed.client.polling import wait_until_final
from vidembed.client.transports.base import EmbedV2Transport

Input = Mapping[str, Any] | BaseModel


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class EmbeddingData(_Model):
    embedding: list[float]
    embedding_option: str | None = None
    embedding_scope: str | None = None
    start_sec: float | None = None
    end_sec: float | None = None


class EmbeddingMetadata(_Model):
    """``metadata`` of a result: for audio and video the options, scopes and duration."""

    input_type: str | None = None
    input_url: str | None = None
    input_filename: str | None = None
    clip_length: int | None = None
    embedding_scopes: list[str] | None = None
    embedding_options: list[str] | None = None
    duration: float | None = None
    start_offset_sec: float | None = None
    end_offset_sec: float | None = None


class EmbeddingSuccessResponse(_Model):
    data: list[EmbeddingData]
    metadata: EmbeddingMetadata | None = None


class TaskError(_Model):
    message: str = ""


class TasksCreateResponse(_Model):
    id: str = Field(alias="_id")
    status: str
    data: list[EmbeddingData] | None = None


class EmbeddingTaskResponse(_Model):
    id: str = Field(alias="_id")
    status: str
    model_name: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    data: list[EmbeddingData] | None = None
    metadata: EmbeddingMetadata | None = None
    error: TaskError | None = None


class MediaEmbeddingTask(_Model):
    """A list item: the task and its metadata (``video_embedding`` or ``audio_embedding``)."""

    id: str | None = Field(default=None, alias="_id")
    model_name: str | None = None
    status: str | None = None
    created_at: dt.datetime | None = None
    updated_at: dt.datetime | None = None
    video_embedding: dict[str, Any] | None = None
    audio_embedding: dict[str, Any] | None = None


def _wire(value: Input | None) -> Any:
    if value is None:
        return None
    if isinstance(value, BaseModel):
        return value.model_dump(by_alias=True, exclude_none=True, mode="json")
    return {k: _wire(v) if isinstance(v, BaseModel) else v for k, v in value.items()}


def _body(**fields: Any) -> dict[str, Any]:
    """The request body: omitted arguments are not sent (as the SDK does)."""
    return {
        k: _wire(v) if isinstance(v, (BaseModel, Mapping)) else v for k, v in fields.items() if v is not None
    }


class EmbedV2TasksClient:
    def __init__(self, transport: EmbedV2Transport) -> None:
        self._transport = transport

    def create(
        self,
        *,
        input_type: str,
        model_name: str,
        video: Input | None = None,
        audio: Input | None = None,
        embedding_uncertainty: bool | None = None,
        embedding_dimension: int | None = None,
        request_options: dict[str, Any] | None = None,
    ) -> TasksCreateResponse:
        body = _body(
            input_type=input_type,
            model_name=model_name,
            video=video,
            audio=audio,
            embedding_uncertainty=embedding_uncertainty,
            embedding_dimension=embedding_dimension,
        )
        return TasksCreateResponse.model_validate(self._transport.create_v2_task(body))

    def retrieve(
        self, task_id: str, *, request_options: dict[str, Any] | None = None
    ) -> EmbeddingTaskResponse:
        return EmbeddingTaskResponse.model_validate(self._transport.retrieve_v2_task(task_id))

    def wait_for_done(
        self,
        task_id: str,
        *,
        sleep_interval: float = 5.0,
        callback: Callable[[EmbeddingTaskResponse], None] | None = None,
    ) -> EmbeddingTaskResponse:
        """Retrieves until ``ready`` or ``failed`` (our convenience; the SDK has none for v2)."""
        return wait_until_final(lambda: self.retrieve(task_id), sleep_interval, callback)

    def list(
        self,
        *,
        started_at: str | None = None,
        ended_at: str | None = None,
        status: str | None = None,
        page: int | None = None,
        page_limit: int | None = None,
        request_options: dict[str, Any] | None = None,
    ) -> Iterator[MediaEmbeddingTask]:
        """Every matching task, newest first, page by page (from ``page``, default 1)."""

        def fetch(number: int) -> tuple[list[MediaEmbeddingTask], int]:
            query: dict[str, object] = {"started_at": started_at, "ended_at": ended_at, "status": status}
            query |= {"page": number, "page_limit": page_limit}
            result = self._transport.list_v2_tasks({k: v for k, v in query.items() if v is not None})
            items = [MediaEmbeddingTask.model_validate(item) for item in result.get("data") or []]
            return items, int(result.get("page_info", {}).get("total_page", number))

        return pages(fetch, page)


class EmbedV2Client:
    def __init__(self, transport: EmbedV2Transport) -> None:
        self._transport = transport
        self.tasks = EmbedV2TasksClient(transport)

    def create(
        self,
        *,
        input_type: str,
        model_name: str,
        text: Input | None = None,
        image: Input | None = None,
        text_image: Input | None = None,
        audio: Input | None = None,
        video: Input | None = None,
        auto_truncate: bool | None = None,
        embedding_uncertainty: bool | None = None,
        embedding_dimension: int | None = None,
        request_options: dict[str, Any] | None = None,
    ) -> EmbeddingSuccessResponse:
        """Embeds now: text, an image, text with an image, audio or a video of up to 10 minutes."""
        body = _body(
            input_type=input_type,
            model_name=model_name,
            text=text,
            image=image,
            text_image=text_image,
            audio=audio,
            video=video,
            auto_truncate=auto_truncate,
            embedding_uncertainty=embedding_uncertainty,
            embedding_dimension=embedding_dimension,
        )
        return EmbeddingSuccessResponse.model_validate(self._transport.embed_v2(body))
