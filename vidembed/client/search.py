"""``client.search``: the SDK's search of an index (``query``: a pager over every result item,
following ``page_info.next_page_token``; ``retrieve``: one page by its token), embedded or over
HTTP, with the SDK's names (``SearchResults``, ``SearchItem``)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import TYPE_CHECKING, Any

from pydantic import BaseModel, ConfigDict

from vidembed.client.transports.base import SearchTransport

if TYPE_CHECKING:  # an annotation only: vidembed.records brings numpy, which the client never needs
    from vidembed.records import FileInput

UserMetadataValue = str | int | float | bool | None


class _Model(BaseModel):
    model_config = ConfigDict(extra="allow", populate_by_name=True)


class SearchItemClipsItem(_Model):
    """A clip: ``start``/``end`` in seconds, ``rank`` from 1 over the whole search. ``score``
    (higher is better) and ``matched_options`` are our additions."""

    video_id: str | None = None
    start: float | None = None
    end: float | None = None
    rank: int | None = None
    thumbnail_url: str | None = None
    transcription: str | None = None
    user_metadata: dict[str, UserMetadataValue] | None = None
    score: float | None = None
    matched_options: list[str] | None = None


class SearchItem(SearchItemClipsItem):
    """A result: a clip (``group_by="clip"``), or a video (``group_by="video"``: ``id`` and its
    ``clips`` by rank, no clip fields of its own)."""

    id: str | None = None
    clips: list[SearchItemClipsItem] | None = None


class SearchResultsPageInfo(_Model):
    limit_per_page: int | None = None
    total_results: int | None = None
    page_expires_at: str | None = None
    next_page_token: str | None = None
    prev_page_token: str | None = None
    total_inner_matches: int | None = None


class SearchPool(_Model):
    """What was searched: how many videos, how long in all (seconds), and the index."""

    total_count: int | None = None
    total_duration: float | None = None
    index_id: str | None = None


class SearchResults(_Model):
    data: list[SearchItem] | None = None
    page_info: SearchResultsPageInfo | None = None
    search_pool: SearchPool | None = None


class SearchPager:
    """Every result item of a search, page after page: iteration yields the first page's items,
    then follows ``next_page_token`` (``GET /search/{token}``) until a page has none.
    ``page_info`` and ``search_pool`` are the first page's; ``data`` its items."""

    def __init__(self, transport: SearchTransport, first: SearchResults) -> None:
        self._transport = transport
        self.first = first
        self.data: list[SearchItem] = first.data or []
        self.page_info = first.page_info
        self.search_pool = first.search_pool

    def __iter__(self) -> Iterator[SearchItem]:
        return self.iter_items()

    def iter_pages(self) -> Iterator[SearchResults]:
        page = self.first
        seen: set[str] = set()
        while True:
            yield page
            token = page.page_info.next_page_token if page.page_info else None
            if not token or not page.data or token in seen:  # a token seen twice would loop forever
                return
            seen.add(token)
            page = SearchResults.model_validate(self._transport.search_page(token, None))

    def iter_items(self) -> Iterator[SearchItem]:
        for page in self.iter_pages():
            yield from page.data or []


class SearchClient:
    def __init__(self, transport: SearchTransport) -> None:
        self._transport = transport

    def query(
        self,
        *,
        index_id: str,
        search_options: Sequence[str],
        query_text: str | None = None,
        query_media_type: str | None = None,
        query_media_url: str | None = None,
        query_media_file: FileInput | None = None,
        query_media_urls: Sequence[str] | None = None,
        query_media_files: Sequence[FileInput] | None = None,
        transcription_options: Sequence[str] | None = None,
        group_by: str | None = None,
        operator: str | None = None,
        page_limit: int | None = None,
        filter: str | None = None,  # noqa: A002 - the SDK's name
        include_user_metadata: bool | None = None,
        sort_option: str | None = None,
        threshold: str | None = None,
        adjust_confidence_level: float | None = None,
    ) -> SearchPager:
        """Searches the index by text (``query_text``), images (``query_media_type="image"`` with
        files or URLs; a URL wins over a file) or both, in ``search_options`` (some of visual,
        audio, transcription). ``filter``: a JSON object as text (docs/SEARCH-API.md §6).
        ``sort_option``, ``threshold`` and ``adjust_confidence_level`` are older clients' fields,
        accepted and ignored."""
        urls = [*([query_media_url] if query_media_url else []), *(query_media_urls or [])]
        files = [*([query_media_file] if query_media_file is not None else []), *(query_media_files or [])]
        fields: dict[str, Any] = {
            "index_id": index_id,
            "search_options": list(search_options),
            "query_text": query_text,
            "query_media_type": query_media_type,
            "query_media_url": urls or None,
            "transcription_options": list(transcription_options) if transcription_options else None,
            "group_by": group_by,
            "operator": operator,
            "page_limit": page_limit,
            "filter": filter,
            "include_user_metadata": None
            if include_user_metadata is None
            else str(include_user_metadata).lower(),
            "sort_option": sort_option,
            "threshold": threshold,
            "adjust_confidence_level": adjust_confidence_level,
        }
        first = SearchResults.model_validate(self._transport.search(fields, files))
        return SearchPager(self._transport, first)

    def retrieve(self, page_token: str, *, include_user_metadata: bool | None = None) -> SearchResults:
        """The page a token names (``page_info.next_page_token`` or ``prev_page_token``), while
        its search is kept (``page_info.page_expires_at``)."""
        return SearchResults.model_validate(self._transport.search_page(page_token, include_user_metadata))
