"""Quality benchmark through TwelveLabs' ``search.query``: the videos of ``benchmarks.quality.run``
indexed and searched by the embedded service layer (the code the server runs), and the match rule's
cut (``vidembed.service.index_search.MATCH_MARGIN``) measured.

    python -m benchmarks.quality.search_api [--videos 10] [--per-video 6] [--crossed-videos 3]
        [--margins visual=0.08,audio=0.08,transcription=0.03]

It builds the sets of ``run.py`` (same stamps, same seeds, the same cached videos): the matched
set's two halves and the crossed set (each segment shows one stamp, plays a second one's sound and
names a third). Each set becomes an index (``marengo3.0`` with visual and audio, so every option is
searchable) through ``compose(Settings(data_dir=<tmp>))``'s ``indexes`` and ``index_tasks``, and
every label is asked through ``search.query`` (all pages); a hit is the query's own clip. It prints:

1. R@1 and R@5 through ``search.query`` with today's ``MATCH_MARGIN`` (a query whose clip is cut is
   a miss) for each single option and for all three with ``or``, beside ``run.py``'s own figures
   for the same videos (its ``Engine`` + ``ClipTable`` evaluation, run again in this process), and
   the largest difference between the search's cosines and ``run.py``'s;
2. the cut per option: with ``MATCH_MARGIN`` at 2.0 (every ranked clip matches) each search returns
   the whole ranking once, and each margin of ``MARGINS`` is applied here to those cosines (the
   single-option ``score``). "kept": the share of queries whose clip survives; "kept | top 5": the
   same among the queries whose clip the option has in its top 5 (what it can find at all);
   "returned": the mean count of clips a query gets. ``transcription`` is measured semantic only,
   and with the lexical match (the default ``transcription_options``) beside it;
3. the margins to check (``--margins``, or per option the smallest margin of ``MARGINS`` whose
   "kept | top 5" is at least ``KEEP_TARGET`` both on the matched set and on the crossed set's
   queries about what the option is for: visual what is seen, audio what is heard, transcription
   what is said); ``or`` predicted under them from the uncut searches (and with each option's
   margin varied in turn); then ``or`` and ``and`` run for real under today's margins and under
   these: R@1, R@5, the share kept, the mean count returned, whether ``or`` came out as predicted
   and whether ``and`` is a subset of ``or`` on every query.

On the 2-core development machine (2026-12-06, other processes sharing it) the default run (10 + 3
videos of 6 segments: indexes of 30, 30 and 18 clips; 114 queries) took 2.5 minutes (140-165 s
over three runs), nearly all of it embedding the videos twice (the index tasks and ``run.py``'s
evaluation side by side, 115-145 s); its ~1,500 searches took 10-20 s. Other sizes build their
videos in a folder of their own (``quality-videos-{videos}x{per-video}`` in the cache).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from benchmarks.quality.fusion import recall
from benchmarks.quality.run import (
    SEGMENT_SEC,
    build_crossed_videos,
    build_videos,
    embed_all,
    find_stamps,
    stamps_root,
)
from vidembed.api.compose import Services, compose
from vidembed.api.search.operations import SearchService
from vidembed.config import Settings
from vidembed.engine import Engine
from vidembed.models.catalog import BUILTIN
from vidembed.models.weights import models_dir
from vidembed.search.rank import FUSION
from vidembed.service import index_search

MODEL = "marengo3.0"
OPTIONS = ("visual", "audio", "transcription")
MARGINS = (0.01, 0.02, 0.03, 0.05, 0.08, 0.10, 0.15, 0.20)
EVERYTHING = 2.0  # cosines lie in [-1, 1]: within 2.0 of the best, every ranked clip matches
KEEP_TARGET = 0.95  # the share of findable queries whose clip a recommended margin keeps
FUSED = f"fused ({FUSION}, default)"  # run.py's label for search's fused ranking
MATCHED = ("development", "held-out")
CROSSED = "crossed"
KINDS = ("seen", "heard", "said")  # a crossed segment's three queries
OWN_KIND = {"visual": "seen", "audio": "heard", "transcription": "said"}  # what an option is for
Clip = tuple[str, int]  # video id, segment number
Ranking = list[tuple[Clip, float]]  # clips best first, with their score
Figures = dict[str, float]

# The uncut searches (every clip), one per name: ``search.query`` fields besides index and text.
UNCUT: dict[str, dict[str, Any]] = {
    "visual": {"search_options": ["visual"]},
    "audio": {"search_options": ["audio"]},
    "transcription": {"search_options": ["transcription"], "transcription_options": ["semantic"]},
    "lexical": {"search_options": ["transcription"], "transcription_options": ["lexical"]},
    "or": {"search_options": list(OPTIONS), "operator": "or"},
}
# The searches as a client asks them (transcription with both of its default modes).
AS_ASKED: dict[str, dict[str, Any]] = {
    "visual": {"search_options": ["visual"]},
    "audio": {"search_options": ["audio"]},
    "transcription": {"search_options": ["transcription"]},
    "or": {"search_options": list(OPTIONS), "operator": "or"},
}


@dataclass
class Query:
    group: str  # development, held-out, crossed: the index searched
    kind: str  # matched, or for the crossed set seen, heard, said
    label: str
    truth: Clip
    uncut: dict[str, Ranking] = field(default_factory=dict)  # per UNCUT name

    def clips(self, name: str) -> list[Clip]:
        return [clip for clip, _ in self.uncut[name]]


@dataclass
class Group:
    """A set searched as one index: its videos, and per video the label of each query of each
    segment by kind."""

    name: str
    videos: list[tuple[Path, list[dict[str, str]]]]
    index_id: str = ""


@contextmanager
def match_margins(values: Mapping[str, float]) -> Iterator[None]:
    """``MATCH_MARGIN`` set to ``values`` for the searches inside, restored after."""
    saved = dict(index_search.MATCH_MARGIN)
    index_search.MATCH_MARGIN.update(values)
    try:
        yield
    finally:
        index_search.MATCH_MARGIN.clear()
        index_search.MATCH_MARGIN.update(saved)


def search_all(search: SearchService, index_id: str, text: str, fields: Mapping[str, Any]) -> Ranking:
    """Every clip a search returns, over all its pages, in rank order."""
    body = search.query(owner="", index_id=index_id, query_text=text, page_limit=50, **fields)
    items = list(body["data"])
    while token := body["page_info"].get("next_page_token"):
        body = search.page(token, owner="")
        items += body["data"]
    assert [item["rank"] for item in items] == list(range(1, len(items) + 1))
    return [((item["video_id"], round(item["start"] / SEGMENT_SEC)), float(item["score"])) for item in items]


def index_videos(services: Services, groups: Sequence[Group]) -> dict[Path, str]:
    """One index per group, its videos submitted as index tasks: the task id of each video."""
    assert services.indexes is not None and services.index_tasks is not None
    task_ids = {}
    models = [{"model_name": MODEL, "model_options": ["visual", "audio"]}]
    for group in groups:
        group.index_id = services.indexes.create({"index_name": group.name, "models": models}, owner="")[
            "_id"
        ]
        for path, _ in group.videos:
            task = services.index_tasks.create(owner="", index_id=group.index_id, video_file=str(path))
            task_ids[path] = task["_id"]
    return task_ids


def wait_ready(services: Services, task_ids: Sequence[str], timeout: float = 3600.0) -> None:
    assert services.index_tasks is not None
    deadline = time.monotonic() + timeout
    waiting = list(task_ids)
    while waiting:
        body = services.index_tasks.retrieve(waiting[0], owner="")
        if body["status"] == "failed":
            raise RuntimeError(f"index task {waiting[0]} failed: {body.get('error')}")
        if body["status"] == "ready":
            waiting.pop(0)
            continue
        if time.monotonic() > deadline:
            raise TimeoutError(f"index task {waiting[0]} is still {body['status']}")
        time.sleep(1.0)


def queries_of(group: Group, task_ids: Mapping[Path, str]) -> list[Query]:
    return [
        Query(group.name, kind, label, (task_ids[path], i))
        for path, segments in group.videos
        for i, labels in enumerate(segments)
        for kind, label in labels.items()
    ]


def reference(
    engine: Engine, group: Group, queries: Sequence[Query], task_ids: Mapping[Path, str]
) -> tuple[dict[tuple[str, str], tuple[float, float]], dict[tuple[str, str, Clip], float]]:
    """``run.py``'s evaluation of a group (``ClipTable`` scores and ``recall``, as ``evaluate`` and
    ``evaluate_crossed`` do): R@1 and R@5 per (ranking, kind of query, "all" for every kind), and
    its cosines per (option, label, clip)."""
    table = embed_all(engine, [path for path, _ in group.videos])
    by_stem = {path.stem: task_ids[path] for path, _ in group.videos}
    clips: list[Clip] = []  # the table's clips in order: each video's segments from 0
    for stem in table.video_of:
        clips.append((by_stem[stem], sum(video == by_stem[stem] for video, _ in clips)))
    scores = table.scores([q.label for q in queries])
    truth = np.array([clips.index(q.truth) for q in queries])
    summary = {}
    for ranking in (*OPTIONS, FUSED):
        for kind in (*dict.fromkeys(q.kind for q in queries), "all"):
            rows = np.array([kind in (q.kind, "all") for q in queries])
            s, t = scores[ranking][rows], truth[rows]
            summary[(ranking, kind)] = (recall(s, t, 1), recall(s, t, 5))
    cosines = {
        (option, q.label, clip): float(scores[option][r, c])
        for option in OPTIONS
        for r, q in enumerate(queries)
        for c, clip in enumerate(clips)
        if np.isfinite(scores[option][r, c])
    }
    return summary, cosines


def within(ranking: Ranking, margin: float) -> list[Clip]:
    """The match rule: the clips within ``margin`` of the best (``index_search._within_margin``)."""
    if not ranking:
        return []
    floor = ranking[0][1] - margin
    return [clip for clip, score in ranking if score >= floor]


def hit_at(clips: Sequence[Clip], truth: Clip, k: int) -> bool:
    return truth in clips[:k]


def predicted_or(query: Query, margins: Mapping[str, float]) -> list[Clip]:
    """``or`` under ``margins`` from the uncut searches: the clips within an option's margin or
    matched by words, in the fused order (clips only the words found after, as the search does)."""
    chosen = set(query.clips("lexical"))
    for option in OPTIONS:
        chosen |= set(within(query.uncut[option], margins[option]))
    order = query.clips("or")
    return [c for c in order if c in chosen] + sorted(chosen - set(order))


def figures(results: Mapping[int, Sequence[Clip]], queries: Sequence[Query]) -> Figures:
    """R@1, R@5, kept and returned of a search's results (per query index) over ``queries``."""
    picked = [(results[i], q) for i, q in enumerate(queries)]
    return {
        "R@1": float(np.mean([hit_at(r, q.truth, 1) for r, q in picked])),
        "R@5": float(np.mean([hit_at(r, q.truth, 5) for r, q in picked])),
        "kept": float(np.mean([q.truth in r for r, q in picked])),
        "returned": float(np.mean([len(r) for r, _ in picked])),
    }


def cut_figures(queries: Sequence[Query], option: str, margin: float) -> tuple[float, float, float, int]:
    """kept, kept among the queries with their clip in the option's top 5, returned, and how
    many such queries (``transcription+lexical``: the semantic cut with the lexical matches)."""
    lexical = option == "transcription+lexical"
    name = "transcription" if lexical else option

    def matched(q: Query) -> set[Clip]:
        found = set(within(q.uncut[name], margin))
        return found | set(q.clips("lexical")) if lexical else found

    findable = [q for q in queries if hit_at(q.clips(name), q.truth, 5)]
    kept = float(np.mean([q.truth in matched(q) for q in queries]))
    kept5 = float(np.mean([q.truth in matched(q) for q in findable])) if findable else float("nan")
    returned = float(np.mean([len(matched(q)) for q in queries]))
    return kept, kept5, returned, len(findable)


def parse_margins(text: str | None) -> dict[str, float] | None:
    if not text:
        return None
    pairs = (part.split("=") for part in text.split(","))
    return {name.strip(): float(value) for name, value in pairs}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=10)
    parser.add_argument("--per-video", type=int, default=6)
    parser.add_argument("--crossed-videos", type=int, default=3)
    parser.add_argument("--cache", type=Path, default=models_dir().parent / "benchmarks")
    parser.add_argument("--margins", default=None, help="margins to check: visual=0.05,audio=0.08,...")
    args = parser.parse_args()
    started = time.perf_counter()
    provisional = dict(index_search.MATCH_MARGIN)
    stamps = find_stamps(stamps_root(args.cache))
    # run.py's folder for its default sizes (the same videos); other sizes get their own
    default = (args.videos, args.per_video, args.crossed_videos) == (10, 6, 3)
    folder = args.cache / ("quality-videos" if default else f"quality-videos-{args.videos}x{args.per_video}")
    videos = build_videos(stamps, args.videos, args.per_video, folder)
    crossed = build_crossed_videos(stamps, args.crossed_videos, args.per_video, folder)
    groups = [
        Group(half, [(path, [{"matched": s.label} for s in items]) for path, items in videos[i::2]])
        for i, half in enumerate(MATCHED)
    ]
    groups.append(
        Group(
            CROSSED,
            [
                (path, [dict(zip(KINDS, (s.label for s in t), strict=True)) for t in ts])
                for path, ts in crossed
            ],
        )
    )
    with tempfile.TemporaryDirectory(prefix="vidembed-search-api-") as data_dir:
        services = compose(Settings(data_dir=Path(data_dir)), start_workers=True)
        try:
            assert services.search is not None
            search = services.search
            task_ids = index_videos(services, groups)
            queries = {g.name: queries_of(g, task_ids) for g in groups}
            # run.py's evaluation in this process while the service's worker embeds the videos
            engine = Engine(BUILTIN.load(MODEL))
            evaluated = {g.name: reference(engine, g, queries[g.name], task_ids) for g in groups}
            wait_ready(services, list(task_ids.values()))
            embedded = time.perf_counter()
            index_of = {g.name: g.index_id for g in groups}
            everyone = [q for g in groups for q in queries[g.name]]
            with match_margins(dict.fromkeys(OPTIONS, EVERYTHING)):
                for q in everyone:
                    q.uncut = {n: search_all(search, index_of[q.group], q.label, f) for n, f in UNCUT.items()}
            asked = {
                name: {
                    i: [c for c, _ in search_all(search, index_of[q.group], q.label, f)]
                    for i, q in enumerate(everyone)
                }
                for name, f in AS_ASKED.items()
            }
            report_recall(everyone, evaluated, asked, provisional)
            matched = [q for q in everyone if q.group in MATCHED]
            chosen = parse_margins(args.margins) or report_cut(
                matched, [q for q in everyone if q.group == CROSSED]
            )
            report_or(search, everyone, index_of, chosen, provisional)
        finally:
            services.close()
    print(
        f"\n{len(videos)} + {len(crossed)} videos of {args.per_video} x {SEGMENT_SEC:g} s, {len(everyone)} "
        f"queries; indexing and run.py's embedding took {embedded - started:.0f} s, the whole run "
        f"{time.perf_counter() - started:.0f} s"
    )


def subsets(queries: Sequence[Query]) -> dict[str, list[int]]:
    """The query indices of each half, the matched set, and the crossed set by kind and all."""
    out: dict[str, list[int]] = {}
    for i, q in enumerate(queries):
        for name in {q.group, "matched" if q.group in MATCHED else f"{CROSSED} {q.kind}"}:
            out.setdefault(name, []).append(i)
        if q.group == CROSSED:
            out.setdefault(f"{CROSSED} all", []).append(i)
    return out


def report_recall(
    queries: Sequence[Query],
    evaluated: Mapping[
        str, tuple[dict[tuple[str, str], tuple[float, float]], dict[tuple[str, str, Clip], float]]
    ],
    asked: Mapping[str, Mapping[int, list[Clip]]],
    provisional: Mapping[str, float],
) -> None:
    worst = 0.0  # the same vectors, the same cosine
    for q in queries:
        cosines = evaluated[q.group][1]
        for option in OPTIONS:
            for clip, score in q.uncut[option]:
                worst = max(worst, abs(score - cosines[(option, q.label, clip)]))
    print(f"Largest |search cosine - run.py cosine| over every query, clip and option: {worst:.1e}\n")
    margins = ", ".join(f"{o} {m:g}" for o, m in provisional.items())
    print(f"R@1 / R@5 through search.query (MATCH_MARGIN {margins}; a cut clip is a miss) and run.py's:\n")
    print("| search | set | search R@1 | run.py R@1 | search R@5 | run.py R@5 | returned (mean) |")
    print("|---|---|---|---|---|---|---|")
    rows = subsets(queries)
    uncut_differs = []
    for name in AS_ASKED:
        ranking = FUSED if name == "or" else name
        for group in (*MATCHED, *(f"{CROSSED} {k}" for k in (*KINDS, "all"))):
            mine = [queries[i] for i in rows[group]]
            got = figures({j: asked[name][i] for j, i in enumerate(rows[group])}, mine)
            kind = group.split()[-1] if group.startswith(CROSSED) else "matched"
            ref = evaluated[mine[0].group][0][(ranking, kind)]
            title = "visual + audio + transcription, or" if name == "or" else name
            print(
                f"| {title} | {group} | {got['R@1']:.2f} | {ref[0]:.2f} | {got['R@5']:.2f} | {ref[1]:.2f} "
                f"| {got['returned']:.1f} |"
            )
            uncut = figures({j: queries[i].clips(name) for j, i in enumerate(rows[group])}, mine)
            if not np.allclose((uncut["R@1"], uncut["R@5"]), ref):
                uncut_differs.append(f"{name} on {group}: {uncut['R@1']:.2f} / {uncut['R@5']:.2f}")
    print(
        "\nThe uncut searches (every clip) against run.py's R@1 / R@5: "
        + ("the same everywhere" if not uncut_differs else "differ for " + "; ".join(uncut_differs))
    )


def report_cut(matched: Sequence[Query], crossed: Sequence[Query]) -> dict[str, float]:
    """The cut per option and margin on the matched set, and on the crossed set's queries about
    what the option is for (``OWN_KIND``: what is seen for visual...). Returns the recommendation:
    per option, the smallest margin that keeps the clip of ``KEEP_TARGET`` of the queries whose
    clip the option has in its top 5, in both sets."""
    chosen = {}
    for option in (*OPTIONS, "transcription+lexical"):
        name = option.split("+")[0]
        own = [q for q in crossed if q.kind == OWN_KIND[name]]
        n_ranked = np.mean([len(q.uncut[name]) for q in matched])
        clips = len({c for q in matched for c in q.clips("or")}) / len(MATCHED)
        print(
            f"\n{option}: the matched set's {len(matched)} queries, {cut_figures(matched, option, 1.0)[3]} "
            f"with their clip in the option's top 5; {n_ranked:.1f} of {clips:g} clips per index ranked "
            f"(placeholders aside); the crossed set's {len(own)} queries about what is {OWN_KIND[name]}, "
            f"{cut_figures(own, option, 1.0)[3]} in the top 5\n"
        )
        print(
            f"| margin | kept | kept, top 5 | returned | crossed {OWN_KIND[name]}: kept | kept, top 5 "
            "| returned |"
        )
        print("|---|---|---|---|---|---|---|")
        good = []
        for margin in MARGINS:
            kept, kept5, returned, _ = cut_figures(matched, option, margin)
            kept_own, kept5_own, returned_own, _ = cut_figures(own, option, margin)
            print(
                f"| {margin:.2f} | {kept:.2f} | {kept5:.2f} | {returned:.1f} | {kept_own:.2f} "
                f"| {kept5_own:.2f} | {returned_own:.1f} |"
            )
            if min(kept5, kept5_own) >= KEEP_TARGET:
                good.append(margin)
        if option in OPTIONS:
            chosen[option] = min(good) if good else max(MARGINS)
    return chosen


def report_or(
    search: SearchService,
    queries: Sequence[Query],
    index_of: Mapping[str, str],
    chosen: Mapping[str, float],
    provisional: Mapping[str, float],
) -> None:
    rows = subsets(queries)
    groups = ("matched", *MATCHED, f"{CROSSED} all", *(f"{CROSSED} {k}" for k in KINDS))

    def predicted(margins: Mapping[str, float], group: str) -> Figures:
        return figures(
            {j: predicted_or(queries[i], margins) for j, i in enumerate(rows[group])},
            [queries[i] for i in rows[group]],
        )

    print("\nMargins checked: " + ", ".join(f"{o} {m:g}" for o, m in chosen.items()))
    print("\n`or` predicted from the uncut searches, one option's margin varied, the others as checked:\n")
    print("| option varied | margin | matched R@1 | R@5 | kept | returned | crossed R@1 | kept | returned |")
    print("|---|---|---|---|---|---|---|---|---|")
    for option in OPTIONS:
        for margin in MARGINS:
            m, c = (
                predicted({**chosen, option: margin}, "matched"),
                predicted({**chosen, option: margin}, "crossed all"),
            )
            print(
                f"| {option} | {margin:.2f} | {m['R@1']:.2f} | {m['R@5']:.2f} | {m['kept']:.2f} "
                f"| {m['returned']:.1f} | {c['R@1']:.2f} | {c['kept']:.2f} | {c['returned']:.1f} |"
            )
    print("\n`or` and `and` through search.query:\n")
    print("| search | margins | set | R@1 | R@5 | kept | returned (mean) |")
    print("|---|---|---|---|---|---|---|")
    mismatched, not_subset = 0, 0
    for title, margins in (("today's", provisional), ("checked", chosen)):
        with match_margins(margins):
            got = {
                op: {
                    i: [
                        c
                        for c, _ in search_all(
                            search, index_of[q.group], q.label, {**UNCUT["or"], "operator": op}
                        )
                    ]
                    for i, q in enumerate(queries)
                }
                for op in ("or", "and")
            }
        mismatched += sum(got["or"][i] != predicted_or(q, margins) for i, q in enumerate(queries))
        not_subset += sum(not set(got["and"][i]) <= set(got["or"][i]) for i in range(len(queries)))
        for op in ("or", "and"):
            for group in groups:
                f = figures(
                    {j: got[op][i] for j, i in enumerate(rows[group])}, [queries[i] for i in rows[group]]
                )
                print(
                    f"| {op} | {title} | {group} | {f['R@1']:.2f} | {f['R@5']:.2f} | {f['kept']:.2f} "
                    f"| {f['returned']:.1f} |"
                )
    n = 2 * len(queries)  # each query under both sets of margins
    print(f"\n`or` as predicted from the uncut cosines: {n - mismatched} of {n} searches")
    print(f"`and` a subset of `or`: {n - not_subset} of {n} searches")


if __name__ == "__main__":
    main()
