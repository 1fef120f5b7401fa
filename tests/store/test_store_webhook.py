"""The webhook outbox and forwarder: a receiver that is down loses nothing; state survives restarts."""
from __future__ import annotations

import json
import socket
import threading
import time
from datetime import timedelta
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from reviewnlp.store import open_store
from reviewnlp.store.webhook import WebhookForwarder

from .store_helpers import make_decision, make_prediction

FAST = {"base_delay": 0.05, "max_delay": 0.2, "timeout": 2.0, "lease": 5.0, "poll_interval": 0.05}


class Receiver:
    """A local webhook receiver on ``port``; ``status`` is what it answers."""

    def __init__(self, port: int, status: int = 200):
        self.received: list[dict] = []
        self.keys: list[str] = []
        self.status = status
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 (http.server's name)
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if receiver.status == 200:
                    receiver.received.append(json.loads(body))
                    receiver.keys.append(self.headers["Idempotency-Key"])
                self.send_response(receiver.status)
                self.end_headers()

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", port), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def put(store, review_id):
    prediction = make_prediction(review_id)
    return store.put(prediction, make_decision(prediction))[0]


def deliver_all(forwarder, store, timeout=10.0):
    deadline = time.monotonic() + timeout
    while store.outbox(status="pending") and time.monotonic() < deadline:
        forwarder.run_once()
        time.sleep(0.02)


def test_receiver_down_then_up_gets_each_escalation_once_after_a_forwarder_restart(store_url):
    port = free_port()
    url = f"http://127.0.0.1:{port}/hook"
    with open_store(store_url, outbox=True) as store:
        ids = [put(store, f"r{i}").id for i in range(5)]
        put(store, "r0")  # a repeat put queues nothing new
        result = WebhookForwarder(store, url, **FAST).run_once()  # nobody is listening
        assert (result.attempted, result.delivered, result.retrying) == (5, 0, 5)

    # A new process would see the same: the state is in the database.
    with open_store(store_url, outbox=True) as store:
        rows = store.outbox()
        assert [r.escalation_id for r in rows] == ids
        assert all(r.status == "pending" and r.attempts == 1 and "cannot reach" in r.last_error for r in rows)
        receiver = Receiver(port)
        try:
            deliver_all(WebhookForwarder(store, url, **FAST), store)
        finally:
            receiver.close()
        assert sorted(r["escalation"]["id"] for r in receiver.received) == ids
        assert sorted(r["escalation"]["review_id"] for r in receiver.received) == [f"r{i}" for i in range(5)]
        assert all(r["event"] == "escalation.created" for r in receiver.received)
        assert sorted(receiver.keys) == sorted(f"reviewnlp-outbox-{r.id}" for r in rows)
        delivered = store.outbox()
        assert all(r.status == "delivered" and r.attempts >= 2 and r.delivered_at for r in delivered)
        assert WebhookForwarder(store, url, **FAST).run_once().attempted == 0  # nothing is sent twice


def test_a_forwarder_killed_after_claiming_loses_nothing(store_url):
    port = free_port()
    receiver = Receiver(port)
    try:
        with open_store(store_url, outbox=True) as store:
            escalation = put(store, "r1")
            claimed = store.claim_outbox(lease=timedelta(seconds=0.3))  # ... and then the forwarder died
            assert [c.escalation_id for c in claimed] == [escalation.id]
            assert store.claim_outbox() == []  # hidden while leased
            time.sleep(0.4)
            deliver_all(WebhookForwarder(store, f"http://127.0.0.1:{port}/", **FAST), store)
            assert [r["escalation"]["id"] for r in receiver.received] == [escalation.id]
            assert store.outbox()[0].attempts == 2
    finally:
        receiver.close()


def test_run_forever_delivers_until_stopped(store):
    port = free_port()
    receiver = Receiver(port)
    stop = threading.Event()
    forwarder = WebhookForwarder(store, f"http://127.0.0.1:{port}/", **FAST)
    thread = threading.Thread(target=forwarder.run_forever, args=(stop,))
    thread.start()
    try:
        escalation = put(store, "r1")
        deadline = time.monotonic() + 10
        while not receiver.received and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        stop.set()
        thread.join(timeout=10)
        receiver.close()
    assert not thread.is_alive()
    assert [r["escalation"]["id"] for r in receiver.received] == [escalation.id]


def test_gives_up_after_max_attempts_and_records_it(store):
    port = free_port()
    receiver = Receiver(port, status=503)
    try:
        put(store, "r1")
        forwarder = WebhookForwarder(store, f"http://127.0.0.1:{port}/", max_attempts=3, **FAST)
        deadline = time.monotonic() + 10
        while store.outbox(status="pending") and time.monotonic() < deadline:
            forwarder.run_once()
            time.sleep(0.05)
    finally:
        receiver.close()
    (row,) = store.outbox()
    assert (row.status, row.attempts, row.last_error) == ("dead", 3, "HTTP 503 Service Unavailable")
    assert store.claim_outbox() == []


def test_backoff_grows_exponentially_with_jitter_and_a_cap():
    delays = [WebhookForwarder.backoff_delay(n, base=1.0, cap=30.0, jitter=0.0) for n in range(1, 8)]
    assert delays == [1.0, 2.0, 4.0, 8.0, 16.0, 30.0, 30.0]
    assert WebhookForwarder.backoff_delay(3, base=1.0, cap=30.0, jitter=0.999) == pytest.approx(2.002)


@pytest.mark.parametrize("url", ["file:///etc/passwd", "ftp://example.com/x", "127.0.0.1:8080"])
def test_only_http_urls_are_accepted(store, url):
    with pytest.raises(ValueError, match="url"):
        WebhookForwarder(store, url)
