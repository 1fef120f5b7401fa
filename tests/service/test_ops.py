"""Probes, version, metrics, auth, request ids, logs and settings of the service."""
from __future__ import annotations

import json
import logging
import re
import time

import pytest

from reviewnlp import __version__
from reviewnlp.service import create_app
from reviewnlp.service.config import DEFAULTS, ConfigError, JsonFormatter, load_file, validate
from reviewnlp.service.metrics import Metrics
from reviewnlp.store import Health


def test_health_is_trivial(client):
    response = client.get("/health")
    assert response.status_code == 200 and response.get_json() == {"status": "ok"}


def test_ready_when_model_loaded_and_store_writable(client, state):
    body = client.get("/ready").get_json()
    assert body["status"] == "ready"
    assert body["model"] == {"loaded": True, "version": state.model.version}
    assert body["store"] == {"backend": "sqlite", "writable": True}


def test_not_ready_when_store_is_not_writable(client, state, monkeypatch):
    monkeypatch.setattr(state.store, "healthcheck",
                        lambda: Health(ok=False, backend="sqlite", location="/x.db", detail="readonly database"))
    response = client.get("/ready")
    assert response.status_code == 503
    assert response.get_json()["status"] == "unavailable"
    assert "/x.db" not in response.get_data(as_text=True)

    def crash():
        raise RuntimeError("driver exploded")

    monkeypatch.setattr(state.store, "healthcheck", crash)
    assert client.get("/ready").status_code == 503
    assert client.get("/health").status_code == 200


def test_version_has_library_and_model_without_metrics(client, state):
    body = client.get("/version").get_json()
    assert body["reviewnlp"] == __version__
    assert body["model"]["version"] == state.model.version
    assert body["model"]["sha256"] == state.model.metadata["sha256"]
    assert "metrics" not in body["model"]
    assert body["limits"] == {"max_batch_size": 100, "max_text_length": 5000,
                              "max_content_length": 4 * 1024 * 1024, "auth": False}


def test_openapi_document_reflects_the_limits(app, client, monkeypatch):
    spec = client.get("/openapi.json").get_json()
    assert spec["openapi"].startswith("3.")
    assert spec["components"]["schemas"]["Review"]["properties"]["text"]["maxLength"] == 5000
    assert "security" not in spec
    monkeypatch.setitem(app.config, "MAX_BATCH_SIZE", 7)
    spec = client.get("/openapi.json").get_json()
    assert spec["components"]["schemas"]["Batch"]["properties"]["reviews"]["maxItems"] == 7


# --------------------------------------------------------------------------------------------------
# Metrics
# --------------------------------------------------------------------------------------------------


def test_metrics_count_requests_labels_and_escalations(client, escalating_text, calm_text):
    client.post("/classify", json={"reviews": [{"id": "m-1", "text": escalating_text},
                                               {"id": "m-2", "text": calm_text}]})
    client.post("/classify", json={"text": ""})
    response = client.get("/metrics")
    assert response.status_code == 200
    assert response.content_type.startswith("text/plain; version=0.0.4")
    text = response.get_data(as_text=True)
    assert re.search(r'^reviewnlp_http_requests_total\{endpoint="/classify",method="POST",status="200"\} [1-9]',
                     text, re.M)
    assert re.search(r'^reviewnlp_http_requests_total\{endpoint="/classify",method="POST",status="400"\} [1-9]',
                     text, re.M)
    assert re.search(r'^reviewnlp_http_request_duration_seconds_bucket\{endpoint="/classify",le="\+Inf"\} [1-9]',
                     text, re.M)
    assert re.search(r"^reviewnlp_reviews_classified_total [2-9]", text, re.M)
    assert re.search(r'^reviewnlp_predicted_severity_total\{severity="none"\} [1-9]', text, re.M)
    assert re.search(r'^reviewnlp_predicted_cause_total\{cause="logistics"\} \d', text, re.M)
    assert re.search(r'^reviewnlp_predicted_flag_total\{flag="safety"\} \d', text, re.M)
    assert re.search(r'^reviewnlp_escalations_stored_total\{created="true",queue="[^"]+"\} [1-9]', text, re.M)
    assert re.search(r'^reviewnlp_escalations\{status="open"\} [1-9]', text, re.M)
    assert re.search(r'^reviewnlp_model_info\{version="[^"]+"\} 1', text, re.M)
    assert "# TYPE reviewnlp_http_request_duration_seconds histogram" in text


def test_observe_predictions_counts_what_inc_would(state, escalating_text, calm_text):
    from reviewnlp.routing import route

    texts = [escalating_text, calm_text, escalating_text]
    predictions = state.model.classify_many(texts)
    decisions = [route(p, state.policy) for p in predictions]
    batched, one_by_one = Metrics(), Metrics()
    batched.observe_predictions(predictions, decisions)
    one_by_one.inc("reviewnlp_reviews_classified_total", value=len(predictions))
    for p, d in zip(predictions, decisions):
        for c in p.causes:
            one_by_one.inc("reviewnlp_predicted_cause_total", {"cause": c})
        one_by_one.inc("reviewnlp_predicted_severity_total", {"severity": p.severity})
        for f in p.flags:
            one_by_one.inc("reviewnlp_predicted_flag_total", {"flag": f})
        one_by_one.inc("reviewnlp_routing_decisions_total",
                       {"queue": d.queue or "none", "escalate": str(d.escalate).lower()})
    assert batched.render() == one_by_one.render()
    assert "reviewnlp_reviews_classified_total 3" in batched.render()


def test_metrics_are_summed_over_worker_processes(tmp_path):
    first, second = Metrics(tmp_path), Metrics(tmp_path)
    first.observe_request("/classify", "POST", 200, 0.004)
    first.inc("reviewnlp_reviews_classified_total", value=3)
    second.observe_request("/classify", "POST", 200, 0.02)
    second.inc("reviewnlp_reviews_classified_total", value=4)
    first.flush()
    second.flush()
    for metrics in (first, second):
        text = metrics.render()
        assert 'reviewnlp_http_requests_total{endpoint="/classify",method="POST",status="200"} 2' in text
        assert "reviewnlp_reviews_classified_total 7" in text
        assert 'reviewnlp_http_request_duration_seconds_bucket{endpoint="/classify",le="0.005"} 1' in text
        assert 'reviewnlp_http_request_duration_seconds_count{endpoint="/classify"} 2' in text
        assert "reviewnlp_metrics_processes 2" in text
    second.stop()
    third = Metrics(tmp_path)  # a restarted worker: the exited one's counters are kept
    assert "reviewnlp_reviews_classified_total 7" in third.render()


def test_metrics_flusher_thread_writes_snapshots(tmp_path):
    metrics = Metrics(tmp_path, flush_interval=0.05)
    metrics.start()
    try:
        metrics.inc("reviewnlp_reviews_classified_total", value=5)
        reader = Metrics(tmp_path)
        for _ in range(100):
            if "reviewnlp_reviews_classified_total 5" in reader.render():
                break
            time.sleep(0.02)
        assert "reviewnlp_reviews_classified_total 5" in reader.render()
    finally:
        metrics.stop()


# --------------------------------------------------------------------------------------------------
# Auth, request ids, logs
# --------------------------------------------------------------------------------------------------


def test_auth_is_off_by_default(client, calm_text):
    assert client.post("/classify", json={"text": calm_text}).status_code == 200
    assert client.get("/metrics").status_code == 200


def test_api_keys_protect_everything_but_the_probes(app, client, monkeypatch, calm_text):
    monkeypatch.setitem(app.config, "API_KEYS", ("key-one", "key-two"))
    for headers in ({}, {"X-API-Key": "wrong"}, {"X-API-Key": ""}, {"X-API-Key": "key-one "}):
        response = client.post("/classify", json={"text": calm_text}, headers=headers)
        assert response.status_code == 401
        assert response.get_json()["error"]["code"] == "unauthorized"
        assert response.get_json()["error"]["field"] == "X-API-Key"
    for path in ("/metrics", "/version", "/escalations", "/openapi.json", "/no-such-route"):
        assert client.get(path).status_code == 401, path
    assert client.post("/classify", json={"text": calm_text}, headers={"X-API-Key": "key-two"}).status_code == 200
    assert client.get("/metrics", headers={"X-API-Key": "key-one"}).status_code == 200
    assert client.get("/health").status_code == 200
    assert client.get("/ready").status_code == 200
    spec = client.get("/openapi.json", headers={"X-API-Key": "key-one"}).get_json()
    assert spec["security"] == [{"ApiKey": []}]
    assert spec["paths"]["/health"]["get"]["security"] == []


@pytest.mark.parametrize(("value", "expected"), [("auto", "auto"), ("TRUE", True), ("0", False), (False, False)])
def test_explain_setting(value, expected):
    assert validate(dict(DEFAULTS, EXPLAIN=value))["EXPLAIN"] == expected


def test_api_keys_from_a_comma_separated_string():
    config = validate(dict(DEFAULTS, API_KEYS=" a1, ,b2 "))
    assert config["API_KEYS"] == ("a1", "b2")


def test_request_id_is_echoed_or_generated(client):
    response = client.get("/health", headers={"X-Request-ID": "client-req-42"})
    assert response.headers["X-Request-ID"] == "client-req-42"
    generated = client.get("/health").headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", generated)
    unsafe = client.get("/health", headers={"X-Request-ID": 'x" injected=1'}).headers["X-Request-ID"]
    assert re.fullmatch(r"[0-9a-f]{32}", unsafe)
    error = client.get("/nope", headers={"X-Request-ID": "req-404"}).get_json()["error"]
    assert error["request_id"] == "req-404"


def test_one_structured_log_line_per_request_without_text_or_key(app, client, monkeypatch, caplog,
                                                                  escalating_text):
    monkeypatch.setitem(app.config, "API_KEYS", ("super-secret-key",))
    secret_text = escalating_text + " 我的电话13812345678"
    with caplog.at_level(logging.DEBUG):
        client.post("/classify", json={"id": "log-1", "text": secret_text},
                    headers={"X-API-Key": "super-secret-key", "X-Request-ID": "req-log-1"})
        client.post("/classify", json={"text": secret_text}, headers={"X-API-Key": "wrong-key"})
    requests = [r for r in caplog.records if getattr(r, "event", None) == "request"]
    assert len(requests) == 2
    first = requests[0]
    assert (first.method, first.path, first.status, first.request_id) == ("POST", "/classify", 200, "req-log-1")
    assert first.duration_ms > 0
    assert requests[1].status == 401
    line = json.loads(JsonFormatter().format(first))
    assert {"method", "path", "status", "duration_ms", "request_id", "ts", "level"} <= set(line)
    everything = "\n".join(JsonFormatter().format(r) for r in caplog.records)
    for secret in (secret_text, escalating_text, "13812345678", "super-secret-key", "wrong-key"):
        assert secret not in everything


def test_unexpected_errors_are_logged_with_the_traceback(client, state, monkeypatch, caplog, calm_text):
    monkeypatch.setattr(state.model, "classify_many", lambda *a, **k: 1 / 0)
    with caplog.at_level(logging.ERROR, logger="reviewnlp.service"):
        assert client.post("/classify", json={"text": calm_text}).status_code == 500
    assert any(r.exc_info and r.exc_info[0] is ZeroDivisionError for r in caplog.records)


# --------------------------------------------------------------------------------------------------
# Settings
# --------------------------------------------------------------------------------------------------


def test_config_file_then_environment(tmp_path, monkeypatch):
    from flask import Config

    toml = tmp_path / "service.toml"
    toml.write_text('MAX_BATCH_SIZE = 20\nAPI_KEYS = ["k"]\nlowercase_is_ignored = 1\n', encoding="utf-8")
    config = Config(tmp_path)
    config.from_mapping(DEFAULTS)
    load_file(config, toml)
    monkeypatch.setenv("REVIEWNLP_MAX_TEXT_LENGTH", "300")
    config.from_prefixed_env("REVIEWNLP")
    validate(config)
    assert (config["MAX_BATCH_SIZE"], config["API_KEYS"], config["MAX_TEXT_LENGTH"]) == (20, ("k",), 300)
    assert "lowercase_is_ignored" not in config


@pytest.mark.parametrize(("name", "content", "message"), [
    ("bad.toml", "MAX_BATCH_SIZE = ", "invalid config file"),
    ("bad.yaml", "a: 1", "unsupported config file type"),
    ("missing.json", None, "cannot read"),
])
def test_bad_config_files(tmp_path, name, content, message):
    from flask import Config

    path = tmp_path / name
    if content is not None:
        path.write_text(content, encoding="utf-8")
    with pytest.raises(ConfigError, match=message):
        load_file(Config(tmp_path), path)


@pytest.mark.parametrize(("key", "value"), [
    ("MAX_BATCH_SIZE", 0), ("MAX_BATCH_SIZE", "ten"), ("MAX_TEXT_LENGTH", True), ("EXPLAIN", "maybe"),
    ("API_KEYS", 5), ("STORE", None), ("ESCALATIONS_PAGE_SIZE", 1000), ("METRICS_FLUSH_INTERVAL", 0),
])
def test_invalid_settings_name_the_key(key, value):
    with pytest.raises(ConfigError, match=key):
        validate(dict(DEFAULTS, **{key: value}))


def test_create_app_fails_fast_on_bad_settings(tmp_path):
    with pytest.raises(ConfigError, match="MAX_BATCH_SIZE"):
        create_app({"STORE": str(tmp_path / "x.db"), "MAX_BATCH_SIZE": -1})
