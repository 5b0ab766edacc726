"""The JSON shapes of index tasks (``/tasks``), as the SDK's ``TasksRetrieveResponse`` and
``VideoIndexingTask`` read them."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from vidembed.api.wire import index_status, page_info, rfc3339, system_metadata
from vidembed.records import TaskRecord


def task_body(task: TaskRecord) -> dict[str, Any]:
    """An index task. ``error`` (why it failed) and ``progress`` are our additions."""
    body: dict[str, Any] = {
        "_id": task.id,
        "video_id": task.id,
        "index_id": task.index_id,
        "status": index_status(task),
        "created_at": rfc3339(task.created_at),
        "updated_at": rfc3339(task.updated_at),
        "system_metadata": system_metadata(task),
        "progress": {"fraction": round(task.progress, 3), "stage": task.stage},
    }
    if task.status == "failed" and task.error:
        body["error"] = {"message": task.error}
    return body


def task_list(tasks: Sequence[TaskRecord], page: int, limit: int, total: int) -> dict[str, Any]:
    return {"data": [task_body(t) for t in tasks], "page_info": page_info(page, limit, total)}
