"""TwelveLabs' indexes API over the core (``client.indexes`` and ``client.indexes.videos``;
docs/SEARCH-API.md): raw parameters checked by ``rules.py``, the work done by ``IndexCore``, JSON by
``wire.py``."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vidembed.api.indexes.rules import (
    parse_index_create,
    parse_index_list,
    parse_index_update,
    parse_video_list,
    parse_video_retrieve,
    parse_video_update,
)
from vidembed.api.indexes.wire import index_body, index_list, video_list, video_retrieve
from vidembed.service.indexes import IndexCore


class IndexService:
    def __init__(self, core: IndexCore) -> None:
        self.core = core

    def close(self) -> None:
        self.core.close()

    def create(self, body: object, owner: str = "") -> dict[str, Any]:
        request = parse_index_create(body, self.core.catalog.known_names())
        return {"_id": self.core.create(owner, request).id}

    def list(self, query: Mapping[str, str], owner: str | None = None) -> dict[str, Any]:
        listing, page, limit, possible = parse_index_list(query)
        indexes, total = self.core.list(owner, listing, page, limit) if possible else ([], 0)
        return index_list([(i, *self.core.totals(i.id)) for i in indexes], page, limit, total)

    def retrieve(self, index_id: str, owner: str | None = None) -> dict[str, Any]:
        index = self.core.get(index_id, owner)
        return index_body(index, *self.core.totals(index.id))

    def update(self, index_id: str, body: object, owner: str | None = None) -> None:
        self.core.rename(index_id, owner, parse_index_update(body))

    def delete(self, index_id: str, owner: str | None = None) -> None:
        self.core.delete(index_id, owner)

    # --- videos ---------------------------------------------------------------------------

    def list_videos(
        self, index_id: str, query: Mapping[str, str], owner: str | None = None
    ) -> dict[str, Any]:
        """``indexes.videos.list``: one page of the index's videos, filtered and ordered."""
        index = self.core.get(index_id, owner)
        listing, page, limit = parse_video_list(query)
        videos = [
            v
            for v in self.core.videos(index, listing.conditions)
            if (listing.created_from is None or v.created_at >= listing.created_from)
            and (listing.updated_from is None or v.updated_at >= listing.updated_from)
        ]
        key = (lambda v: v.updated_at) if listing.sort_by == "updated_at" else (lambda v: v.created_at)
        videos.sort(key=lambda v: (key(v), v.id), reverse=listing.descending)
        start = min((page - 1) * limit, len(videos))
        return video_list(videos[start : start + limit], page, limit, len(videos))

    def retrieve_video(
        self,
        index_id: str,
        video_id: str,
        owner: str | None = None,
        embedding_option: object = None,
        transcription: object = None,
    ) -> dict[str, Any]:
        """``indexes.videos.retrieve``: the video, with the embeddings of ``embedding_option`` and
        its transcription (``transcription=true``) when asked for."""
        index = self.core.get(index_id, owner)
        options, with_text = parse_video_retrieve(embedding_option, transcription)
        video = self.core.video(index, video_id)
        wanted = [o for o in options if o in video.options]
        segments = (self.core.tasks.segments(video, wanted) if wanted else []) if options else None
        texts = self.core.tasks.store.clip_texts([video.id]).get(video.id, []) if with_text else None
        return video_retrieve(video, index.model_name, segments, texts)

    def update_video(self, index_id: str, video_id: str, body: object, owner: str | None = None) -> None:
        """``PUT``/``PATCH``: merges the user metadata (null removes a key)."""
        index = self.core.get(index_id, owner)
        self.core.set_user_metadata(index, video_id, parse_video_update(body))

    def delete_video(self, index_id: str, video_id: str, owner: str | None = None) -> None:
        self.core.delete_video(self.core.get(index_id, owner), video_id)
