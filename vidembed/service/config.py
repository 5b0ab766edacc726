"""Service settings, with defaults a laptop user needs not touch; each can come from the env."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

import platformdirs

GB = 1024**3


def default_data_dir() -> Path:
    configured = os.environ.get("VIDEMBED_HOME")
    return Path(configured) if configured else Path(platformdirs.user_data_dir("vidembed"))


def _env_float(name: str, default: float) -> float:
    value = os.environ.get(name)
    return float(value) if value else default


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

    @property
    def db_path(self) -> Path:
        return self.data_dir / "vidembed.sqlite3"

    @property
    def media_dir(self) -> Path:
        return self.data_dir / "media"
