"""TwelveLabs' search over the core (``client.search``; docs/SEARCH-API.md): raw parameters checked
by ``rules.py``, the query's images fetched under the limits of every input, the work done by
``IndexSearch``, JSON by ``wire.py``."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from vidembed.api.rules import parse_flag
from vidembed.api.search.rules import parse_page_token, parse_search
from vidembed.api.search.wire import ThumbnailUrl, page_body, page_videos
from vidembed.records import FileInput, JsonObject
from vidembed.service.index_search import ClipMatch, IndexSearch, SearchResults
from vidembed.stores.base import thumbnail_key


class SearchService:
    def __init__(self, search: IndexSearch) -> None:
        self.search = search

    def warm(self) -> int:
        """Readies the recently updated indexes' first searches (``IndexSearch.warm``)."""
        return self.search.warm()

    def query(
        self,
        *,
        owner: str = "",
        query_media_file: Sequence[FileInput] | FileInput | None = None,
        base_url: str | None = None,
        **fields: Any,
    ) -> dict[str, Any]:
        """``search.query``: the first page of results; ``page_info.next_page_token`` leads on.
        ``base_url``: the server's own address, for absolute thumbnail links (embedded: links
        are ``file://`` URLs of the local media folder)."""
        files = _files(query_media_file)
        request = parse_search(image_files=len(files), **fields)
        index = self.search.indexes.get(request.index_id, owner)
        tasks = self.search.tasks
        if request.image_urls:  # a URL wins over a file (TwelveLabs' rule)
            images = [tasks.query_image("query_media_url", url=url) for url in request.image_urls]
        else:
            images = [tasks.query_image("query_media_file", upload=f) for f in files]
        query = replace(request.query, images=tuple(images))
        return self._page(self.search.search(index, query), 1, base_url)

    def page(
        self,
        page_token: str,
        owner: str | None = None,
        include_user_metadata: object = None,
        base_url: str | None = None,
    ) -> dict[str, Any]:
        """``GET /search/{page_token}``: the page a token names, while its search is kept;
        ``include_user_metadata``, when given, overrides the search's own."""
        search_id, page = parse_page_token(page_token)
        results = self.search.results(search_id, owner, page_token)
        flag = parse_flag("include_user_metadata", include_user_metadata)
        if flag is not None:
            results = replace(results, include_user_metadata=flag)
        return self._page(results, page, base_url)

    def thumbnail(self, video_id: str, name: str, expires: object, signature: object) -> bytes:
        """``GET /thumbnails/{video_id}/{name}``: the JPEG, for a valid link (read from the media
        store, local or S3)."""
        number = str(expires or "")
        location = self.search.thumbnail(
            video_id, name, int(number) if number.isdigit() else 0, str(signature or "")
        )
        with self.search.tasks.scratch_folder() as scratch:
            return self.search.tasks.media_store.local_path(location, scratch).read_bytes()

    def _thumbnail_url(self, results: SearchResults, base_url: str | None) -> ThumbnailUrl | None:
        if not results.thumbnails:
            return None
        media = self.search.tasks.media_store

        def url(clip: ClipMatch) -> str | None:
            path, expires, signature = self.search.thumbnail_link(
                clip.video_id, clip.start, results.expires_at
            )
            if base_url is not None:
                return f"{base_url.rstrip('/')}/thumbnails/{path}?expires={expires}&signature={signature}"
            location = media.location(thumbnail_key(clip.video_id, clip.start))
            local = Path(location)
            return local.as_uri() if local.is_absolute() and local.is_file() else None

        return url

    def _page(self, results: SearchResults, page: int, base_url: str | None = None) -> dict[str, Any]:
        videos = page_videos(results, page)
        found = self.search.tasks.store.clip_texts(list(videos))
        texts = {(video, t.start, t.end): t.text for video, items in found.items() for t in items}
        metadata: dict[str, JsonObject] | None = None
        if results.include_user_metadata:
            records = (self.search.tasks.store.get(v) for v in videos)
            metadata = {r.id: r.user_metadata or {} for r in records if r is not None}
        return page_body(results, page, texts, metadata, self._thumbnail_url(results, base_url))


def _files(value: Sequence[FileInput] | FileInput | None) -> list[FileInput]:
    if value is None:
        return []
    if isinstance(value, list):
        return list(value)
    return [value]  # type: ignore[list-item]
