"""The EscalationStore API, on SQLite and PostgreSQL alike."""
from __future__ import annotations

import io
import json
import threading
from datetime import timezone

import pytest

from reviewnlp.errors import StoreError
from reviewnlp.store import EscalationStore, TransitionError, UnknownEscalationError, open_store

from .store_helpers import make_decision, make_prediction, raw_execute, raw_query


def put(store, review_id, **kwargs):
    prediction = make_prediction(review_id, **kwargs)
    return store.put(prediction, make_decision(prediction), text=f"masked text of {review_id}")


def test_store_implements_the_protocol(store):
    assert isinstance(store, EscalationStore)
    assert store.backend in ("sqlite", "postgresql")


def test_put_is_idempotent_on_review_id_and_model_version(store):
    first, created = put(store, "r1")
    again, created_again = put(store, "r1")
    assert created and not created_again
    assert again == first
    other_model, created_other = put(store, "r1", model_version="test-2")
    assert created_other and other_model.id != first.id
    assert store.count() == 2
    assert len(store.events(first.id)) == 1
    assert len(store.outbox()) == 2


def test_put_stores_the_decision_prediction_and_text_as_given(store):
    prediction = make_prediction("r-zh", severity="critical", causes=("product_quality",), flags=("safety",))
    decision = make_decision(prediction)
    escalation, _ = store.put(prediction, decision, text="吃完进了医院 [phone]")
    stored = store.get(escalation.id)
    assert stored.text == "吃完进了医院 [phone]"
    assert (stored.queue, stored.team, stored.priority, stored.status) == ("safety", "safety team", 1, "open")
    assert stored.due_at == decision.due_at and stored.due_at.tzinfo is not None
    assert stored.created_at.utcoffset() == timezone.utc.utcoffset(None)
    assert stored.prediction == json.loads(json.dumps(prediction.to_dict()))
    assert stored.decision["reasons"][0]["rule"] == "rule_safety_flag"
    assert stored.review_id == "r-zh" and stored.model_version == "test-1"


def test_put_rejects_what_cannot_be_an_escalation(store):
    no_action = make_prediction("r-none", severity="none", causes=())
    with pytest.raises(ValueError, match="decision.queue"):
        store.put(no_action, make_decision(no_action))
    anonymous = make_prediction("")
    with pytest.raises(ValueError, match="prediction.review_id"):
        store.put(anonymous, make_decision(anonymous))
    assert store.count() == 0


def test_status_moves_open_acknowledged_resolved_with_who_when_and_note(store):
    escalation, _ = put(store, "r1")
    assert store.ack(escalation.id, "alice").status == "acknowledged"
    assert store.resolve(escalation.id, "bob", note="refunded").status == "resolved"
    events = store.events(escalation.id)
    assert [(e.status, e.actor, e.note) for e in events] == [
        ("open", "system", None), ("acknowledged", "alice", None), ("resolved", "bob", "refunded")]
    assert events[0].at <= events[1].at <= events[2].at
    assert store.get(escalation.id).status == "resolved"


def test_resolve_straight_from_open_is_allowed(store):
    escalation, _ = put(store, "r1")
    assert store.resolve(escalation.id, "carol").status == "resolved"


@pytest.mark.parametrize(("steps", "bad", "message"), [
    ([("ack", "a")], "ack", "cannot acknowledge escalation .*: it is acknowledged; allowed only from open"),
    ([("resolve", "a")], "ack", "cannot acknowledge escalation .*: it is resolved"),
    ([("ack", "a"), ("resolve", "b")], "resolve", "cannot resolve escalation .*: it is resolved; allowed"),
])
def test_invalid_transitions_are_rejected_and_change_nothing(store, steps, bad, message):
    escalation, _ = put(store, "r1")
    for method, who in steps:
        getattr(store, method)(escalation.id, who)
    before = store.events(escalation.id)
    with pytest.raises(TransitionError, match=message):
        getattr(store, bad)(escalation.id, "zed")
    assert store.events(escalation.id) == before


def test_unknown_ids_are_rejected_with_the_id(store):
    for call in (lambda: store.get(999), lambda: store.ack(999, "a"), lambda: store.resolve(999, "a"),
                 lambda: store.events(999)):
        with pytest.raises(UnknownEscalationError, match="no escalation with id 999"):
            call()
    assert issubclass(UnknownEscalationError, StoreError)


def test_ack_requires_who(store):
    escalation, _ = put(store, "r1")
    with pytest.raises(ValueError, match="who"):
        store.ack(escalation.id, "  ")


def test_concurrent_acks_only_one_wins(store_url):
    with open_store(store_url) as store:
        escalation, _ = put(store, "r1")
    stores = [open_store(store_url) for _ in range(4)]
    results = []
    barrier = threading.Barrier(len(stores))

    def ack(s, who):
        barrier.wait()
        try:
            s.ack(escalation.id, who)
            results.append("ok")
        except TransitionError:
            results.append("rejected")

    threads = [threading.Thread(target=ack, args=(s, f"user{i}")) for i, s in enumerate(stores)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert sorted(results) == ["ok", "rejected", "rejected", "rejected"]
    assert [e.status for e in stores[0].events(escalation.id)] == ["open", "acknowledged"]
    for s in stores:
        s.close()


def test_list_filters_pages_and_counts(store):
    causes = [("logistics",) if i % 2 else ("product_quality",) for i in range(7)]
    ids = [put(store, f"r{i}", causes=c)[0].id for i, c in enumerate(causes)]
    store.ack(ids[0], "a")
    store.resolve(ids[1], "a")
    assert [e.id for e in store.list()] == ids
    assert [e.id for e in store.list(status="acknowledged")] == [ids[0]]
    assert [e.id for e in store.list(queue="logistics")] == ids[1::2]
    assert [e.id for e in store.list(status="open", queue="quality")] == ids[2::2]
    page1 = store.list(limit=3)
    page2 = store.list(limit=3, after_id=page1[-1].id)
    assert [e.id for e in page1 + page2] == ids[:6]
    assert store.count() == 7 and store.count(status="open") == 5 and store.count(queue="logistics") == 3
    with pytest.raises(ValueError, match="status"):
        store.list(status="closed")
    with pytest.raises(ValueError, match="limit"):
        store.list(limit=0)


def test_export_writes_one_json_line_per_escalation_with_events(store):
    ids = [put(store, f"r{i}")[0].id for i in range(3)]
    store.ack(ids[1], "alice", note="on it")
    out = io.StringIO()
    assert store.export(out) == 3
    records = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [r["id"] for r in records] == ids
    assert [r["review_id"] for r in records] == ["r0", "r1", "r2"]
    assert [e["status"] for e in records[1]["events"]] == ["open", "acknowledged"]
    assert records[1]["events"][1]["note"] == "on it"
    with pytest.raises(ValueError, match="format"):
        store.export(io.StringIO(), format="xml")


def test_healthcheck_reports_a_writable_store(store):
    health = store.healthcheck()
    assert health.ok and health.backend == store.backend and health.location == store.location


@pytest.mark.parametrize("statement", [
    "UPDATE events SET actor = 'mallory'",
    "DELETE FROM events",
])
def test_events_are_append_only(store, store_url, statement):
    escalation, _ = put(store, "r1")
    store.ack(escalation.id, "alice")
    with pytest.raises(Exception, match="append-only"):
        raw_execute(store_url, statement)
    events = [(e.status, e.actor) for e in store.events(escalation.id)]
    assert events == [("open", "system"), ("acknowledged", "alice")]
    assert raw_query(store_url, "SELECT COUNT(*) FROM events") == [(2,)]


def test_a_closed_store_says_so(store_url):
    store = open_store(store_url)
    store.close()
    with pytest.raises(StoreError, match="closed"):
        store.count()
    store.close()  # idempotent


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)
def test_a_lost_postgres_connection_is_a_store_error_then_reconnects(store_url):
    with open_store(store_url) as store:
        put(store, "r1")
        backend_pid = store._conn.info.backend_pid  # the server side of the store's connection
        raw_execute(store_url, f"SELECT pg_terminate_backend({backend_pid})")
        with pytest.raises(StoreError, match=r"\*\*\*@.*cannot count escalations"):
            store.count()
        assert store.count() == 1  # the next call reconnects
        assert store.healthcheck().ok
