"""The ``vidembed`` command: embed a video, search stored clips, serve the API, prepare models."""

from __future__ import annotations

import argparse
import itertools
import json
import os
import re
import signal
import sys
import time
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from vidembed import intake
from vidembed.errors import ApiError
from vidembed.models.stack import DEFAULT_STACK
from vidembed.progress import ProgressDisplay

if TYPE_CHECKING:
    from vidembed import VidEmbed
    from vidembed.client.transports.local import LocalTransport
    from vidembed.config import Settings

# argparse prints this as is: plain text, no reST (the module docstring is for the docs).
DESCRIPTION = "The vidembed command: embed a video, search stored clips, serve the API, prepare models."

# The API's messages name its fields; the CLI shows the flag or argument the user typed instead.
# One table per command. Keys are API field names, values start with "-" for a flag; anything
# else is a positional argument ("The query_text parameter" -> "The query argument").
EMBED_FLAGS: Mapping[str, str] = {
    "video_clip_length": "--clip-length",
    "video_start_offset_sec": "--start",
    "video_end_offset_sec": "--end",
    "video_embedding_scope": "--scope",
    "embedding_option": "--option",
    "model_name": "--model",
    "video_url": "video",
    "video_file": "video",
    "video_segmentation": "--segmentation",
    "video_min_duration_sec": "--min-duration",
}
SEARCH_FLAGS: Mapping[str, str] = {
    "query_text": "query",
    "query_image": "--image",
    "page_limit": "--top",
    "embedding_option": "--option",
    "model_name": "--model",
    "task_id": "--task",
}
FLAGS_BY_COMMAND: Mapping[str, Mapping[str, str]] = {"embed": EMBED_FLAGS, "search": SEARCH_FLAGS}

SCOPE_CHOICES = ("clip", "clip,video")


def _csv(value: str) -> list[str]:
    return [v.strip() for v in value.split(",") if v.strip()]


def _scope(value: str) -> list[str]:
    """``--scope``: exactly clip or clip,video (the API would read a lone "video" as clip,video)."""
    items = _csv(value)
    if set(items) == {"clip"}:
        return ["clip"]
    if set(items) == {"clip", "video"}:
        return ["clip", "video"]
    raise argparse.ArgumentTypeError(
        f"invalid value {value!r}: use {' or '.join(SCOPE_CHOICES)} "
        "(video segments always come with the clip segments)"
    )


def cli_message(message: str, flags: Mapping[str, str]) -> str:
    """An API message with its field names replaced by the CLI's flag and argument names."""
    if not flags:
        return message
    for field, flag in flags.items():
        if not flag.startswith("-"):
            message = re.sub(rf"\b{re.escape(field)} parameter\b", f"{flag} argument", message)
    names = "|".join(re.escape(field) for field in sorted(flags, key=len, reverse=True))
    return re.sub(rf"\b({names})\b", lambda m: flags[m.group(1)], message)


def cmd_embed(args: argparse.Namespace) -> int:
    """Embeds a video once: the same file (path, size, mtime) or URL with the same parameters is
    one task (``TaskService.create_once``), reused when ready and resumed when an earlier run left
    it unfinished. Ctrl-C stops the engine at once and hands the task back for the next run."""
    from vidembed import VidEmbed
    from vidembed.client.transports.local import LocalTransport

    source = args.video
    is_url = "://" in source
    if not is_url and not Path(source).is_file():
        print(f"error: no such file: {source}", file=sys.stderr)
        return 2
    image_format = None if is_url else intake.still_image_upload(source)
    if image_format is not None:
        print(
            f"error: {source} is a still image ({image_format}), not a video: search the clips with it "
            f"with `vidembed search --image {source}`, or embed it with the embed API's image input "
            "(client.embed.create(image_file=...), POST /embed with image_file)",
            file=sys.stderr,
        )
        return 2
    started = time.perf_counter()
    transport = LocalTransport(_settings(args))
    with VidEmbed(transport=transport) as client:
        task_id: str | None = None
        progress = ProgressDisplay(sys.stderr)
        try:
            task_id, state = transport.service.create_once(
                source,
                force=args.force,
                model_name=args.model,
                video_start_offset_sec=args.start,
                video_end_offset_sec=args.end,
                video_clip_length=args.clip_length,
                video_embedding_scope=args.scope,
                embedding_option=_csv(args.option) if args.option else None,
                video_segmentation=args.segmentation,
                video_min_duration_sec=args.min_duration,
            )
            print(_embed_opening(task_id, state), file=sys.stderr)
            try:
                status = client.embed.tasks.wait_for_done(task_id, sleep_interval=0.5, callback=progress)
            finally:
                progress.finish()
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
            transport.service.workers.stop()  # kills the engine child, hands the task back
            print(_interrupted(transport, task_id), file=sys.stderr)
            return 130
        elapsed = time.perf_counter() - started
        if status.status != "ready":
            reason = status.error.message if status.error else "unknown reason"
            print(f"task {task_id} failed: {failure_reason(reason, args)}", file=sys.stderr)
            return 1
        result = client.embed.tasks.retrieve(task_id)
    segments = result.video_embedding.segments or []  # type: ignore[union-attr]
    meta = result.video_embedding.metadata  # type: ignore[union-attr]
    clips = [s for s in segments if s.embedding_scope == "clip"]
    options = sorted({s.embedding_option for s in segments if s.embedding_option})
    spans = sorted({(s.start_offset_sec or 0.0, s.end_offset_sec or 0.0) for s in clips})
    dimension = len(segments[0].float_ or []) if segments else 0
    duration = (meta.duration if meta else None) or 0.0
    print(f"task:       {task_id}")
    print(f"video:      {source}")
    print(f"duration:   {duration:.2f} s")
    if args.start is not None and args.end is not None:
        print(f"embedded:   {args.start:g}-{min(args.end, duration):g} s")
    if args.segmentation == "dynamic":
        print(f"clips:      {len(spans)}, cut at shot boundaries ({clip_lengths(spans)})")
    else:
        print(f"clips:      {clip_lengths(spans)}")
    print(f"options:    {', '.join(options)}")
    print(f"segments:   {len(segments)} vectors of dimension {dimension}")
    if state == "ready":
        print("time taken: 0.0 s (embedded by an earlier run: its results, nothing embedded now)")
    else:
        speed = embedded_seconds(duration, args.start, args.end) / max(elapsed, 1e-9)
        print(f"time taken: {elapsed:.1f} s ({speed:.1f}x realtime, model load included)")
    if args.out:
        Path(args.out).write_text(
            json.dumps(result.model_dump(mode="json", by_alias=True, exclude_none=True))
        )
        print(f"wrote {args.out}")
    return 0


# The flags whose value the engine checks (once the video's duration is known), and their
# argparse names: a failure that blames one the user did not type must not name it.
CHECKED_LATE = {
    "video_clip_length": "clip_length",
    "video_start_offset_sec": "start",
    "video_end_offset_sec": "end",
    "video_min_duration_sec": "min_duration",
}


def failure_reason(reason: str, args: argparse.Namespace) -> str:
    """A failed task's reason in the CLI's words: field names become flags, and "The X parameter
    is invalid." goes when the user did not type X (a default was used): the rest says what is
    wrong with the video ("The video is 0.040 s long; ...")."""
    for field, attribute in CHECKED_LATE.items():
        blame = f"The {field} parameter is invalid. "
        if reason.startswith(blame) and getattr(args, attribute, None) is None:
            reason = reason[len(blame) :]
            break
    return cli_message(reason, EMBED_FLAGS)


def _embed_opening(task_id: str, state: str) -> str:
    """The line that says which task this run works on, and whether an earlier run made it."""
    if state == "ready":
        return (
            f"task {task_id}: already embedded (same video, same parameters); showing its results "
            "(--force embeds it again)"
        )
    if state == "processing":
        return f"task {task_id}: resuming the task an earlier run left unfinished"
    return f"task {task_id} created"


def _interrupted(transport: LocalTransport, task_id: str | None) -> str:
    """The one line Ctrl-C leaves: what became of the task and how to go on."""
    if task_id is None:
        return "interrupted before the task was created: nothing was saved"
    task = transport.service.store.get(task_id)
    if task is None:
        return f"interrupted: task {task_id} is gone"
    if task.status == "ready":
        return f"interrupted: task {task_id} had just finished; run the same command again to see its results"
    if task.status == "failed":
        return f"interrupted: task {task_id} failed: {cli_message(task.error or '', EMBED_FLAGS)}"
    return (
        f"interrupted: task {task_id} is saved unfinished (processing, nothing embedded yet); run the "
        "same command again to resume it"
    )


def clip_lengths(spans: list[tuple[float, float]]) -> str:
    """The clips' real lengths, counted in order: "3 x 6.0 s", "2 x 6.0 s + 1 x 3.31 s"."""
    groups: list[list[float]] = []  # [length, count]
    for start, end in spans:
        length = round(end - start, 2)
        if groups and groups[-1][0] == length:
            groups[-1][1] += 1
        else:
            groups.append([length, 1])
    if not groups:
        return "none"
    return " + ".join(f"{count:g} x {length} s" for length, count in groups)


def embedded_seconds(duration: float, start: float | None, end: float | None) -> float:
    """How much of the video a task embedded: the whole, or its --start/--end part of it."""
    if start is None or end is None:
        return duration
    return max(min(end, duration) - start, 0.0)


def cmd_search(args: argparse.Namespace) -> int:
    from vidembed.api.compose import open_tasks

    if args.index is not None:
        return _search_index(args)
    index_only = [
        f
        for f, v in (
            ("--group-by", args.group_by),
            ("--filter", args.filter),
            ("--limit", args.limit),
            ("--base-url", args.base_url),
        )
        if v is not None
    ]
    if index_only:
        print(f"error: {', '.join(index_only)} go with --index (the search of an index)", file=sys.stderr)
        return 2
    if args.image is not None and not Path(args.image).is_file():
        print(f"error: no such file: {args.image}", file=sys.stderr)
        return 2
    service = open_tasks(_settings(args), start_workers=False)
    try:
        # the same validation and ranking as client.clips.search and POST /clips/search
        found = service.search_clips(
            query_text=args.query,
            query_image=Path(args.image) if args.image is not None else None,
            model_name=args.model,
            task_id=args.task,
            embedding_option=args.option,
            page_limit=args.top,
        )
        ranked = found["data"]
    finally:
        service.close()
    for task in found["left_out"]:
        print(f"not searched: task {task['task_id']}, {task['reason']} (embed it again)", file=sys.stderr)
    if not ranked:
        print("no finished tasks to search", file=sys.stderr)
        return 1
    # The fused ranking (all options on one scale) comes first, then each option's own.
    for option, hits in ranked.items():
        meaning = "each clip's best option, as a z-score" if option == "fused" else "cosine with the query"
        print(f"== {option} ({meaning})")
        if not hits:
            print("  (no clip has anything for this option)")
        for hit in hits:
            start, end = hit["start_offset_sec"], hit["end_offset_sec"]
            where = f"{start:.1f}-{end:.1f} s"
            print(
                f"  {hit['score']:+.3f}  {where:<15} {_source_name(hit['source'])}  (task {hit['task_id']})"
            )
    return 0


def _source_name(source: str | None) -> str:
    """A video as a person recognises it: a file's name, or the URL."""
    if not source:
        return "?"
    return source if "://" in source else Path(source).name


# --- search indexes: vidembed index ..., vidembed search --index ------------------------------

# The index commands' flags and arguments, by the API field names their messages use.
INDEX_FLAGS: Mapping[str, str] = {
    "index_name": "name",
    "model_name": "--model",
    "model_options": "--options",
    "models": "--model",
    "addons": "--thumbnail",
    "index_id": "index",
    "video_url": "video",
    "video_file": "video",
    "user_metadata": "--metadata",
    "query_text": "query",
    "query_media_file": "--image",
    "search_options": "--option",
    "group_by": "--group-by",
    "filter": "--filter",
    "page_limit": "--limit",
}
# An index's model options (visual, audio) and the search options they make possible
SEARCH_OPTIONS_OF = {"visual": ("visual",), "audio": ("audio", "transcription")}


def _client(args: argparse.Namespace, *, workers: bool = False) -> tuple[VidEmbed, LocalTransport | None]:
    """The client of ``--base-url``, or an embedded service over the data folder (its workers
    started only for a command that waits for tasks) and its local transport."""
    from vidembed import VidEmbed

    if getattr(args, "base_url", None):
        return VidEmbed(base_url=args.base_url, api_key=args.api_key), None
    from vidembed.client.transports.local import LocalTransport

    transport = LocalTransport(_settings(args), start_workers=workers)
    return VidEmbed(transport=transport), transport


def _index_error(exc: ApiError) -> int:
    print(f"error: {cli_message(exc.message, INDEX_FLAGS)}", file=sys.stderr)
    return 2


def _duration(seconds: float | None) -> str:
    if seconds is None:
        return "-"
    minutes, rest = divmod(float(seconds), 60)
    return f"{int(minutes)}:{rest:04.1f}" if minutes else f"{rest:.1f} s"


def _table(rows: Sequence[Sequence[str]], right: tuple[int, ...] = ()) -> None:
    """Columns as wide as their widest cell; the columns in ``right`` aligned right."""
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]))]
    for row in rows:
        cells = [
            c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths, strict=True))
        ]
        print("  ".join(cells).rstrip())


def cmd_index_create(args: argparse.Namespace) -> int:
    options = _csv(args.options)
    client, _ = _client(args)
    try:
        with client:
            created = client.indexes.create(
                index_name=args.name,
                models=[{"model_name": args.model, "model_options": options}],
                addons=["thumbnail"] if args.thumbnail else None,
            )
    except ApiError as exc:
        return _index_error(exc)
    addons = ", thumbnails" if args.thumbnail else ""
    print(f"index {args.name!r} created: {args.model}, {', '.join(options)}{addons}", file=sys.stderr)
    print(created.id)  # alone on stdout: INDEX=$(vidembed index create NAME)
    return 0


def cmd_index_list(args: argparse.Namespace) -> int:
    """The indexes, or with an index id the videos of that index."""
    client, _ = _client(args)
    try:
        with client:
            if args.index_id:
                return _list_videos(client, args.index_id)
            indexes = list(client.indexes.list(page_limit=50))
    except ApiError as exc:
        return _index_error(exc)
    if not indexes:
        print("no indexes (vidembed index create NAME makes one)", file=sys.stderr)
        return 0
    rows = [("ID", "NAME", "MODEL", "OPTIONS", "VIDEOS", "DURATION", "CREATED")]
    for index in indexes:
        model = next(iter(index.models or []), None)
        rows.append(
            (
                index.id or "",
                index.index_name or "",
                (model.model_name or "") if model else "",
                ",".join(model.model_options or []) if model else "",
                f"{int(index.video_count or 0)}",
                _duration(index.total_duration),
                (index.created_at or "")[:19].replace("T", " "),
            )
        )
    _table(rows, right=(4, 5))
    return 0


def _list_videos(client: VidEmbed, index_id: str) -> int:
    videos = list(client.indexes.videos.list(index_id, page_limit=50))
    tasks = {t.video_id: t for t in client.tasks.list(index_id=index_id, page_limit=50)}
    if not videos and not tasks:
        print(
            f"index {index_id} has no videos (vidembed index add {index_id} VIDEO adds one)", file=sys.stderr
        )
        return 0
    rows = [("VIDEO", "STATUS", "FILE", "DURATION", "METADATA")]
    listed = {v.id for v in videos}
    for video in videos:
        meta = video.system_metadata
        status = tasks[video.id].status if video.id in tasks else "ready"
        rows.append(
            (
                video.id or "",
                status or "",
                (meta.filename or "") if meta else "",
                _duration(meta.duration if meta else None),
                json.dumps(video.user_metadata) if video.user_metadata else "",
            )
        )
    for task in tasks.values():  # not yet (or never) searchable: still indexing, or failed
        if task.video_id not in listed:
            found = task.system_metadata
            reason = f" ({task.error.message})" if task.error and task.error.message else ""
            rows.append(
                (
                    task.video_id or "",
                    (task.status or "") + reason,
                    (found.filename or "") if found else "",
                    _duration(found.duration if found else None),
                    "",
                )
            )
    _table(rows, right=(3,))
    return 0


def cmd_index_add(args: argparse.Namespace) -> int:
    """Adds videos to an index (one index task each) and shows each task's progress until it ends.
    Embedded, Ctrl-C stops the engine and hands the running task back: the tasks already created
    are saved and finish the next time workers run on this data folder (``vidembed index add``
    or ``vidembed serve``)."""
    metadata: str | None = None
    if args.metadata is not None:
        try:
            parsed = json.loads(args.metadata)
        except ValueError as exc:
            print(f"error: --metadata is not valid JSON: {exc}", file=sys.stderr)
            return 2
        if not isinstance(parsed, dict):
            print('error: --metadata must be a JSON object, such as {"category": "news"}', file=sys.stderr)
            return 2
        metadata = args.metadata
    for source in args.videos:
        if "://" not in source and not Path(source).is_file():
            print(f"error: no such file: {source}", file=sys.stderr)
            return 2
    client, transport = _client(args, workers=True)
    created: list[tuple[str, str]] = []  # (task id, source)
    outcomes: list[tuple[str, str, str]] = []  # (video id, status, source or reason)
    with client:
        try:
            for source in args.videos:
                is_url = "://" in source
                task = client.tasks.create(
                    index_id=args.index_id,
                    video_file=None if is_url else Path(source),
                    video_url=source if is_url else None,
                    user_metadata=metadata,
                )
                assert task.id is not None
                created.append((task.id, source))
                print(f"task {task.id} created: {source}", file=sys.stderr)
            for task_id, source in created:
                progress = ProgressDisplay(sys.stderr)
                print(f"indexing {_source_name(source)} (task {task_id})", file=sys.stderr)
                try:
                    done = client.tasks.wait_for_done(task_id, sleep_interval=0.5, callback=progress)
                finally:
                    progress.finish()
                if done.status == "ready":
                    outcomes.append((task_id, "ready", _source_name(source)))
                else:
                    reason = done.error.message if done.error else "unknown reason"
                    print(f"task {task_id} failed: {reason}", file=sys.stderr)
                    outcomes.append((task_id, "failed", _source_name(source)))
        except ApiError as exc:
            return _index_error(exc)
        except KeyboardInterrupt:
            signal.signal(signal.SIGINT, signal.SIG_IGN)  # a second Ctrl-C must not cut the cleanup
            if transport is not None:
                transport.service.workers.stop()  # kills the engine child, hands the task back
            print(_index_interrupted(created, outcomes, len(args.videos), transport is None), file=sys.stderr)
            return 130
    rows = [("VIDEO", "STATUS", "FILE")] + outcomes
    _table(rows)
    return 0 if all(status == "ready" for _, status, _ in outcomes) else 1


def _index_interrupted(
    created: list[tuple[str, str]], ended: list[tuple[str, str, str]], asked: int, remote: bool
) -> str:
    left = [task_id for task_id, _ in created if task_id not in {e[0] for e in ended}]
    lines = [f"interrupted: {len(ended)} of {asked} videos done"]
    if left:
        where = (
            "the server goes on with them"
            if remote
            else "they stay queued and are indexed when workers next run on this data folder "
            "(vidembed serve, or the next vidembed index add)"
        )
        lines.append(f"tasks not finished: {', '.join(left)}; {where}")
    if len(created) < asked:
        lines.append(f"{asked - len(created)} videos were not added")
    return "\n".join(lines)


def cmd_index_rm(args: argparse.Namespace) -> int:
    client, _ = _client(args)
    try:
        with client:
            if args.video_id:
                client.indexes.videos.delete(args.index_id, args.video_id)
                print(f"deleted video {args.video_id} from index {args.index_id}", file=sys.stderr)
            else:
                client.indexes.delete(args.index_id)
                print(f"deleted index {args.index_id}", file=sys.stderr)
    except ApiError as exc:
        return _index_error(exc)
    return 0


def _search_index(args: argparse.Namespace) -> int:
    """``vidembed search --index ID``: TwelveLabs' search of an index, as a table (rank, video,
    start-end, score; grouped by video with ``--group-by video``)."""
    if args.task is not None:
        print("error: --task searches embed tasks; it does not go with --index", file=sys.stderr)
        return 2
    if args.limit is not None and args.limit < 1:
        print("error: --limit must be at least 1", file=sys.stderr)
        return 2
    if args.image is not None and not Path(args.image).is_file():
        print(f"error: no such file: {args.image}", file=sys.stderr)
        return 2
    limit = args.limit or 10
    client, _ = _client(args)
    try:
        with client:
            if args.option:
                options = _csv(args.option)
            else:  # every option the index was built for
                index = client.indexes.retrieve(args.index)
                model = next(iter(index.models or []), None)
                built = (model.model_options or []) if model else []
                options = [o for b in built for o in SEARCH_OPTIONS_OF.get(b, (b,))]
            pager = client.search.query(
                index_id=args.index,
                search_options=options,
                query_text=args.query,
                query_media_type="image" if args.image else None,
                query_media_file=Path(args.image) if args.image else None,
                group_by=args.group_by,
                filter=args.filter,
                page_limit=min(limit, 50),
            )
            items = list(itertools.islice(pager, limit))
            names: dict[str, str] = {}
            for video_id in {i.id or i.video_id for i in items} - {None}:
                assert video_id is not None
                try:
                    meta = client.indexes.videos.retrieve(args.index, video_id).system_metadata
                    names[video_id] = (meta.filename if meta else None) or video_id
                except ApiError:
                    names[video_id] = video_id
    except ApiError as exc:
        return _index_error(exc)
    total = pager.page_info.total_results if pager.page_info else None
    if not items:
        print("no results", file=sys.stderr)
        return 1
    if args.group_by == "video":
        rows = [("RANK", "VIDEO", "CLIPS", "BEST CLIP", "SCORE")]
        for rank, group in enumerate(items, 1):
            clips = group.clips or []
            best = clips[0] if clips else None
            rows.append(
                (
                    str(rank),
                    names.get(group.id or "", group.id or ""),
                    str(len(clips)),
                    f"{best.start:.1f}-{best.end:.1f} s" if best and best.start is not None else "-",
                    f"{best.score:+.3f}" if best and best.score is not None else "",
                )
            )
        _table(rows, right=(0, 2, 4))
    else:
        rows = [("RANK", "VIDEO", "START-END", "SCORE", "WORDS")]
        for item in items:
            words = (item.transcription or "").strip()
            rows.append(
                (
                    str(item.rank or ""),
                    names.get(item.video_id or "", item.video_id or ""),
                    f"{item.start:.1f}-{item.end:.1f} s" if item.start is not None else "-",
                    f"{item.score:+.3f}" if item.score is not None else "",
                    words if len(words) <= 50 else words[:47] + "...",
                )
            )
        _table(rows, right=(0, 3))
    if total is not None and total > len(items):
        print(f"{len(items)} of {total} results (--limit shows more)", file=sys.stderr)
    return 0


def _remote_flags(parser: argparse.ArgumentParser) -> None:
    """``--base-url`` and ``--api-key``: the index commands and ``search --index`` against a
    server instead of the embedded service."""
    parser.add_argument(
        "--base-url",
        default=None,
        help="a vidembed server (http://HOST:8000/v1.3) instead of the embedded service",
    )
    parser.add_argument(
        "--api-key",
        default=os.environ.get("VIDEMBED_API_KEY"),
        help="the server's API key (default VIDEMBED_API_KEY)",
    )


def _settings(args: argparse.Namespace) -> Settings:
    """The service settings with the global options applied (the rest from the environment)."""
    from vidembed.config import Settings

    settings = Settings()
    if args.data_dir:
        settings.data_dir = Path(args.data_dir)
    if args.stacks:
        settings.stacks_file = Path(args.stacks).expanduser()
    return settings


def cmd_models(args: argparse.Namespace) -> int:
    from vidembed.models import weights
    from vidembed.models.catalog import StackCatalog

    catalog = StackCatalog(_settings(args).stacks)
    for name, path in weights.prepare_all(catalog.settings.models_dir).items():
        print(f"{name:18} {path}")
    for name in catalog.configs:
        catalog.load(name)  # fetches (hub ids), verifies and loads every encoder once
        info = catalog.describe(name)
        aliases = f" (aliases: {', '.join(info['aliases'])})" if info["aliases"] else ""
        options = ", ".join(info["options"])
        print(f"\nstack {name}{aliases}: {info['dimension']}-d, L2-normalised, options {options}")
        print(f"  {'languages':13} {', '.join(info.get('languages') or ['not declared'])}")
        for role, encoder in info["encoders"].items():
            print(f"  {role:13} {encoder['about']}")
            print(f"  {'':13} identity: {encoder['identity']}")
    return 0


def cmd_serve(args: argparse.Namespace) -> int:
    import logging

    import uvicorn

    from vidembed.api.compose import compose
    from vidembed.server.app import create_app, uvicorn_options
    from vidembed.server.auth import ApiKeys

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(name)s %(message)s")
    settings = _settings(args)
    settings.allow_local_urls = args.allow_local_urls
    if args.workers is not None:
        settings.workers = args.workers
    if args.max_upload_bytes is not None:
        settings.max_upload_bytes = args.max_upload_bytes
    if args.database_url:
        settings.database_url = args.database_url
    if args.media_url:
        settings.media_url = args.media_url
    if args.search_index:
        settings.search_index = args.search_index
    if args.pgvector_ef_search is not None:
        settings.pgvector_ef_search = args.pgvector_ef_search
    if args.executor:
        settings.executor = args.executor
    if args.ray_address:
        settings.ray_address = args.ray_address
    if args.webhook_url:
        settings.webhook_urls = tuple(args.webhook_url)
    if args.webhook_secret:
        settings.webhook_secret = args.webhook_secret
    _apply_actor_resources(settings, args)
    from vidembed.errors import ConfigurationError

    try:
        services = compose(settings)
    except ConfigurationError as exc:  # a bad --database-url or --media-url, an unreachable store
        print(f"error: {exc}", file=sys.stderr)
        return 2
    keys = ApiKeys.from_config(args.api_keys_file, os.environ.get("VIDEMBED_API_KEYS", ""))
    app = create_app(services, keys)
    try:
        uvicorn.run(app, **uvicorn_options(args.host, args.port))
    finally:
        services.close()
    return 0


def cmd_batch(args: argparse.Namespace) -> int:
    import importlib.util

    from vidembed.batch import BatchSettings, report, run_batch
    from vidembed.errors import ConfigurationError
    from vidembed.stores.open import open_store

    if importlib.util.find_spec("ray") is None:
        print("error: vidembed batch needs Ray: pip install 'vidembed[ray]'", file=sys.stderr)
        return 2
    from vidembed.models.catalog import StackCatalog

    if args.actors < 1 or not 2 <= args.clip_length <= 10:
        print("error: --actors must be at least 1 and --clip-length within 2-10 seconds", file=sys.stderr)
        return 2
    settings = _settings(args)
    _apply_actor_resources(settings, args)
    url = args.database_url or settings.database_url
    batch = BatchSettings(
        inputs=tuple(args.inputs),
        model_name=args.model,
        actors=args.actors,
        clip_length=args.clip_length,
        stacks=settings.stacks,
        ray_address=args.ray_address,
        actor_cpus=settings.ray_actor_cpus,
        actor_gpus=settings.ray_actor_gpus,
        max_download_bytes=settings.max_download_bytes,
        download_timeout_seconds=settings.download_timeout_seconds,
    )
    known = StackCatalog(settings.stacks).known_names()
    if args.model not in known:
        print(
            f"error: unknown --model {args.model!r}; use one of: {', '.join(sorted(known))}", file=sys.stderr
        )
        return 2
    try:
        store = open_store(url, settings.db_path)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    try:
        outcome = run_batch(batch, store)
    except ConfigurationError as exc:  # an unreachable --ray-address
        print(f"error: {exc}", file=sys.stderr)
        return 2
    return report(outcome, sys.stderr)


def _resolved(database: Path | str) -> Path | str:
    """A SQLite file's real path (or a PostgreSQL URL as it is), to tell whether two name one."""
    return database.resolve() if isinstance(database, Path) else database


def cmd_copy_store(args: argparse.Namespace) -> int:
    """Copies the tasks, vectors, assets and search indexes of one store into another
    (vidembed.copy_store)."""
    from vidembed.copy_store import CopyReport, copy_store
    from vidembed.errors import ConfigurationError
    from vidembed.stores.base import database_target
    from vidembed.stores.open import open_asset_store, open_index_store, open_store

    settings = _settings(args)
    source_url = args.source or None  # None: SQLite in the data folder
    try:
        source_end, target_end = (database_target(url, settings.db_path) for url in (source_url, args.to))
        if _resolved(source_end) == _resolved(target_end):
            print("error: --from and --to name the same database", file=sys.stderr)
            return 2
        if source_url is None and not settings.db_path.exists():
            print(
                f"error: there is no database at {settings.db_path} (use --from or --data-dir)",
                file=sys.stderr,
            )
            return 2
        source, target = open_store(source_url, settings.db_path), open_store(args.to, settings.db_path)
        source_assets = open_asset_store(source_url, settings.db_path)
        target_assets = open_asset_store(args.to, settings.db_path)
        source_indexes = open_index_store(source_url, settings.db_path)
        target_indexes = open_index_store(args.to, settings.db_path)
    except ConfigurationError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2

    def progress(report: CopyReport) -> None:
        print(f"  {report.tasks} tasks copied, {report.skipped} already there", file=sys.stderr)

    try:
        report = copy_store(
            source, target, source_assets, target_assets, progress, source_indexes, target_indexes
        )
    finally:
        for store in (source, target, source_assets, target_assets, source_indexes, target_indexes):
            store.close()
    print(
        f"copied {report.tasks} tasks ({report.vectors} vectors), {report.assets} assets and "
        f"{report.indexes} search indexes; {report.skipped} were there already",
        file=sys.stderr,
    )
    if report.local_media:
        print(
            f"{len(report.local_media)} processing tasks or assets read their files from the paths "
            "they were given (media are not copied): keep those files where the target's workers "
            "can read them, or let them finish before copying",
            file=sys.stderr,
        )
    for task_id, why in report.not_copied:
        print(f"not copied: {task_id}: {why}", file=sys.stderr)
    return 1 if report.not_copied else 0


def _global_options(*, in_subcommand: bool) -> argparse.ArgumentParser:
    """The options every command takes, before or after its name (``vidembed embed x.mp4 --data-dir D``).

    The subcommands' copy defaults to SUPPRESS, so that a value given before the command name is
    not overwritten by the subcommand's default; one given after it wins.
    """
    options = argparse.ArgumentParser(add_help=False)
    options.add_argument(
        "--data-dir",
        default=argparse.SUPPRESS if in_subcommand else os.environ.get("VIDEMBED_HOME"),
        help="where tasks and results are kept (default: VIDEMBED_HOME or a per-user folder)",
    )
    options.add_argument(
        "--stacks",
        metavar="FILE",
        default=argparse.SUPPRESS if in_subcommand else os.environ.get("VIDEMBED_STACKS"),
        help="a TOML stacks file adding model stacks (default: VIDEMBED_STACKS)",
    )
    return options


def _actor_resource_flags(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--ray-actor-cpus",
        type=float,
        default=None,
        help="CPUs each Ray actor takes (default VIDEMBED_RAY_ACTOR_CPUS, or 1; docs/RAY.md)",
    )
    parser.add_argument(
        "--ray-actor-gpus",
        type=float,
        default=None,
        help="GPUs each Ray actor takes; a fraction shares one (default VIDEMBED_RAY_ACTOR_GPUS, or 1 "
        "when the cluster has GPUs, else 0)",
    )


def _apply_actor_resources(settings: Settings, args: argparse.Namespace) -> None:
    if args.ray_actor_cpus is not None:
        settings.ray_actor_cpus = args.ray_actor_cpus
    if args.ray_actor_gpus is not None:
        settings.ray_actor_gpus = args.ray_actor_gpus


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="vidembed", description=DESCRIPTION, parents=[_global_options(in_subcommand=False)]
    )
    sub = parser.add_subparsers(dest="command", required=True)
    common = [_global_options(in_subcommand=True)]

    def command(name: str, summary: str) -> argparse.ArgumentParser:
        return sub.add_parser(
            name, help=summary, description=summary[:1].upper() + summary[1:] + ".", parents=common
        )

    embed = command("embed", "embed a video file or URL in the embedded service")
    embed.add_argument("video", help="a path, or an http(s):// or file:// URL")
    embed.add_argument("--model", default=DEFAULT_STACK, help=f"model (stack) name (default {DEFAULT_STACK})")
    embed.add_argument("--clip-length", type=float, default=None, help="seconds per clip, 2-10 (default 6)")
    embed.add_argument(
        "--scope",
        type=_scope,
        default=["clip"],
        help="clip (one vector per clip and option) or clip,video (also one for the whole video)",
    )
    embed.add_argument(
        "--segmentation",
        choices=("fixed", "dynamic"),
        default=None,
        help="fixed: clips of --clip-length (default); dynamic: clips follow the shots",
    )
    embed.add_argument(
        "--min-duration",
        type=float,
        default=None,
        help="with --segmentation dynamic: shortest clip, 2-5 s (default 4)",
    )
    embed.add_argument("--option", default=None, help="some of visual,audio,transcription (default all)")
    embed.add_argument("--start", type=float, default=None, help="embed from this second (needs --end)")
    embed.add_argument("--end", type=float, default=None, help="embed up to this second (needs --start)")
    embed.add_argument("--out", default=None, help="write the retrieve response (wire JSON) here")
    embed.add_argument(
        "--force",
        action="store_true",
        help="embed into a new task even if this video was embedded (or started) with the same "
        "parameters before; without it, that task is reused or resumed",
    )
    embed.set_defaults(func=cmd_embed)

    search = command("search", "rank stored clips against a text query or an image")
    search.add_argument("query", nargs="?", default=None, help="the text to search for (or --image)")
    search.add_argument(
        "--image",
        metavar="FILE",
        default=None,
        help="search with a picture instead of a text: ranks the visual option only",
    )
    search.add_argument("--task", default=None, help="search only this task")
    search.add_argument("--option", default=None, help="some of visual,audio,transcription")
    search.add_argument(
        "--top", "--page-limit", dest="top", type=int, default=5, help="hits per option, 1-100"
    )
    search.add_argument(
        "--model", default=DEFAULT_STACK, help=f"model (stack) name (default {DEFAULT_STACK})"
    )
    search.add_argument(
        "--index", default=None, help="search this index (TwelveLabs' search) instead of embed tasks' clips"
    )
    search.add_argument(
        "--group-by", choices=("clip", "video"), default=None, help="with --index: clip or video"
    )
    search.add_argument("--filter", default=None, help='with --index: a JSON object, {"category": "news"}')
    search.add_argument("--limit", type=int, default=None, help="with --index: results shown (default 10)")
    _remote_flags(search)
    search.set_defaults(func=cmd_search)

    index = command("index", "search indexes: create, list, add videos, remove")
    index_commands = index.add_subparsers(dest="index_command", required=True)

    def index_command(name: str, summary: str) -> argparse.ArgumentParser:
        parser = index_commands.add_parser(
            name, help=summary, description=summary[:1].upper() + summary[1:] + ".", parents=common
        )
        _remote_flags(parser)
        return parser

    index_create = index_command("create", "create an index (prints its id)")
    index_create.add_argument("name", help="the index's name (unique)")
    index_create.add_argument(
        "--model", default="marengo3.0", help="the embedding model (default marengo3.0)"
    )
    index_create.add_argument(
        "--options", default="visual,audio", help="some of visual,audio (default both; audio brings speech)"
    )
    index_create.add_argument("--thumbnail", action="store_true", help="thumbnails of search results")
    index_create.set_defaults(func=cmd_index_create)
    index_list = index_command("list", "list the indexes, or the videos of one")
    index_list.add_argument("index_id", nargs="?", default=None, help="list this index's videos")
    index_list.set_defaults(func=cmd_index_list)
    index_add = index_command("add", "add videos to an index and wait until they are indexed")
    index_add.add_argument("index_id", help="the index")
    index_add.add_argument("videos", nargs="+", metavar="video", help="paths, or http(s):// URLs")
    index_add.add_argument("--metadata", default=None, help='user metadata as JSON: {"category": "news"}')
    index_add.set_defaults(func=cmd_index_add)
    index_rm = index_command("rm", "delete an index, or one video of it")
    index_rm.add_argument("index_id", help="the index")
    index_rm.add_argument("video_id", nargs="?", default=None, help="delete only this video")
    index_rm.set_defaults(func=cmd_index_rm)

    env = os.environ.get
    serve = command("serve", "serve the TwelveLabs-compatible HTTP API")
    serve.add_argument(
        "--host", default=env("VIDEMBED_HOST", "127.0.0.1"), help="default VIDEMBED_HOST or 127.0.0.1"
    )
    serve.add_argument(
        "--port", type=int, default=int(env("VIDEMBED_PORT", "8000")), help="default VIDEMBED_PORT or 8000"
    )
    serve.add_argument("--workers", type=int, default=None, help="worker threads (default 1)")
    serve.add_argument(
        "--api-keys-file",
        default=env("VIDEMBED_API_KEYS_FILE"),
        help="one key per line; also VIDEMBED_API_KEYS=k1,k2; none means an open server",
    )
    serve.add_argument("--max-upload-bytes", type=int, default=None, help="default 2 GiB")
    serve.add_argument(
        "--database-url",
        default=None,
        help="tasks, vectors and assets in PostgreSQL (postgresql://user@host/db; docs/POSTGRES.md); "
        "default VIDEMBED_DATABASE_URL, or SQLite in the data folder",
    )
    serve.add_argument(
        "--search-index",
        choices=["local", "pgvector"],
        default=None,
        help="how search finds clips: the exact index in the data folder (local), or pgvector's "
        "HNSW graphs inside PostgreSQL; default VIDEMBED_SEARCH_INDEX, or local (docs/SEARCH.md)",
    )
    serve.add_argument(
        "--pgvector-ef-search",
        type=int,
        default=None,
        help="with --search-index pgvector: candidates per graph search, 1-1000 (more: better recall, "
        "slower; default VIDEMBED_PGVECTOR_EF_SEARCH, or 100)",
    )
    serve.add_argument(
        "--media-url",
        default=None,
        help="uploads and assets in S3-compatible storage (s3://bucket/prefix; endpoint, keys and region "
        "from AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION; "
        "docs/MEDIA_STORAGE.md); default VIDEMBED_MEDIA_URL, or the data folder's media/",
    )
    serve.add_argument(
        "--executor",
        choices=("threads", "ray"),
        default=None,
        help="threads: worker threads of this process (default, or VIDEMBED_EXECUTOR); "
        "ray: a pool of --workers Ray actors (docs/RAY.md)",
    )
    serve.add_argument(
        "--ray-address",
        default=None,
        help="with --executor ray: the cluster's HOST:PORT (default VIDEMBED_RAY_ADDRESS, or auto)",
    )
    for target in (serve,):
        _actor_resource_flags(target)
    serve.add_argument(
        "--allow-local-urls",
        action="store_true",
        default=env("VIDEMBED_ALLOW_LOCAL_URLS", "") == "1",
        help="let video_url reach file://, loopback and private addresses (off by default)",
    )
    serve.add_argument(
        "--webhook-url",
        action="append",
        default=None,
        help="POST each ended task's event here (repeatable; default VIDEMBED_WEBHOOK_URL, comma-separated; "
        "local addresses need --allow-local-urls; docs/SEARCH-API.md)",
    )
    serve.add_argument(
        "--webhook-secret",
        default=None,
        help="the key of the events' TL-Signature HMAC (default VIDEMBED_WEBHOOK_SECRET; none: unsigned)",
    )
    serve.set_defaults(func=cmd_serve)

    batch = command("batch", "embed a whole collection of videos on Ray Data, resumably")
    batch.add_argument("inputs", nargs="+", help="files, folders (walked for media files), globs or URLs")
    batch.add_argument("--model", default=DEFAULT_STACK, help=f"model (stack) name (default {DEFAULT_STACK})")
    batch.add_argument("--clip-length", type=float, default=6.0, help="seconds per clip, 2-10 (default 6)")
    batch.add_argument(
        "--database-url",
        default=None,
        help="the store to write to (default VIDEMBED_DATABASE_URL, or SQLite in the data folder)",
    )
    batch.add_argument(
        "--ray-address", default=None, help="a Ray cluster's HOST:PORT (default: a local Ray for the run)"
    )
    batch.add_argument("--actors", type=int, default=2, help="embedding actors (default 2)")
    _actor_resource_flags(batch)
    batch.set_defaults(func=cmd_batch)

    copy = command("copy-store", "copy tasks, vectors and assets into another database, resumably")
    copy.add_argument(
        "--to", required=True, help="the database to copy into (postgresql://... or sqlite:///PATH)"
    )
    copy.add_argument(
        "--from",
        dest="source",
        default=None,
        help="the database to copy from (default: SQLite in the data folder, not VIDEMBED_DATABASE_URL)",
    )
    copy.set_defaults(func=cmd_copy_store)

    models = command("models", "prepare and verify the default stack's weights")
    models.set_defaults(func=cmd_models)
    return parser


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return int(args.func(args))
    except ApiError as exc:
        # The HTTP API and the Python client keep the API's field names; only the CLI rewrites them.
        print(f"error: {cli_message(exc.message, FLAGS_BY_COMMAND.get(args.command, {}))}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
