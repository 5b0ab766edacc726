"""API keys: ``x-api-key`` checked against configured keys; each key sees only its own tasks."""

from __future__ import annotations

import hashlib
import hmac
from pathlib import Path

from vidembed.errors import api_key_invalid


class ApiKeys:
    def __init__(self, keys: set[str]) -> None:
        self._digests = {self.owner_of(k) for k in keys if k}

    @classmethod
    def from_config(cls, keys_file: str | Path | None = None, listed: str = "") -> ApiKeys:
        """Keys from a file (one per line, ``#`` comments) and/or a comma-separated list (the
        CLI passes VIDEMBED_API_KEYS)."""
        keys = {k.strip() for k in listed.split(",") if k.strip()}
        if keys_file:
            for line in Path(keys_file).read_text().splitlines():
                line = line.split("#", 1)[0].strip()
                if line:
                    keys.add(line)
        return cls(keys)

    @property
    def open(self) -> bool:
        return not self._digests

    @staticmethod
    def owner_of(key: str) -> str:
        """Tasks are stored under a digest of the key, never the key itself."""
        return hashlib.sha256(key.encode()).hexdigest()[:32]

    def authenticate(self, key: str | None) -> str:
        """The owner id for a request; raises AuthenticationError (401) for a missing or unknown key."""
        if self.open:
            return ""
        if not key or not key.strip():
            raise api_key_invalid(missing=True)
        owner = self.owner_of(key)
        if not any(hmac.compare_digest(owner, d) for d in self._digests):
            raise api_key_invalid(missing=False)
        return owner
