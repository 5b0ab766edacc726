"""The one place where vidembed is put together: stores, media store, executor, search, the core
and every API surface over them, from one ``Settings``.

The server (``vidembed serve``), the embedded client's local transport, the CLI and the tests all
compose here, so the parts are opened once per process and wired in one order: the stacks file is
checked first (a bad one fails at start), then the task store, the media store, the executor and
the search over that store, then the asset store beside them.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial

from vidembed.api.assets.operations import AssetService
from vidembed.api.embed.operations import TaskService
from vidembed.api.embed_v2.operations import EmbedV2Service
from vidembed.api.index_tasks.operations import IndexTaskService
from vidembed.api.indexes.operations import IndexService
from vidembed.api.search.operations import SearchService
from vidembed.config import Settings
from vidembed.executors.open import make_executor
from vidembed.models.catalog import StackCatalog
from vidembed.search.open import open_clip_search
from vidembed.service.assets import AssetCore
from vidembed.service.index_search import IndexSearch
from vidembed.service.indexes import IndexCore
from vidembed.service.tasks import TaskCore, stack_of
from vidembed.service.webhooks import WebhookDeliverer, check_webhook_urls
from vidembed.stores.base import MediaStore, TaskStore
from vidembed.stores.open import open_asset_store, open_index_store, open_media_store, open_store


@dataclass
class Services:
    """Everything a process serves: the core, the v1.3 surface (``embed``), assets, Embed v2,
    the search indexes, their tasks and search."""

    settings: Settings
    core: TaskCore
    embed: TaskService
    assets: AssetService | None
    embed_v2: EmbedV2Service
    indexes: IndexService | None = None
    index_tasks: IndexTaskService | None = None
    search: SearchService | None = None
    webhooks: WebhookDeliverer | None = None  # with --webhook-url, where workers run

    def close(self) -> None:
        if self.webhooks is not None:  # first: it reads the task store, closed last
            self.webhooks.stop()
        if self.indexes is not None:
            self.indexes.close()
        if self.assets is not None:
            self.assets.close()
        self.core.close()


def open_core(settings: Settings, *, start_workers: bool = True) -> TaskCore:
    """The core over its parts, its executor started unless ``start_workers`` is False."""
    catalog = StackCatalog(settings.stacks)  # the stacks file is checked here, at start
    store = open_store(settings.database_url, settings.db_path)
    media_store = open_media_store(settings.media_url, settings.media_dir, settings.s3)
    core = TaskCore(
        settings,
        catalog=catalog,
        store=store,
        media_store=media_store,
        executor=make_executor(store, media_store, settings),  # threads by default
        search=open_clip_search(
            settings.search_index,
            settings.database_url,
            settings.data_dir / "index",
            store,
            partial(stack_of, catalog),
            settings.pgvector_ef_search,
        ),
    )
    if start_workers:
        core.start()
    return core


def compose(
    settings: Settings | None = None, *, start_workers: bool = True, with_assets: bool = True
) -> Services:
    """Every surface over one set of stores. ``start_workers=False``: nothing runs tasks or
    assets in this process (a CLI search, a test that drives workers itself); ``with_assets=False``:
    no asset store nor asset workers (``vidembed search``, the embed-only tests)."""
    settings = settings or Settings()
    if start_workers and settings.webhook_urls:
        check_webhook_urls(settings.webhook_urls, settings.allow_local_urls)  # before anything opens
    core = open_core(settings, start_workers=start_workers)
    assets = (
        open_assets(settings, start_workers=start_workers, media_store=core.media_store)
        if with_assets
        else None
    )
    services = Services(settings, core, TaskService(core), assets, embed_v2_over(core, assets))
    if with_assets:
        with_indexes(services)
    if start_workers and settings.webhook_urls:
        services.webhooks = open_webhooks(settings, core.store)
    return services


def embed_v2_over(core: TaskCore, assets: AssetService | None) -> EmbedV2Service:
    """Embed v2 over the core and the assets, which tell it when an asset is settled: the tasks
    waiting for that asset then start or fail (``EmbedV2Service.settle_waiting``)."""
    v2 = EmbedV2Service(core, assets.core if assets else None)
    if assets is not None:
        assets.core.on_settled(v2.settle_waiting)
    return v2


def open_tasks(settings: Settings | None = None, *, start_workers: bool = True) -> TaskService:
    """The v1.3 surface alone (no assets): what ``vidembed search`` and most tests need."""
    return TaskService(open_core(settings or Settings(), start_workers=start_workers))


def services_for(embed: TaskService, *, start_workers: bool = True) -> Services:
    """Every surface over the core of an already opened v1.3 service, the asset store and its
    workers opened beside it (a server over a service that a caller or a test opened first)."""
    settings = embed.settings
    if start_workers and settings.webhook_urls:
        check_webhook_urls(settings.webhook_urls, settings.allow_local_urls)
    assets = open_assets(settings, start_workers=start_workers, media_store=embed.core.media_store)
    services = with_indexes(Services(settings, embed.core, embed, assets, embed_v2_over(embed.core, assets)))
    if start_workers and settings.webhook_urls:
        services.webhooks = open_webhooks(settings, embed.core.store)
    return services


def open_webhooks(settings: Settings, store: TaskStore) -> WebhookDeliverer:
    """The webhook deliverer of ``settings.webhook_urls`` over the task store (the outbox is
    there), started: the URLs checked by the caller (``check_webhook_urls``) before any store
    opened, so that a bad URL fails the start with nothing left running."""
    deliverer = WebhookDeliverer(
        store,
        settings.webhook_urls,
        settings.webhook_secret,
        poll_seconds=settings.poll_seconds,
        backoff_seconds=settings.webhook_backoff_seconds,
        timeout_seconds=settings.webhook_timeout_seconds,
    )
    deliverer.start()
    return deliverer


def with_indexes(services: Services) -> Services:
    """Adds the Search API's surfaces (indexes and their videos, index tasks, search) over one
    index store (beside the tasks: the same database) and the task core."""
    settings = services.settings
    store = open_index_store(settings.database_url, settings.db_path)
    assets = services.assets.core if services.assets is not None else None
    core = IndexCore(store, services.core.catalog, services.core, assets)
    services.indexes = IndexService(core)
    services.index_tasks = IndexTaskService(core)
    services.search = SearchService(IndexSearch(core))
    return services


def open_assets(
    settings: Settings, *, start_workers: bool = True, media_store: MediaStore | None = None
) -> AssetService:
    """The assets surface over its store and a media store (the task core's, when given: one
    per process), its workers started unless ``start_workers`` is False."""
    store = open_asset_store(settings.database_url, settings.db_path)
    media = media_store or open_media_store(settings.media_url, settings.media_dir, settings.s3)
    core = AssetCore(settings, store=store, media_store=media)
    if start_workers:
        core.start()
    return AssetService(core)
