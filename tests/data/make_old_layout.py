"""Writes tests/data/old-layout.tar.gz: a data folder written by vidembed before the house move
(the layout with one ``vidembed/service`` folder), for tests/compat/test_old_data_folder.py.

It imports the OLD module paths, so it runs only in a checkout of commit 9a5a19f (the last one
of that layout), from that checkout's root:

    git worktree add /tmp/old 9a5a19f && cd /tmp/old && bash scripts/setup.sh
    .venv/bin/python /path/to/main/tests/data/make_old_layout.py /path/to/main/tests/data

The folder holds, embedded by the fake stack: a v1.3 task (clip and video scopes), an Embed v2
task made from an asset, that asset, and the exact index a search flushed. ``expected.json`` beside
the data folder records what the old code answered, for the new code to answer the same.
"""

from __future__ import annotations

import json
import shutil
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import numpy as np

from vidembed.devtools.synth import SegmentSpec, make_video, tone
from vidembed.models.fake import FAKE_STACK
from vidembed.service.assets import AssetService  # the old layout's modules
from vidembed.service.config import Settings
from vidembed.service.embed_v2 import EmbedV2Service
from vidembed.service.tasks import TaskService


def wait(read, status="ready", timeout=120.0):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout
    while True:
        body = read()
        if body["status"] == status:
            return body
        assert body["status"] == "processing" and time.monotonic() < deadline, body
        time.sleep(0.1)


def main(out: Path) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        video = make_video(
            Path(tmp) / "clip.mp4",
            [
                SegmentSpec(2, image=np.full((64, 64, 3), (200, 30, 30), np.uint8), audio=tone(440, 1.5)),
                SegmentSpec(2, image=np.full((64, 64, 3), (30, 200, 30), np.uint8)),
            ],
            width=64,
            height=64,
            fps=5,
        )
        settings = Settings(
            data_dir=data, poll_seconds=0.1, heartbeat_seconds=0.5, extra_stacks=(FAKE_STACK,)
        )
        tasks = TaskService(settings)
        assets = AssetService(settings)
        v2 = EmbedV2Service(tasks, assets)
        v1_id = tasks.create(
            model_name=FAKE_STACK.name,
            video_file=str(video),
            video_clip_length=2,
            video_embedding_scope=["clip", "video"],
        )["_id"]
        v1 = wait(lambda: tasks.retrieve(v1_id))
        asset_id = str(assets.create(method="direct", file=str(video))["_id"])
        asset = wait(lambda: assets.retrieve(asset_id))
        body = {
            "input_type": "video",
            "model_name": FAKE_STACK.name,
            "video": {
                "media_source": {"asset_id": asset_id},
                "segmentation": {"strategy": "fixed", "fixed": {"duration_sec": 2}},
                "embedding_scope": ["clip", "asset"],
            },
        }
        v2_id = v2.create_task(body)["_id"]
        v2_body = wait(lambda: v2.retrieve(v2_id))
        search = tasks.search_clips(query_text="a red picture", model_name=FAKE_STACK.name, page_limit=4)
        listed = tasks.list()
        assets.close()
        tasks.close()  # flushes the clip index
        expected = {
            "v1_id": v1_id,
            "v1_retrieve": v1,
            "v1_list": listed,
            "asset_id": asset_id,
            "asset": asset,
            "v2_id": v2_id,
            "v2_retrieve": v2_body,
            "search": search,
        }
        shutil.rmtree(data / "scratch", ignore_errors=True)
        (out / "old-layout-expected.json").write_text(json.dumps(expected, indent=1, sort_keys=True) + "\n")
        with tarfile.open(out / "old-layout.tar.gz", "w:gz") as tar:
            tar.add(data, arcname="data")


if __name__ == "__main__":
    main(Path(sys.argv[1]))
