"""Service settings, with defaults a laptop user needs not touch; each can come from the env."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

from vidembed.errors import ConfigurationError
from vidembed.models.stack import StackSettings
from vidembed.models.stacks_file import StackConfig
from vidembed.stores.s3 import S3Settings

GB = 1024**3


def default_data_dir() -> Path:
    configured = os.environ.get("VIDEMBED_HOME")
    return Path(configured) if configured else Path(platformdirs.user_data_dir("vidembed"))


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


def _env_optional_float(name: str) -> float | None:
    value = os.environ.get(name)
    return float(value) if value else None


def stacks_file_from_env() -> Path | None:
    """``VIDEMBED_STACKS``: a TOML stacks file adding stacks to the built-in one."""
    value = os.environ.get("VIDEMBED_STACKS", "").strip()
    return Path(value).expanduser() if value else None


def language_from_env() -> str | None:
    """``VIDEMBED_LANGUAGE``: the built-in stack's Whisper language, or ``auto`` to detect;
    default ``en``. The built-in text encoder (all-MiniLM-L6-v2) is English, and detection on
    short or noisy tracks is unreliable (an espeak voice over animal sounds was taken for Thai)."""
    value = os.environ.get("VIDEMBED_LANGUAGE", "en").strip()
    return None if value in ("", "auto") else value


def models_dir_from_env() -> Path | None:
    """``VIDEMBED_MODELS``: where prepared weights and fetched hub models are kept; unset: None, the
    per-user cache folder (``~/.cache/vidembed/models`` on Linux) of each process that loads them."""
    value = os.environ.get("VIDEMBED_MODELS")
    return Path(value) if value else None


def hf_endpoint_from_env() -> str | None:
    """``HF_ENDPOINT``: the Hugging Face hub that hub ids are fetched from (a mirror); unset:
    huggingface.co."""
    return os.environ.get("HF_ENDPOINT", "").rstrip("/") or None


def asr_beam_from_env() -> int:
    """``VIDEMBED_ASR_BEAM``: Whisper's beam width, 1-10; default 5 (1 is the fast mode)."""
    raw = os.environ.get("VIDEMBED_ASR_BEAM", "5").strip() or "5"
    if not raw.isdigit() or not 1 <= int(raw) <= 10:
        raise ConfigurationError(f"VIDEMBED_ASR_BEAM must be a whole number from 1 to 10, not {raw!r}")
    return int(raw)


def s3_from_env() -> S3Settings:
    """The standard AWS variables for an ``s3://`` media store: ``AWS_ENDPOINT_URL`` (MinIO or
    another S3-compatible server), ``AWS_ACCESS_KEY_ID``, ``AWS_SECRET_ACCESS_KEY`` and
    ``AWS_DEFAULT_REGION``; unset ones are left to boto3's own chain (~/.aws, an instance role)."""

    def value(name: str) -> str | None:
        return os.environ.get(name, "").strip() or None

    return S3Settings(
        endpoint_url=value("AWS_ENDPOINT_URL"),
        access_key_id=value("AWS_ACCESS_KEY_ID"),
        secret_access_key=value("AWS_SECRET_ACCESS_KEY"),
        region=value("AWS_DEFAULT_REGION"),
    )


def webhook_urls_from_env() -> tuple[str, ...]:
    """``VIDEMBED_WEBHOOK_URL``: the URLs that receive the events of ended tasks, comma-separated
    (vidembed.service.webhooks); unset: none, no webhooks."""
    return tuple(u.strip() for u in os.environ.get("VIDEMBED_WEBHOOK_URL", "").split(",") if u.strip())


@dataclass
class Settings:
    data_dir: Path = field(default_factory=default_data_dir)
    workers: int = field(default_factory=lambda: int(_env_float("VIDEMBED_WORKERS", 1)))
    lease_seconds: float = field(default_factory=lambda: _env_float("VIDEMBED_LEASE_SECONDS", 60))
    heartbeat_seconds: float = 2.0
    max_attempts: int = 3
    # A task whose engine process reports no progress this long is stopped and fails.
    stall_seconds: float = field(default_factory=lambda: _env_float("VIDEMBED_STALL_SECONDS", 120))
    poll_seconds: float = 0.5
    # A synchronous request (POST /embed audio, POST /embed-v2 audio and video) waits this long
    # for its task: the SDK's default timeout, after which nobody is listening any more.
    sync_wait_seconds: float = field(default_factory=lambda: _env_float("VIDEMBED_SYNC_WAIT_SECONDS", 600))
    max_upload_bytes: int = field(
        default_factory=lambda: int(_env_float("VIDEMBED_MAX_UPLOAD_BYTES", 2 * GB))
    )
    max_download_bytes: int = field(
        default_factory=lambda: int(_env_float("VIDEMBED_MAX_DOWNLOAD_BYTES", 2 * GB))
    )
    download_timeout_seconds: float = field(
        default_factory=lambda: _env_float("VIDEMBED_DOWNLOAD_TIMEOUT", 600)
    )
    max_redirects: int = 5
    max_duration_seconds: float = field(default_factory=lambda: _env_float("VIDEMBED_MAX_DURATION", 4 * 3600))
    # Tasks one API key may have processing at once; more get 429 too_many_requests.
    max_active_tasks_per_owner: int = field(
        default_factory=lambda: int(_env_float("VIDEMBED_MAX_ACTIVE_TASKS_PER_KEY", 100))
    )
    # file:// URLs and loopback/private addresses: fine on a laptop, refused by a shared server.
    allow_local_urls: bool = True
    stacks_file: Path | None = field(default_factory=stacks_file_from_env)
    asr_beam: int = field(default_factory=asr_beam_from_env)
    language: str | None = field(default_factory=language_from_env)
    models_dir: Path | None = field(default_factory=models_dir_from_env)
    hf_endpoint: str | None = field(default_factory=hf_endpoint_from_env)
    # Stacks added by code, not by the environment (the tests' fake stack, vidembed.models.fake).
    extra_stacks: tuple[StackConfig, ...] = ()
    # Where tasks and vectors live: None is SQLite in the data folder; postgresql://... a shared
    # PostgreSQL (vidembed.stores.base.open_store; docs/POSTGRES.md).
    database_url: str | None = field(default_factory=lambda: os.environ.get("VIDEMBED_DATABASE_URL") or None)
    # Where inputs live: None is the data folder's media/; s3://bucket/prefix S3-compatible object
    # storage reached with ``s3`` (vidembed.stores.media.open_media_store; docs/MEDIA_STORAGE.md).
    media_url: str | None = field(default_factory=lambda: os.environ.get("VIDEMBED_MEDIA_URL") or None)
    # How search finds clips: "local" (the default: the data folder's exact index,
    # vidembed.search.exact, whatever the store) or "pgvector" (inside PostgreSQL with
    # pgvector's HNSW graphs: vidembed.search.pgvector). docs/SEARCH.md measures both.
    search_index: str = field(default_factory=lambda: os.environ.get("VIDEMBED_SEARCH_INDEX", "local"))
    # With search_index "pgvector": candidates each graph search asks for (hnsw.ef_search; measured
    # at 1M clustered vectors: recall@10 0.69 at 100, 0.89 at 400, 0.94 at 1,000; docs/SEARCH.md).
    pgvector_ef_search: int = field(
        default_factory=lambda: int(_env_float("VIDEMBED_PGVECTOR_EF_SEARCH", 100))
    )
    s3: S3Settings = field(default_factory=s3_from_env)
    # Who runs the tasks: "threads" (worker threads of this process, each with an engine child
    # process: the default) or "ray" (a pool of Ray actors at ray_address; docs/RAY.md). With "ray",
    # ``workers`` is the number of actors, so at most that many tasks are claimed at once.
    executor: str = field(default_factory=lambda: os.environ.get("VIDEMBED_EXECUTOR", "threads"))
    # A Ray cluster's address (HOST:PORT of its GCS, or ray://HOST:10001); None: "auto" (RAY_ADDRESS,
    # or the cluster started on this machine by `ray start`).
    ray_address: str | None = field(default_factory=lambda: os.environ.get("VIDEMBED_RAY_ADDRESS") or None)
    # What each Ray actor asks for (docs/RAY.md): CPUs, and GPUs (None: 1 when the cluster has
    # GPUs, else 0; a fraction such as 0.25 lets four actors share one GPU).
    ray_actor_cpus: float = field(default_factory=lambda: _env_float("VIDEMBED_RAY_ACTOR_CPUS", 1))
    ray_actor_gpus: float | None = field(
        default_factory=lambda: _env_optional_float("VIDEMBED_RAY_ACTOR_GPUS")
    )
    # Webhooks (vidembed.service.webhooks; docs/SEARCH-API.md): the URLs every ended task's event
    # is POSTed to, the secret that signs them (TL-Signature; None: unsigned), the first retry's
    # delay (doubling up to 5 min; the tests shorten it) and each POST's timeout.
    webhook_urls: tuple[str, ...] = field(default_factory=webhook_urls_from_env)
    webhook_secret: str | None = field(
        default_factory=lambda: os.environ.get("VIDEMBED_WEBHOOK_SECRET") or None
    )
    webhook_backoff_seconds: float = 1.0
    webhook_timeout_seconds: float = 10.0

    @property
    def stacks(self) -> StackSettings:
        """What the worker processes need to build the same stacks."""
        return StackSettings(
            self.stacks_file,
            self.asr_beam,
            self.language,
            extra_stacks=self.extra_stacks,
            models_dir=self.models_dir,
            hf_endpoint=self.hf_endpoint,
        )

    @property
    def db_path(self) -> Path:
        return self.data_dir / "vidembed.sqlite3"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"
