"""POST /classify and the /escalations endpoints through the Flask test client."""
from __future__ import annotations

import json

import pytest

from reviewnlp.errors import StoreError
from reviewnlp.normalize import mask_personal_data, normalize
from reviewnlp.service.api import review_id_for
from reviewnlp.store import open_store

PREDICTION_KEYS = {"id", "lang", "causes", "cause_scores", "severity", "severity_scores", "flags", "flag_scores",
                   "confidence", "model_version", "explanation", "meta", "routing", "escalation"}


def post(client, body, path="/classify", **kwargs):
    return client.post(path, json=body, **kwargs)


def assert_error(response, status, code, field=None):
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.is_json, response.get_data(as_text=True)
    error = response.get_json()["error"]
    assert error["code"] == code, error
    assert error["field"] == field, error
    assert error["message"]
    assert error["request_id"] == response.headers["X-Request-ID"]
    return error


def stored(app, review_id):
    """The escalations of ``review_id``, read through a connection of our own (committed data only)."""
    with open_store(app.config["STORE"], create=False) as store:
        found, after = [], None
        while page := store.list(limit=500, after_id=after):
            found += [e for e in page if e.review_id == review_id]
            after = page[-1].id
        return found


# --------------------------------------------------------------------------------------------------
# POST /classify: results
# --------------------------------------------------------------------------------------------------


def test_single_review_gets_prediction_routing_and_no_escalation(client, calm_text):
    response = post(client, {"id": "calm-1", "text": calm_text, "meta": {"shop": "s1"}})
    assert response.status_code == 200
    body = response.get_json()
    assert set(body) == PREDICTION_KEYS
    assert body["id"] == "calm-1" and body["meta"] == {"shop": "s1"}
    assert body["routing"]["escalate"] is False
    assert body["escalation"] is None


def test_escalation_is_committed_before_the_response(app, client, escalating_text):
    response = post(client, {"id": "esc-1", "text": escalating_text})
    body = response.get_json()
    assert response.status_code == 200
    assert body["routing"]["escalate"] is True
    assert body["escalation"]["stored"] is True and body["escalation"]["created"] is True
    # the response has been received: the escalation must already be committed (read via another connection)
    [escalation] = stored(app, "esc-1")
    assert escalation.id == body["escalation"]["id"]
    assert escalation.queue == body["routing"]["queue"]
    assert escalation.status == "open"


def test_stored_text_is_normalized_and_masked(app, client, escalating_text):
    text = escalating_text + " 电话13812345678 邮箱 a.b@example.com"
    body = post(client, {"id": "esc-pii", "text": text}).get_json()
    assert body["escalation"]["stored"] is True
    [escalation] = stored(app, "esc-pii")
    assert escalation.text == mask_personal_data(normalize(text))
    assert "13812345678" not in escalation.text and "a.b@example.com" not in escalation.text
    assert "[phone]" in escalation.text and "[email]" in escalation.text


def test_retry_with_same_id_stores_one_escalation(app, client, escalating_text):
    first = post(client, {"id": "esc-retry", "text": escalating_text}).get_json()["escalation"]
    again = post(client, {"id": "esc-retry", "text": escalating_text}).get_json()["escalation"]
    assert first["created"] is True and again["created"] is False
    assert first["id"] == again["id"]
    assert len(stored(app, "esc-retry")) == 1


def test_missing_id_is_deterministic_so_retries_are_idempotent(app, client, escalating_text):
    text = escalating_text + "（无编号）"
    first = post(client, {"text": text}).get_json()
    again = post(client, {"text": text}).get_json()
    assert first["id"] == again["id"] == review_id_for(text)
    assert first["id"].startswith("sha256:")
    assert (first["escalation"]["created"], again["escalation"]["created"]) == (True, False)
    assert len(stored(app, first["id"])) == 1


def test_batch_keeps_order_and_stores_each_escalation(app, client, escalating_text, calm_text):
    reviews = [{"id": "b-0", "text": calm_text}, {"id": "b-1", "text": escalating_text},
               {"text": escalating_text + "!"}, {"id": "b-3", "text": escalating_text, "meta": None}]
    response = post(client, {"reviews": reviews})
    assert response.status_code == 200
    results = response.get_json()["results"]
    assert [r["id"] for r in results] == ["b-0", "b-1", review_id_for(escalating_text + "!"), "b-3"]
    assert results[0]["escalation"] is None
    for result in results[1:]:
        assert result["escalation"]["stored"] is True
        assert [e.id for e in stored(app, result["id"])] == [result["escalation"]["id"]]


def test_explain_auto_by_default_true_false_on_request(app, client, escalating_text, calm_text):
    empty = {"tokens": {}, "lexicon_hits": {}}
    batch = {"reviews": [{"id": "x-esc", "text": escalating_text}, {"id": "x-calm", "text": calm_text}]}
    auto = post(client, batch).get_json()["results"]  # auto: explanations where people will read them
    assert auto[0]["escalation"] and auto[0]["explanation"]["tokens"]
    assert auto[1]["explanation"] == empty
    [stored_escalation] = stored(app, "x-esc")
    assert stored_escalation.prediction["explanation"]["tokens"]
    everything = post(client, batch, query_string={"explain": "true"}).get_json()["results"]
    assert "complaint" in everything[1]["explanation"]["tokens"]
    nothing = post(client, batch, query_string={"explain": "0"}).get_json()["results"]
    assert nothing[0]["explanation"] == nothing[1]["explanation"] == empty
    for results in (everything, nothing):
        assert [r["severity"] for r in results] == [r["severity"] for r in auto]
        assert [r["routing"]["queue"] for r in results] == [r["routing"]["queue"] for r in auto]
    single = post(client, {"text": escalating_text}, query_string={"explain": "auto"}).get_json()
    assert single["explanation"]["tokens"]
    assert_error(post(client, {"text": escalating_text}, query_string={"explain": "maybe"}),
                 400, "invalid_parameter", "explain")
    assert_error(post(client, {"text": escalating_text}, query_string={"verbose": "1"}),
                 400, "unknown_parameter", "verbose")


def test_store_failure_is_503_and_never_claims_stored(app, client, state, monkeypatch, escalating_text):
    def broken_put(*args, **kwargs):
        raise StoreError("/secret/path/escalations.db: cannot store escalation: disk I/O error")

    monkeypatch.setattr(state.store, "put", broken_put)
    response = post(client, {"id": "esc-down", "text": escalating_text})
    error = assert_error(response, 503, "store_unavailable")
    assert "/secret/path" not in response.get_data(as_text=True)
    assert '"stored"' not in response.get_data(as_text=True)
    assert "escalation" not in response.get_json()
    assert response.headers["Retry-After"]
    assert error["message"]
    monkeypatch.undo()
    assert stored(app, "esc-down") == []


def test_batch_retry_after_a_store_failure_stores_each_escalation_once(app, client, state, monkeypatch,
                                                                        escalating_text):
    real_put, calls = state.store.put, []

    def put_then_fail(prediction, decision, text=""):
        calls.append(prediction.review_id)
        if len(calls) == 2:
            raise StoreError("disk I/O error")
        return real_put(prediction, decision, text=text)

    monkeypatch.setattr(state.store, "put", put_then_fail)
    batch = {"reviews": [{"id": "partial-1", "text": escalating_text}, {"id": "partial-2", "text": escalating_text}]}
    assert_error(post(client, batch), 503, "store_unavailable")
    monkeypatch.undo()
    retried = post(client, batch).get_json()["results"]
    assert [r["escalation"]["created"] for r in retried] == [False, True]
    assert len(stored(app, "partial-1")) == len(stored(app, "partial-2")) == 1


def test_store_failure_does_not_affect_reviews_that_do_not_escalate(client, state, monkeypatch, calm_text):
    monkeypatch.setattr(state.store, "put", lambda *a, **k: pytest.fail("put called for a calm review"))
    assert post(client, {"text": calm_text}).status_code == 200


def test_unexpected_error_is_a_bare_json_500(client, state, monkeypatch, calm_text):
    def boom(*args, **kwargs):
        raise RuntimeError("internal detail that must not leak")

    monkeypatch.setattr(state.model, "classify_many", boom)
    response = post(client, {"text": calm_text})
    assert_error(response, 500, "internal_error")
    assert "internal detail" not in response.get_data(as_text=True)
    assert "Traceback" not in response.get_data(as_text=True)


# --------------------------------------------------------------------------------------------------
# POST /classify: bad input -> 4xx JSON naming the field
# --------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(("data", "content_type"), [
    ('{"text": "hi"}', "text/plain"),
    ("text=hi", "application/x-www-form-urlencoded"),
    ('{"text": "hi"}', None),
])
def test_wrong_content_type_is_415(client, data, content_type):
    headers = {"Content-Type": content_type} if content_type else {}
    assert_error(client.post("/classify", data=data, headers=headers), 415, "unsupported_media_type", "Content-Type")


@pytest.mark.parametrize("data", ['{"text": ', "", "   ", '{"text": NaN}', '{"text": "x", "meta": {"n": 1e999}}',
                                  "[" * 100_000, b'{"text": "\xff\xfe"}', '{"text": "a"} trailing'])
def test_malformed_json_is_400(client, data):
    response = client.post("/classify", data=data, content_type="application/json")
    assert_error(response, 400, "invalid_json")


@pytest.mark.parametrize("body", [[], [{"text": "x"}], "text", 42, None, True])
def test_body_must_be_an_object(client, body):
    response = client.post("/classify", data=json.dumps(body), content_type="application/json")
    assert_error(response, 400, "invalid_body")


@pytest.mark.parametrize(("body", "field"), [
    ({"text": "好吃", "lang": "zh"}, "lang"),
    ({"txt": "好吃"}, "txt"),
    ({"reviews": [{"text": "好吃"}], "text": "好吃"}, "text"),
    ({"reviews": [{"text": "好吃"}, {"text": "好吃", "rating": 5}]}, "reviews[1].rating"),
])
def test_unknown_fields_are_named(client, body, field):
    assert_error(post(client, body), 400, "unknown_field", field)


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({"id": "x"}, 400, "missing_field", "text"),
    ({}, 400, "missing_field", "text"),
    ({"text": None}, 400, "invalid_type", "text"),
    ({"text": 12}, 400, "invalid_type", "text"),
    ({"text": ["好吃"]}, 400, "invalid_type", "text"),
    ({"text": ""}, 400, "empty_field", "text"),
    ({"text": " \n\t "}, 400, "empty_field", "text"),
    ({"text": "好" * 5001}, 413, "text_too_long", "text"),
    ({"text": "好吃", "id": 7}, 400, "invalid_type", "id"),
    ({"text": "好吃", "id": ""}, 400, "empty_field", "id"),
    ({"text": "好吃", "id": "x" * 201}, 400, "invalid_value", "id"),
    ({"text": "好吃", "meta": "shop"}, 400, "invalid_type", "meta"),
    ({"text": "好吃", "meta": {"blob": "x" * 9000}}, 400, "invalid_value", "meta"),
    ({"text": "好吃", "meta": {"deep": json.loads("[" * 900 + "]" * 900)}}, 400, "invalid_value", "meta"),
    ({"reviews": {"text": "好吃"}}, 400, "invalid_type", "reviews"),
    ({"reviews": []}, 400, "empty_field", "reviews"),
    ({"reviews": [{"text": "好吃"}, "好吃"]}, 400, "invalid_type", "reviews[1]"),
    ({"reviews": [{"text": "好吃"}] * 3 + [{"id": "r4"}]}, 400, "missing_field", "reviews[3].text"),
    ({"reviews": [{"text": "好吃"}] * 3 + [{"text": ""}]}, 400, "empty_field", "reviews[3].text"),
    ({"reviews": [{"text": "好吃"}] * 3 + [{"text": 5}]}, 400, "invalid_type", "reviews[3].text"),
    ({"reviews": [{"text": "好吃"}, {"text": "x" * 5001}]}, 413, "text_too_long", "reviews[1].text"),
    ({"reviews": [{"text": "好吃"}] * 101}, 413, "batch_too_large", "reviews"),
    ({"reviews": [{"id": "a", "text": "好"}, {"id": "b", "text": "好"}, {"id": "a", "text": "差"}]},
     400, "duplicate_id", "reviews[2].id"),
])
def test_bad_reviews_are_rejected_with_the_field(client, body, status, code, field):
    assert_error(post(client, body), status, code, field)


def test_lone_surrogate_in_id_is_rejected(client):
    response = client.post("/classify", data='{"text": "ok", "id": "a\\ud800"}', content_type="application/json")
    assert_error(response, 400, "invalid_value", "id")


def test_lone_surrogate_in_text_is_classified(client):
    response = client.post("/classify", data='{"text": "\\ud800 好吃"}', content_type="application/json")
    assert response.status_code == 200


def test_limits_come_from_the_config(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_BATCH_SIZE", 2)
    monkeypatch.setitem(app.config, "MAX_TEXT_LENGTH", 10)
    assert_error(post(client, {"reviews": [{"text": "好吃"}] * 3}), 413, "batch_too_large", "reviews")
    assert_error(post(client, {"text": "好" * 11}), 413, "text_too_long", "text")
    assert post(client, {"reviews": [{"text": "好" * 10}] * 2}).status_code == 200


def test_body_over_max_content_length_is_json_413(app, client, monkeypatch):
    monkeypatch.setitem(app.config, "MAX_CONTENT_LENGTH", 1000)
    assert_error(post(client, {"text": "好" * 2000}), 413, "payload_too_large")
    assert_error(post(client, {"by": "x" * 2000}, path="/escalations/1/ack"), 413, "payload_too_large")


def test_unknown_route_and_wrong_method_are_json(client):
    assert_error(client.get("/nope"), 404, "not_found")
    assert_error(client.post("/classify/extra", json={}), 404, "not_found")
    response = client.get("/classify")
    assert_error(response, 405, "method_not_allowed")
    assert "POST" in response.headers["Allow"]
    assert_error(client.delete("/escalations"), 405, "method_not_allowed")
    assert_error(client.put("/health"), 405, "method_not_allowed")


# --------------------------------------------------------------------------------------------------
# /escalations
# --------------------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def five_escalations(app, escalating_text):
    client = app.test_client()
    reviews = [{"id": f"page-{i}", "text": escalating_text} for i in range(5)]
    results = client.post("/classify", json={"reviews": reviews}).get_json()["results"]
    assert all(r["escalation"]["stored"] for r in results)
    return {r["id"]: r["escalation"]["id"] for r in results}


def test_list_walks_all_pages_with_next_after(client, five_escalations):
    seen, after, pages = [], None, 0
    while True:
        query = {"limit": 2} if after is None else {"limit": 2, "after": after}
        response = client.get("/escalations", query_string=query)
        assert response.status_code == 200
        page = response.get_json()
        assert page["limit"] == 2 and len(page["escalations"]) <= 2
        seen += [e["id"] for e in page["escalations"]]
        pages += 1
        after = page["next_after"]
        if after is None:
            break
        assert after == page["escalations"][-1]["id"]
    assert seen == sorted(set(seen))
    assert set(five_escalations.values()) <= set(seen)
    assert len(seen) == page["count"]
    assert pages >= 3


def test_list_filters_by_status_and_queue(client, five_escalations):
    first = client.get(f"/escalations/{five_escalations['page-0']}").get_json()
    queue = first["queue"]
    page = client.get("/escalations", query_string={"status": "open", "queue": queue, "limit": 500}).get_json()
    assert page["escalations"] and all(e["status"] == "open" and e["queue"] == queue for e in page["escalations"])
    assert page["count"] == len(page["escalations"])
    none = client.get("/escalations", query_string={"queue": "no-such-queue"}).get_json()
    assert none == {"escalations": [], "count": 0, "limit": 50, "next_after": None}


@pytest.mark.parametrize(("query", "field", "code"), [
    ({"status": "closed"}, "status", "invalid_parameter"),
    ({"limit": "0"}, "limit", "invalid_parameter"),
    ({"limit": "501"}, "limit", "invalid_parameter"),
    ({"limit": "ten"}, "limit", "invalid_parameter"),
    ({"limit": "-1"}, "limit", "invalid_parameter"),
    ({"after": "1.5"}, "after", "invalid_parameter"),
    ({"after": "99999999999999999999"}, "after", "invalid_parameter"),
    ({"queue": ""}, "queue", "invalid_parameter"),
    ({"offset": "10"}, "offset", "unknown_parameter"),
])
def test_list_rejects_bad_parameters(client, query, field, code):
    assert_error(client.get("/escalations", query_string=query), 400, code, field)


def test_get_one_escalation_with_its_history(client, five_escalations):
    escalation_id = five_escalations["page-1"]
    body = client.get(f"/escalations/{escalation_id}").get_json()
    assert body["id"] == escalation_id and body["review_id"] == "page-1"
    assert [e["status"] for e in body["events"]] == ["open"]
    assert_error(client.get("/escalations/999999999"), 404, "unknown_escalation", "escalation_id")
    assert_error(client.get("/escalations/abc"), 404, "not_found")
    assert_error(client.get(f"/escalations/{2**63}"), 404, "not_found")


def test_ack_then_resolve_records_who_and_note(client, five_escalations):
    escalation_id = five_escalations["page-2"]
    acked = post(client, {"by": "alice"}, path=f"/escalations/{escalation_id}/ack")
    assert acked.status_code == 200 and acked.get_json()["status"] == "acknowledged"
    resolved = post(client, {"by": "bob", "note": "refunded"}, path=f"/escalations/{escalation_id}/resolve")
    assert resolved.status_code == 200 and resolved.get_json()["status"] == "resolved"
    events = client.get(f"/escalations/{escalation_id}").get_json()["events"]
    assert [(e["status"], e["actor"], e["note"]) for e in events] == [
        ("open", "system", None), ("acknowledged", "alice", None), ("resolved", "bob", "refunded")]
    assert_error(post(client, {"by": "carol"}, path=f"/escalations/{escalation_id}/ack"),
                 409, "invalid_transition", "escalation_id")
    assert_error(post(client, {"by": "carol"}, path=f"/escalations/{escalation_id}/resolve"),
                 409, "invalid_transition", "escalation_id")


def test_resolve_straight_from_open(client, five_escalations):
    response = post(client, {"by": "dave", "note": None}, path=f"/escalations/{five_escalations['page-3']}/resolve")
    assert response.status_code == 200 and response.get_json()["status"] == "resolved"


@pytest.mark.parametrize(("body", "status", "code", "field"), [
    ({}, 400, "missing_field", "by"),
    ({"by": ""}, 400, "empty_field", "by"),
    ({"by": 3}, 400, "invalid_type", "by"),
    ({"by": "x" * 201}, 400, "invalid_value", "by"),
    ({"by": "alice", "note": 3}, 400, "invalid_type", "note"),
    ({"by": "alice", "who": "bob"}, 400, "unknown_field", "who"),
    (["alice"], 400, "invalid_body", None),
])
def test_transition_bad_bodies(client, five_escalations, body, status, code, field):
    escalation_id = five_escalations["page-4"]
    assert_error(post(client, body, path=f"/escalations/{escalation_id}/ack"), status, code, field)


def test_transition_of_unknown_escalation_and_wrong_content_type(client):
    assert_error(post(client, {"by": "alice"}, path="/escalations/987654321/ack"),
                 404, "unknown_escalation", "escalation_id")
    assert_error(client.post("/escalations/1/resolve", data="by=alice"), 415, "unsupported_media_type",
                 "Content-Type")
