"""The JSON shapes of search (``SearchResults``, as the SDK reads them): a page of clip items or
of video items with their clips, the page information with the next page's token, the pool."""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any

from vidembed.api.wire import rfc3339
from vidembed.records import JsonObject
from vidembed.service.index_search import ClipMatch, SearchResults

ClipTexts = Mapping[tuple[str, float, float], str]
ThumbnailUrl = Callable[[ClipMatch], str | None]  # a clip's thumbnail link (None: none)


def page_token(search_id: str, page: int) -> str:
    """URL-safe as it is (the SDK puts it in the path unencoded): the id is base64url, a dot, digits."""
    return f"{search_id}.{page}"


def clip_item(
    clip: ClipMatch,
    rank: int,
    texts: ClipTexts,
    metadata: Mapping[str, JsonObject] | None,
    thumbnail_url: ThumbnailUrl | None = None,
) -> dict[str, Any]:
    """A clip: ``score`` (our fused score, higher is better) and ``matched_options`` are extra keys."""
    item: dict[str, Any] = {
        "video_id": clip.video_id,
        "start": clip.start,
        "end": clip.end,
        "rank": rank,
        "score": clip.score,
        "matched_options": list(clip.options),
    }
    link = thumbnail_url(clip) if thumbnail_url is not None else None
    if link:
        item["thumbnail_url"] = link
    words = texts.get((clip.video_id, clip.start, clip.end))
    if words:
        item["transcription"] = words
    if metadata is not None:
        item["user_metadata"] = metadata.get(clip.video_id, {})
    return item


def page_body(
    results: SearchResults,
    page: int,
    texts: ClipTexts,
    metadata: Mapping[str, JsonObject] | None,
    thumbnail_url: ThumbnailUrl | None = None,
) -> dict[str, Any]:
    """Page ``page`` (from 1) of a search: ranks count clips from 1 over the whole search;
    ``page_limit`` counts items (clips, or videos with ``group_by=video``)."""
    limit = results.page_limit
    rank = {(c.video_id, c.start, c.end): i + 1 for i, c in enumerate(results.clips)}
    start = min((page - 1) * limit, results.item_count())
    data: list[dict[str, Any]]
    if results.group_by == "video":
        groups = results.groups()[start : start + limit]
        data = [
            {
                "id": video_id,
                "clips": [
                    clip_item(c, rank[(c.video_id, c.start, c.end)], texts, metadata, thumbnail_url)
                    for c in clips
                ],
                **({"user_metadata": metadata.get(video_id, {})} if metadata is not None else {}),
            }
            for video_id, clips in groups
        ]
    else:
        data = [
            clip_item(c, rank[(c.video_id, c.start, c.end)], texts, metadata, thumbnail_url)
            for c in results.clips[start : start + limit]
        ]
    info: dict[str, Any] = {
        "limit_per_page": limit,
        "total_results": results.item_count(),
        "page_expires_at": rfc3339(results.expires_at),
    }
    if results.group_by == "video":
        info["total_inner_matches"] = len(results.clips)
    if start + limit < results.item_count():
        info["next_page_token"] = page_token(results.search_id, page + 1)
    if page > 1:
        info["prev_page_token"] = page_token(results.search_id, page - 1)
    pool = {
        "total_count": results.pool_count,
        "total_duration": results.pool_duration,
        "index_id": results.index_id,
    }
    return {"data": data, "page_info": info, "search_pool": pool}


def page_videos(results: SearchResults, page: int) -> Sequence[str]:
    """The videos a page shows (to read their texts and metadata only)."""
    limit = results.page_limit
    start = (page - 1) * limit
    if results.group_by == "video":
        return [video_id for video_id, _ in results.groups()[start : start + limit]]
    return sorted({c.video_id for c in results.clips[start : start + limit]})
