"""A data folder written by the layout before the house move (tests/data/make_old_layout.py, run at
commit 9a5a19f) opens and serves as before: its SQLite tasks of both APIs, its asset and its
flushed clip index answer what the old code answered (tests/data/old-layout-expected.json)."""

from __future__ import annotations

import json
import tarfile
from pathlib import Path
from typing import Any

from conftest import FAKE, fake_settings

from vidembed.api.compose import compose

DATA = Path(__file__).resolve().parents[1] / "data"


def _expected() -> dict[str, Any]:
    return json.loads((DATA / "old-layout-expected.json").read_text())


def _unpacked(tmp_path: Path) -> Path:
    with tarfile.open(DATA / "old-layout.tar.gz") as tar:
        tar.extractall(tmp_path, filter="data")
    return tmp_path / "data"


def test_an_old_data_folder_serves_as_before(tmp_path: Path) -> None:
    expected = _expected()
    services = compose(fake_settings(_unpacked(tmp_path)), start_workers=False)
    try:
        assert services.assets is not None
        assert services.embed.retrieve(expected["v1_id"]) == expected["v1_retrieve"]
        assert services.embed.list() == expected["v1_list"]
        assert services.embed_v2.retrieve(expected["v2_id"]) == expected["v2_retrieve"]
        assert services.assets.retrieve(expected["asset_id"]) == expected["asset"]
        found = services.embed.search_clips(query_text="a red picture", model_name=FAKE, page_limit=4)
        assert found == expected["search"]
    finally:
        services.close()


def test_the_old_index_is_read_not_rebuilt(tmp_path: Path) -> None:
    """The clip index the old code flushed is the one searched: its generation is kept."""
    data = _unpacked(tmp_path)
    current = (data / "index" / FAKE / "CURRENT").read_text()
    services = compose(fake_settings(data), start_workers=False, with_assets=False)
    try:
        services.embed.search_clips(query_text="a green picture", model_name=FAKE)
    finally:
        services.close()
    assert (data / "index" / FAKE / "CURRENT").read_text() == current
