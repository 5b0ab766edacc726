"""TwelveLabs' indexes API over the core (``client.indexes`` and ``client.indexes.videos``;
docs/SEARCH-API.md): raw parameters checked by ``rules.py``, the work done by ``IndexCore``, JSON by
``wire.py``."""

from __future__ import annotations

import builtins  # builtins.list: in IndexService, list names the method
from collections.abc import Mapping, Sequence
from typing import Any

from vidembed.api.indexes.rules import (
    parse_index_create,
    parse_index_list,
    parse_index_update,
    parse_indexed_asset_create,
    parse_indexed_asset_list,
    parse_video_list,
    parse_video_retrieve,
    parse_video_update,
)
from vidembed.api.indexes.wire import (
    index_body,
    index_list,
    indexed_asset_detailed,
    indexed_asset_list,
    video_list,
    video_retrieve,
)
from vidembed.api.rules import page_of
from vidembed.api.wire import index_status
from vidembed.records import IndexRecord, StoredSegment, TaskRecord
from vidembed.service.indexes import IndexCore
from vidembed.stores.lexical import ClipText


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
        videos = [v for v in self.core.videos(index) if listing.admits(v)]
        chosen = page_of(videos, listing.sort_by, listing.descending, page, limit)
        return video_list(chosen, page, limit, len(videos))

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
        video = self.core.video(index, video_id)
        segments, texts = self._details(video, embedding_option, transcription)
        return video_retrieve(video, index.model_name, segments, texts)

    def _details(
        self, video: TaskRecord, embedding_option: object, transcription: object
    ) -> tuple[builtins.list[StoredSegment] | None, builtins.list[ClipText] | None]:
        """A video's embeddings of the options asked for, and its clips' words, when asked for
        (nothing until it is ready)."""
        options, with_text = parse_video_retrieve(embedding_option, transcription)
        wanted = [o for o in options if o in video.options]
        segments = (self.core.tasks.segments(video, wanted) if wanted else []) if options else None
        texts = self.core.tasks.store.clip_texts([video.id]).get(video.id, []) if with_text else None
        return segments, texts

    def update_video(self, index_id: str, video_id: str, body: object, owner: str | None = None) -> None:
        """``PUT``/``PATCH``: merges the user metadata (null removes a key)."""
        index = self.core.get(index_id, owner)
        self.core.set_user_metadata(index, video_id, parse_video_update(body))

    def delete_video(self, index_id: str, video_id: str, owner: str | None = None) -> None:
        self.core.delete_video(self.core.get(index_id, owner), video_id)

    # --- indexed assets: index tasks made from assets, in any state -----------------------

    def create_indexed_asset(self, index_id: str, body: object, owner: str = "") -> dict[str, Any]:
        """``indexes.indexed_assets.create``: accepted at once, even while the asset is still
        processing; ``{"_id", "asset_id"}`` (the id is also the video's id once ready)."""
        index = self.core.get(index_id, owner)
        asset_id, metadata = parse_indexed_asset_create(body)
        task = self.core.add_asset(owner, index, asset_id, metadata)
        return {"_id": task.id, "asset_id": asset_id}

    def list_indexed_assets(
        self, index_id: str, query: Mapping[str, str], statuses: Sequence[str] = (), owner: str | None = None
    ) -> dict[str, Any]:
        index = self.core.get(index_id, owner)
        listing, wanted, page, limit = parse_indexed_asset_list(query, statuses)
        found = [
            t
            for t in self.core.tasks.store.index_tasks(index.id)
            if (not wanted or index_status(t) in wanted) and listing.admits(t)
        ]
        chosen = page_of(found, listing.sort_by, listing.descending, page, limit)
        return indexed_asset_list(chosen, page, limit, len(found))

    def retrieve_indexed_asset(
        self,
        index_id: str,
        indexed_asset_id: str,
        owner: str | None = None,
        embedding_option: object = None,
        transcription: object = None,
    ) -> dict[str, Any]:
        index: IndexRecord = self.core.get(index_id, owner)
        task = self.core.indexed(index, indexed_asset_id)
        segments, texts = self._details(task, embedding_option, transcription)
        return indexed_asset_detailed(task, index.model_name, segments, texts)

    def update_indexed_asset(
        self, index_id: str, indexed_asset_id: str, body: object, owner: str | None = None
    ) -> None:
        index = self.core.get(index_id, owner)
        self.core.set_user_metadata(index, indexed_asset_id, parse_video_update(body), ready_only=False)

    def delete_indexed_asset(self, index_id: str, indexed_asset_id: str, owner: str | None = None) -> None:
        self.core.delete_video(self.core.get(index_id, owner), indexed_asset_id, ready_only=False)
