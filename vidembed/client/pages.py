"""The pager of every list (tasks of both APIs, assets): pages from ``page`` on, until a page comes
back empty or the last page is reached (the SDK stops only on an empty page; we also trust
``page_info.total_page`` and save a request)."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import TypeVar

Item = TypeVar("Item")


def pages(fetch: Callable[[int], tuple[list[Item], int]], page: int | None) -> Iterator[Item]:
    """``fetch(n)`` gives page ``n``'s items and the number of pages."""
    current = page or 1
    while True:
        items, total_pages = fetch(current)
        if not items:
            return
        yield from items
        if current >= total_pages:
            return
        current += 1
