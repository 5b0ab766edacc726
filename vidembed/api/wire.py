"""JSON shapes every API shares: RFC 3339 times and page information."""

from __future__ import annotations

import datetime as dt


def rfc3339(timestamp: float) -> str:
    return dt.datetime.fromtimestamp(timestamp, dt.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_rfc3339(value: str) -> float:
    text = value.strip().replace("z", "Z")
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = dt.datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=dt.UTC)
    return parsed.timestamp()


def page_info(page: int, limit: int, total: int) -> dict[str, int]:
    """The pager of every list (tasks of both APIs, assets): four integers (CONTRACT.md §2.4)."""
    return {
        "limit_per_page": limit,
        "page": page,
        "total_page": max(1, -(-total // limit)),
        "total_results": total,
    }
