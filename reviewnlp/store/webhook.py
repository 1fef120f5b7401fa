"""Deliver new escalations to a webhook, from the store's outbox.

A store opened with ``outbox=True`` writes one outbox row per new escalation in the same
transaction as the escalation, so nothing is stored without being queued for delivery. The
forwarder claims due rows, POSTs each payload as JSON, and records the outcome in the row:
delivered, or failed with the error, the attempt count and the time of the next attempt
(exponential backoff with jitter), or ``dead`` after ``max_attempts``. All of its state is in
the database, so a restarted forwarder carries on where the last one stopped, and a receiver
that is down loses nothing.

Delivery is at least once: a forwarder killed between a successful POST and recording it sends
that row again. Each request carries an ``Idempotency-Key`` header (``reviewnlp-outbox-<row id>``)
for the receiver to drop repeats.

>>> WebhookForwarder.backoff_delay(1, base=2.0, cap=600.0, jitter=0.0)
2.0
>>> WebhookForwarder.backoff_delay(20, base=2.0, cap=600.0, jitter=0.0)
600.0
"""
from __future__ import annotations

import json
import logging
import random
import threading
import urllib.error
import urllib.request
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any
from urllib.parse import urlsplit

from ..errors import StoreError
from .base import EscalationStore, OutboxItem

__all__ = ["WebhookForwarder", "ForwardResult"]

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ForwardResult:
    """What one :meth:`WebhookForwarder.run_once` pass did."""

    attempted: int = 0
    delivered: int = 0
    retrying: int = 0
    dead: int = 0


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    """A redirect is a failed delivery, not a silent GET to somewhere else."""

    def redirect_request(self, *args: Any, **kwargs: Any) -> None:
        return None


class WebhookForwarder:
    """POST pending outbox rows of ``store`` to ``url``.

    Parameters
    ----------
    store
        A store opened with ``outbox=True``.
    url
        An ``http://`` or ``https://`` URL; only a 2xx answer counts as delivered.
    timeout
        Seconds per request.
    max_attempts
        Attempts before a row is marked ``dead``.
    base_delay, max_delay
        Backoff: the n-th retry waits about ``base_delay * 2**(n-1)`` seconds, at most
        ``max_delay``, with up to half of it drawn at random (jitter).
    batch_size
        Rows claimed per pass.
    lease
        Seconds a claimed row stays hidden from other forwarders (longer than ``timeout``).
    poll_interval
        Seconds :meth:`run_forever` sleeps when nothing is due.
    headers
        Extra request headers (e.g. an ``Authorization`` token).
    """

    def __init__(self, store: EscalationStore, url: str, *, timeout: float = 10.0, max_attempts: int = 10,
                 base_delay: float = 2.0, max_delay: float = 600.0, batch_size: int = 20, lease: float = 60.0,
                 poll_interval: float = 2.0, headers: dict[str, str] | None = None,
                 rng: random.Random | None = None):
        scheme = urlsplit(url).scheme
        if scheme not in ("http", "https"):
            raise ValueError(f"url: expected an http:// or https:// URL, got {url!r}")
        if max_attempts < 1:
            raise ValueError(f"max_attempts: expected at least 1, got {max_attempts}")
        if lease <= timeout:
            raise ValueError(f"lease: must be longer than the request timeout ({timeout} s), got {lease}")
        self.store = store
        self.url = url
        self.timeout = timeout
        self.max_attempts = max_attempts
        self.base_delay = base_delay
        self.max_delay = max_delay
        self.batch_size = batch_size
        self.lease = lease
        self.poll_interval = poll_interval
        self.headers = dict(headers or {})
        self._rng = rng or random.Random()
        self._opener = urllib.request.build_opener(_NoRedirect())

    @staticmethod
    def backoff_delay(attempts: int, *, base: float, cap: float, jitter: float) -> float:
        """Seconds to wait after the ``attempts``-th failure: ``min(cap, base * 2**(attempts-1))``,
        minus ``jitter`` (0-1) times up to half of it.

        >>> WebhookForwarder.backoff_delay(3, base=1.0, cap=60.0, jitter=1.0)
        2.0
        """
        delay = min(cap, base * 2 ** min(attempts - 1, 62))
        return delay - jitter * delay / 2

    def run_once(self) -> ForwardResult:
        """Claim the due outbox rows and try to deliver each once.

        Raises
        ------
        StoreError
            The store cannot be read or written (the delivery state of a row already posted may
            then be recorded on a later pass: at least once).
        """
        items = self.store.claim_outbox(limit=self.batch_size, lease=timedelta(seconds=self.lease))
        delivered = retrying = dead = 0
        for item in items:
            error = self._post(item)
            if error is None:
                self.store.outbox_delivered(item.id)
                delivered += 1
                continue
            if item.attempts >= self.max_attempts:
                self.store.outbox_failed(item.id, error, retry_at=None)
                logger.error("webhook: gave up on outbox row %s (escalation %s) after %d attempts: %s",
                             item.id, item.escalation_id, item.attempts, error)
                dead += 1
                continue
            delay = self.backoff_delay(item.attempts, base=self.base_delay, cap=self.max_delay,
                                       jitter=self._rng.random())
            self.store.outbox_failed(item.id, error,
                                     retry_at=datetime.now(timezone.utc) + timedelta(seconds=delay))
            logger.warning("webhook: outbox row %s attempt %d/%d failed (%s); retrying in %.1f s",
                           item.id, item.attempts, self.max_attempts, error, delay)
            retrying += 1
        return ForwardResult(attempted=len(items), delivered=delivered, retrying=retrying, dead=dead)

    def run_forever(self, stop_event: threading.Event) -> None:
        """Call :meth:`run_once` until ``stop_event`` is set, sleeping when nothing is due.

        Store errors are logged and retried with backoff; they do not end the loop.
        """
        failures = 0
        while not stop_event.is_set():
            try:
                result = self.run_once()
            except StoreError as exc:
                failures += 1
                delay = self.backoff_delay(failures, base=self.poll_interval, cap=max(self.max_delay, 1.0),
                                           jitter=self._rng.random())
                logger.error("webhook: %s; trying again in %.1f s", exc, delay)
                stop_event.wait(delay)
                continue
            failures = 0
            if result.attempted < self.batch_size:
                stop_event.wait(self.poll_interval)

    def _post(self, item: OutboxItem) -> str | None:
        """POST one payload; return None on a 2xx answer, else a one-line error."""
        body = json.dumps(item.payload, ensure_ascii=False).encode("utf-8")
        headers = {"Content-Type": "application/json; charset=utf-8", "User-Agent": "reviewnlp-webhook",
                   "Idempotency-Key": f"reviewnlp-outbox-{item.id}", **self.headers}
        request = urllib.request.Request(self.url, data=body, headers=headers, method="POST")
        try:
            with self._opener.open(request, timeout=self.timeout) as response:
                response.read(65536)
                return None
        except urllib.error.HTTPError as exc:
            return f"HTTP {exc.code} {exc.reason}"
        except urllib.error.URLError as exc:
            return f"cannot reach {self.url}: {exc.reason}"
        except (OSError, ValueError) as exc:  # timeouts, resets, malformed answers
            return f"cannot deliver to {self.url}: {type(exc).__name__}: {exc}"
