"""Search's filter over an index's videos, judged once per distinct value of each key
(service.index_search.VideoPool.matching), picks exactly the videos that ``indexes.matches`` passes
one by one: booleans are not numbers, 1 is 1.0, lists match by any item, a missing key matches
nothing, system fields and user metadata alike."""

from __future__ import annotations

import random

from vidembed.records import TaskRecord
from vidembed.segmentation import ClipParams
from vidembed.service.index_search import VideoPool
from vidembed.service.indexes import Condition, matches

VALUES: list[object] = [1, 1.0, True, False, 0, "1", "a", "b", ["a", "c"], ["b"], {"x": 1}, None, 2.5, 7]


def _video(rng: random.Random, n: int) -> TaskRecord:
    metadata = {key: rng.choice(VALUES) for key in ("k", "m") if rng.random() < 0.8}
    return TaskRecord(
        id=f"{n:024d}",
        owner="",
        model_name="marengo3.0",
        status="ready",
        params=ClipParams(),
        options=["visual"],
        created_at=0.0,
        updated_at=0.0,
        input_filename=rng.choice(["a.mp4", "b.mp4", None]),
        duration=rng.choice([5.0, 12.5, None]),
        user_metadata=metadata or None,
        media={"width": rng.choice([640, 1280])} if rng.random() < 0.9 else None,
    )


CONDITIONS = [
    Condition("k", equals=(1,)),
    Condition("k", equals=(True,)),
    Condition("k", equals=("a",)),
    Condition("k", equals=("a", 2.5)),
    Condition("k", gte=0.5),
    Condition("k", gte=1, lte=3),
    Condition("m", lte=1),
    Condition("duration", gte=10),
    Condition("filename", equals=("a.mp4",)),
    Condition("width", equals=(640,)),
    Condition("missing", equals=(1,)),
]


def test_grouped_filters_pick_what_matches_picks() -> None:
    rng = random.Random(3)
    videos = [_video(rng, n) for n in range(400)]
    pool = VideoPool(1, len(videos), 0.0, videos)
    assert pool.matching(()) is videos
    for _ in range(200):
        conditions = tuple(rng.sample(CONDITIONS, rng.randint(1, 3)))
        expected = [v for v in videos if matches(v, conditions)]
        assert pool.matching(conditions) == expected, conditions
    assert pool.matching((Condition("k", equals=(True,)),)) != pool.matching((Condition("k", equals=(1,)),))
    # a filter asked again gets the same list object (the vector index keeps its task numbers by list)
    again = (Condition("k", gte=0.5), Condition("duration", gte=10))
    assert pool.matching(again) is pool.matching(again)
