"""Webhooks: the events of ended tasks POSTed to the configured URLs, at least once, signed.

The store writes each event in the transaction that ends its task (vidembed/stores/outbox.py),
whichever process ran it; a ``WebhookDeliverer`` thread in each server started with
``--webhook-url`` sends them. Per (event, URL) a delivery is leased in the store like a task, so
when several servers share a database exactly one sends each attempt; a server killed before or
during a delivery leaves it to whichever deliverer looks after the lease ran out (its own, after a
restart). Hence *at least once*: a server killed after the receiver's 2xx and before it recorded
it sends the event again. Every attempt carries the same body and event id (made once, with the
event), so receivers drop duplicates by ``id``.

An attempt is delivered on any 2xx; any other status, a timeout or a connection error is retried
after ``backoff * 2**(attempt - 1)`` seconds, at most ``MAX_BACKOFF_SECONDS`` (1 s, 2 s, 4 s ...
5 min); a failure once the event is ``GIVE_UP_SECONDS`` (24 h) old abandons the delivery, logged.
Redirects are not followed (a receiver's 3xx is a failure: the signature is for one URL).

``TL-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">`` as TwelveLabs signs
(docs/SEARCH-API.md §7): ``sign`` makes it, ``verify`` is a receiver's check. ``t`` is the
attempt's time, so a retry is signed anew and passes a receiver's five-minute tolerance.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import socket
import threading
import time
from collections.abc import Sequence

import httpx

from vidembed import errors, intake
from vidembed.stores.base import TaskStore
from vidembed.stores.outbox import Delivery
from vidembed.version import __version__

log = logging.getLogger(__name__)

MAX_BACKOFF_SECONDS = 300.0
GIVE_UP_SECONDS = 24 * 3600.0
LEASE_SECONDS = 120.0  # longer than a claim's batch of attempts at their timeout
BATCH = 4  # deliveries claimed at once
# How far back a claim looks for events that have no delivery yet (TaskStore.claim_events'
# max_age): the whole give-up window at start and every SWEEP_SECONDS (a restarted server finds what
# it missed), else the last RECENT_SECONDS, far longer than a task's ending transaction takes to
# commit. The look is an anti-join over those events: an idle poll over a day of 100 000 events
# took 0.1-0.2 s, over the last 5 minutes of them 7-16 ms (PostgreSQL and SQLite, this machine,
# 2026-12-06).
SWEEP_SECONDS = 600.0
RECENT_SECONDS = 300.0
SIGNATURE_HEADER = "TL-Signature"


def _bytes(body: bytes | str) -> bytes:
    return body.encode() if isinstance(body, str) else body


def sign(secret: str, timestamp: int, body: bytes | str) -> str:
    """The ``TL-Signature`` header's value for ``body`` sent at ``timestamp`` (unix seconds)."""
    payload = str(int(timestamp)).encode() + b"." + _bytes(body)
    digest = hmac.new(secret.encode(), payload, hashlib.sha256).hexdigest()
    return f"t={int(timestamp)},v1={digest}"


def verify(
    header: str, body: bytes | str, secret: str, tolerance: float | None = 300, now: float | None = None
) -> bool:
    """A receiver's check of a ``TL-Signature`` header, as TwelveLabs documents it: split at the
    comma into ``t`` and ``v1``; ``v1`` must be the HMAC-SHA256 of ``t``, a dot and the **raw**
    body, keyed with the secret (compared in constant time), and ``t`` no more than ``tolerance``
    seconds from now (None: any age)."""
    fields: dict[str, str] = {}
    for part in header.split(","):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key] = value
    stamp, given = fields.get("t", ""), fields.get("v1", "")
    if not stamp.isdigit() or not given:
        return False
    if tolerance is not None and abs((time.time() if now is None else now) - int(stamp)) > tolerance:
        return False
    expected = sign(secret, int(stamp), body).split("v1=", 1)[1]
    return hmac.compare_digest(expected, given.lower())


def check_webhook_urls(urls: Sequence[str], allow_local: bool) -> None:
    """ConfigurationError naming the URL unless each is http(s) with a host and, unless local URLs
    are allowed, one that does not resolve to a loopback, private or link-local address: the guard
    every input URL goes through (``intake.check_url``), checked once, at start."""
    for url in urls:
        if not url.lower().startswith(("http://", "https://")):
            raise errors.ConfigurationError(f"A webhook URL must be http(s)://, not {url!r}.")
        try:
            intake.check_url(url, allow_local, parameter="webhook URL", what="webhook receiver")
        except errors.BadRequestError as exc:
            raise errors.ConfigurationError(f"Webhook URL {url}: {exc}") from None


def backoff(attempt: int, base: float) -> float:
    """Seconds before the attempt after ``attempt`` (counted from 1) failed: doubling, capped."""
    return min(base * 2 ** max(attempt - 1, 0), MAX_BACKOFF_SECONDS)


class WebhookDeliverer:
    """Sends the outbox's events to ``urls`` from a thread (``start``/``stop``), polling the store
    every ``poll_seconds`` while idle; ``deliver_due`` runs one round in the caller's thread."""

    def __init__(
        self,
        store: TaskStore,
        urls: Sequence[str],
        secret: str | None,
        *,
        poll_seconds: float = 1.0,
        backoff_seconds: float = 1.0,
        timeout_seconds: float = 10.0,
        give_up_seconds: float = GIVE_UP_SECONDS,
        lease_seconds: float = LEASE_SECONDS,
        worker: str | None = None,
        transport: httpx.BaseTransport | None = None,
    ) -> None:
        self.store = store
        self.urls = tuple(dict.fromkeys(urls))  # each once, in the given order
        self.secret = secret
        self.poll_seconds = poll_seconds
        self.backoff_seconds = backoff_seconds
        self.give_up_seconds = give_up_seconds
        self.lease_seconds = lease_seconds
        self.worker = worker or f"webhooks@{socket.gethostname()}:{os.getpid()}:{id(self):x}"
        self._http = httpx.Client(
            timeout=timeout_seconds,
            follow_redirects=False,
            transport=transport,
            headers={"User-Agent": f"vidembed/{__version__} webhooks"},
        )
        self._stopping = threading.Event()
        self._thread: threading.Thread | None = None
        self._swept_at: float | None = None  # when a claim last looked over the whole window

    def start(self) -> None:
        """Watches the URLs (from now on, if they are new to the store) and starts the thread."""
        self.store.watch_events(self.urls)
        if not self.secret:
            log.warning("webhooks: no secret (--webhook-secret): events are sent without TL-Signature")
        self._thread = threading.Thread(target=self._run, name="vidembed-webhooks", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 15.0) -> None:
        """Stops the thread after the attempt in hand (a delivery it leased and did not finish is
        sent again once its lease runs out) and closes the HTTP client."""
        self._stopping.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None
        self._http.close()

    def _run(self) -> None:
        while not self._stopping.is_set():
            try:
                busy = self.deliver_due() > 0
            except Exception:  # a store error (a database restarting): log, wait, go on
                log.exception("webhooks: the outbox could not be read")
                busy = False
            if not busy:
                self._stopping.wait(self.poll_seconds)

    def deliver_due(self) -> int:
        """One round: claims the due deliveries and attempts each; how many were attempted."""
        now = time.monotonic()
        look_back = RECENT_SECONDS
        if self._swept_at is None or now - self._swept_at >= SWEEP_SECONDS:
            look_back, self._swept_at = self.give_up_seconds, now
        claimed = self.store.claim_events(self.worker, self.urls, self.lease_seconds, BATCH, look_back)
        for delivery in claimed:
            if self._stopping.is_set():  # handed back unsent, for the next deliverer at once
                self.store.event_failed(
                    delivery.event_id, delivery.url, self.worker, "not sent: stopping", 0.0
                )
            else:
                self._attempt(delivery)
        return len(claimed)

    def _attempt(self, delivery: Delivery) -> None:
        body = delivery.body.encode()
        headers = {"Content-Type": "application/json"}
        if self.secret:
            headers[SIGNATURE_HEADER] = sign(self.secret, int(time.time()), body)
        try:
            response = self._http.post(delivery.url, content=body, headers=headers)
            error = None if response.is_success else f"HTTP {response.status_code}"
        except httpx.HTTPError as exc:
            error = f"{type(exc).__name__}: {exc}"
        if error is None:
            self.store.event_delivered(delivery.event_id, delivery.url, self.worker)
            return
        delay = backoff(delivery.attempt, self.backoff_seconds)
        age = time.time() - delivery.created_at
        if age + delay > self.give_up_seconds:
            log.warning(
                "webhooks: giving up on event %s to %s after %d attempts over %.0f s (last: %s)",
                delivery.event_id,
                delivery.url,
                delivery.attempt,
                age,
                error,
            )
            self.store.event_failed(delivery.event_id, delivery.url, self.worker, error, None)
        else:
            log.info(
                "webhooks: event %s to %s failed (%s, attempt %d); next in %.0f s",
                delivery.event_id,
                delivery.url,
                error,
                delivery.attempt,
                delay,
            )
            self.store.event_failed(delivery.event_id, delivery.url, self.worker, error, delay)
