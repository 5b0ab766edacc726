"""The webhook outbox's records and the event a task's end writes (both stores share them).

A task that ends (ready, or failed: by its worker, by the give-up in ``claim``, or while waiting
for its asset) gets one event, inserted **in the transaction that ends it**: the store is the one
place that sees every end, whichever process or machine ran the task, and a crash can lose neither
the end without its event nor the event without the end. The store does not know whether anyone
listens: it records an event for every end (the synchronous route's tasks excepted: nobody asked
for them) and prunes events older than ``EVENT_RETENTION_SECONDS`` (7 days) as it writes.

The event keeps the whole JSON body as it is POSTed (``TaskEvent.body``), endpoint-independent
and made once: every attempt, to every URL, by every server, sends the same bytes and the same
event id. That puts a wire shape in the stores' floor (rule 4 keeps JSON in ``api/``): the
alternative, rebuilding the body at delivery time from the task, would send a different body
once the task changed or was deleted, and the deliverer would then read tasks too.

Deliveries are the deliverer's: one per (event, URL), made the first time a deliverer watching
that URL looks (``TaskStore.claim_events``), leased as tasks are, so that exactly one server
sends each attempt when several share a database. A URL receives the events of the tasks that
end after it was first watched (``TaskStore.watch_events``): turning webhooks on does not replay
a week of old events.
"""

from __future__ import annotations

import datetime as dt
import json
import uuid
from dataclasses import dataclass

from vidembed.records import TaskRecord

EVENT_RETENTION_SECONDS = 7 * 24 * 3600.0  # events older than this are deleted as new ones are written
# The APIs whose tasks send events: TwelveLabs' index tasks, and (our extension) embed tasks of
# v1.3 and v2. The synchronous route's tasks ("v2-sync") are answered on their connection.
EVENT_PREFIX = {"index": "index.task", "v1.3": "embed.task", "v2": "embed.task"}
# An index task's options are its index's model options as task options ("audio" embeds the sound
# and the speech: service.indexes.EMBEDDED_FOR); an event names the index's.
_INDEX_OPTION_OF = {"visual": "visual", "audio": "audio", "transcription": "audio"}


@dataclass(frozen=True)
class TaskEvent:
    """One event of the outbox: ``type`` is ``index.task.ready`` ..., ``created_at`` epoch seconds
    (the task's end), ``body`` the JSON POSTed, exactly."""

    id: str
    task_id: str
    type: str
    created_at: float
    body: str


@dataclass(frozen=True)
class Delivery:
    """One claimed attempt to send an event to a URL: ``attempt`` counts from 1 (this one
    included); the lease is the claimer's until it reports the outcome or the lease runs out."""

    event_id: str
    url: str
    attempt: int
    created_at: float  # the event's
    body: str


def _rfc3339(timestamp: float) -> str:
    """Milliseconds, Z: ``2026-12-06T03:45:39.123Z``."""
    return (
        dt.datetime.fromtimestamp(timestamp, dt.UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")
    )


def index_options(task_options: list[str]) -> list[str]:
    """The index's model options an index task was embedded for (visual, audio: in that order)."""
    chosen = {_INDEX_OPTION_OF[o] for o in task_options if o in _INDEX_OPTION_OF}
    return [o for o in ("visual", "audio") if o in chosen]


def task_event(task: TaskRecord) -> TaskEvent | None:
    """The event of a task that just ended (its record as the ending transaction left it: status,
    error, duration, ``updated_at`` the end), or None for a task that sends none. Index tasks have
    TwelveLabs' body (docs/SEARCH-API.md §7); embed tasks ours, in the same envelope. A failed
    task's reason is in ``data.error.message`` (our extension)."""
    prefix = EVENT_PREFIX.get(task.api)
    if prefix is None or task.status not in ("ready", "failed"):
        return None
    data: dict[str, object] = {"id": task.id}
    if task.api == "index":
        data["metadata"] = {"duration": task.duration}
        data["status"] = task.status
        data["models"] = [{"name": task.model_name, "options": index_options(task.options)}]
        data["tags"] = []
    else:
        data["status"] = task.status
        data["model_name"] = task.model_name
    if task.status == "failed":
        data["error"] = {"message": task.error or ""}
    event_id = f"whe_{uuid.uuid4().hex}"
    event_type = f"{prefix}.{task.status}"
    body = {"id": event_id, "created_at": _rfc3339(task.updated_at), "type": event_type, "data": data}
    return TaskEvent(event_id, task.id, event_type, task.updated_at, json.dumps(body))
