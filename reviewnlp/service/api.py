"""The service's endpoints: each view parses, calls the library, and answers JSON.

``POST /classify`` is parse -> classify -> route -> store -> respond. An escalating review is
committed to the escalation store *before* the response is sent; if the store fails the
answer is a 503 and nothing claims to be stored. Reviews without an id get a deterministic one
(``sha256:`` + 32 hex digits of the text's SHA-256), so retrying a request never stores an
escalation twice.
"""
from __future__ import annotations

import hashlib
import json
import logging
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from flask import Blueprint, Response, current_app, jsonify, request

from .. import __version__
from ..errors import StoreError
from ..normalize import mask_personal_data, normalize
from ..routing import route
from ..store import STATUSES, TransitionError, UnknownEscalationError
from ..types import Prediction, RoutingDecision
from .errors import APIError

__all__ = ["bp", "ReviewIn", "parse_classify", "review_id_for"]

logger = logging.getLogger(__name__)

bp = Blueprint("api", __name__)

_REVIEW_FIELDS = ("id", "text", "meta")
_TRANSITION_FIELDS = ("by", "note")
_MAX_ACTOR, _MAX_NOTE = 200, 2000
_MAX_META_DEPTH = 32
_INT = re.compile(r"[0-9]{1,19}")
_MAX_DB_ID = 2**63 - 1


def _state():
    return current_app.extensions["reviewnlp"]


# --------------------------------------------------------------------------------------------------
# Views
# --------------------------------------------------------------------------------------------------


@bp.get("/health")
def health():
    """Liveness: the process answers."""
    return {"status": "ok"}


@bp.get("/ready")
def ready():
    """Readiness: the model is loaded and the escalation store commits a write."""
    state = _state()
    try:
        check = state.store.healthcheck()
        writable, backend = check.ok, check.backend
        if not check.ok:
            logger.warning("not ready: escalation store not writable: %s", check.detail)
    except Exception:  # a probe answers, whatever broke
        logger.exception("not ready: escalation store health check failed")
        writable, backend = False, getattr(state.store, "backend", "unknown")
    ok = state.model is not None and writable
    body = {"status": "ready" if ok else "unavailable",
            "model": {"loaded": state.model is not None, "version": state.model.version},
            "store": {"backend": backend, "writable": writable}}
    return body, 200 if ok else 503


@bp.get("/version")
def version():
    """Library and model versions, the model's metadata without its metrics, and the limits."""
    from .config import public_settings

    metadata = {k: v for k, v in _state().model.metadata.items() if k != "metrics"}
    return {"reviewnlp": __version__, "model": metadata, "limits": public_settings(current_app.config)}


@bp.get("/openapi.json")
def openapi():
    """The OpenAPI 3 document of this service, with this configuration's limits."""
    from .openapi import build_spec

    return build_spec(current_app.config, __version__)


@bp.get("/metrics")
def metrics():
    """Prometheus metrics, summed over the server's workers (see :mod:`reviewnlp.service.metrics`)."""
    from .metrics import CONTENT_TYPE

    state = _state()
    gauges = [("reviewnlp_model_info", {"version": state.model.version}, 1),
              ("reviewnlp_build_info", {"version": __version__}, 1)]
    try:
        gauges += [("reviewnlp_escalations", {"status": s}, state.store.count(status=s)) for s in STATUSES]
    except StoreError as exc:
        logger.warning("metrics: cannot count escalations: %s", exc)
    return Response(state.metrics.render(gauges), mimetype=None, content_type=CONTENT_TYPE)


@bp.post("/classify")
def classify():
    """Classify one review (``{"text", "id"?, "meta"?}``) or a batch (``{"reviews": [...]}``)."""
    state, config = _state(), current_app.config
    reviews, batch = parse_classify(_json_body(), config)
    explain = _explain_arg(config["EXPLAIN"])
    predictions, decisions = _classify_and_route(state, reviews, explain)
    stored = _store_escalations(state, reviews, predictions, decisions)
    state.metrics.observe_predictions(predictions, decisions)
    results = [dict(p.to_dict(), routing=d.to_dict(), escalation=s)
               for p, d, s in zip(predictions, decisions, stored, strict=True)]
    return jsonify({"results": results} if batch else results[0])


@bp.get("/escalations")
def list_escalations():
    """A page of stored escalations in id order; ``next_after`` is the cursor of the next page."""
    config = current_app.config
    _check_query("status", "queue", "limit", "after")
    status = request.args.get("status")
    if status is not None and status not in STATUSES:
        raise APIError(400, "invalid_parameter", f"status must be one of {', '.join(STATUSES)}", field="status")
    queue = request.args.get("queue")
    if queue is not None and not 1 <= len(queue) <= 100:
        raise APIError(400, "invalid_parameter", "queue must be 1 to 100 characters", field="queue")
    limit = _int_arg("limit", config["ESCALATIONS_PAGE_SIZE"], 1, config["ESCALATIONS_MAX_PAGE_SIZE"])
    after = _int_arg("after", None, 0, _MAX_DB_ID)
    store = _state().store
    page = store.list(status=status, queue=queue, limit=limit + 1, after_id=after)
    more = len(page) > limit
    page = page[:limit]
    return {"escalations": [e.to_dict() for e in page], "count": store.count(status=status, queue=queue),
            "limit": limit, "next_after": page[-1].id if more else None}


@bp.get(f"/escalations/<int(max={_MAX_DB_ID}):escalation_id>")
def get_escalation(escalation_id: int):
    """One escalation with its status history."""
    store = _state().store
    try:
        escalation = store.get(escalation_id)
        events = store.events(escalation_id)
    except UnknownEscalationError:
        raise APIError(404, "unknown_escalation", f"no escalation with id {escalation_id}",
                       field="escalation_id") from None
    return dict(escalation.to_dict(), events=[e.to_dict() for e in events])


@bp.post(f"/escalations/<int(max={_MAX_DB_ID}):escalation_id>/ack")
def ack_escalation(escalation_id: int):
    """Acknowledge an open escalation: ``{"by": "alice", "note"?: "..."}``."""
    return _transition(escalation_id, "ack")


@bp.post(f"/escalations/<int(max={_MAX_DB_ID}):escalation_id>/resolve")
def resolve_escalation(escalation_id: int):
    """Resolve an open or acknowledged escalation: ``{"by": "bob", "note"?: "..."}``."""
    return _transition(escalation_id, "resolve")


def _transition(escalation_id: int, action: str):
    by, note = _parse_transition(_json_body())
    store = _state().store
    try:
        escalation = getattr(store, action)(escalation_id, by, note=note)
    except UnknownEscalationError:
        raise APIError(404, "unknown_escalation", f"no escalation with id {escalation_id}",
                       field="escalation_id") from None
    except TransitionError as exc:
        raise APIError(409, "invalid_transition", str(exc), field="escalation_id") from None
    return escalation.to_dict()


# --------------------------------------------------------------------------------------------------
# Classifying, routing and storing escalations
# --------------------------------------------------------------------------------------------------


def _classify_and_route(state, reviews: Sequence[ReviewIn],
                        explain: bool | str) -> tuple[list[Prediction], list[RoutingDecision]]:
    """Classify and route ``reviews``; ``explain="auto"`` explains only the reviews that escalate.

    People read explanations on escalations, and they cost about a fifth of the classification
    time: with ``"auto"`` the model explains a review only when routing escalates it, from the
    features it has already computed (:meth:`~reviewnlp.model.ReviewModel.classify_many`).
    """
    decisions: list[RoutingDecision] = []
    if explain == "auto":  # route each review once: the decision that chose to explain it is kept

        def explain(prediction: Prediction) -> bool:
            decisions.append(route(prediction, state.policy))
            return decisions[-1].escalate

    predictions = state.model.classify_many([r.text for r in reviews], ids=[r.id for r in reviews],
                                            metas=[r.meta for r in reviews], explain=explain)
    if len(decisions) != len(predictions):
        decisions = [route(p, state.policy) for p in predictions]
    return predictions, decisions


def _store_escalations(state, reviews: Sequence[ReviewIn], predictions: Sequence[Prediction],
                       decisions: Sequence[RoutingDecision]) -> list[dict[str, Any] | None]:
    """Commit every escalating review to the store; a failure raises (-> 503), never half-claims."""
    out: list[dict[str, Any] | None] = []
    for review, prediction, decision in zip(reviews, predictions, decisions, strict=True):
        if not decision.escalate:
            out.append(None)
            continue
        try:
            escalation, created = state.store.put(prediction, decision,
                                                  text=mask_personal_data(normalize(review.text)))
        except StoreError:
            state.metrics.inc("reviewnlp_store_errors_total")
            raise
        state.metrics.observe_escalation(escalation.queue, created)
        out.append({"stored": True, "id": escalation.id, "created": created})
    return out


# --------------------------------------------------------------------------------------------------
# Parsing and validation: every failure is an APIError naming the field
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReviewIn:
    """One validated review of a request; ``id`` is the client's or the generated one."""

    text: str
    id: str
    meta: Mapping[str, Any] = field(default_factory=dict)
    generated_id: bool = False


def review_id_for(text: str) -> str:
    """The id of a review sent without one: deterministic, so that retries are idempotent.

    >>> review_id_for("送餐太慢了")
    'sha256:461840dff375ee2e0b39825a9920f45e'
    """
    return "sha256:" + hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:32]


def _reject_constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


def _finite_float(literal: str) -> float:
    value = float(literal)
    if not math.isfinite(value):
        raise ValueError(f"number {literal[:20]} is out of range")
    return value


def _json_body() -> Any:
    """The request's JSON value (415 unless it is ``application/json``; 400 when it does not parse)."""
    if not request.is_json:
        raise APIError(415, "unsupported_media_type", "send the body as JSON with Content-Type: application/json",
                       field="Content-Type")
    raw = request.get_data(cache=False)  # over MAX_CONTENT_LENGTH: werkzeug raises a 413
    if not raw.strip():
        raise APIError(400, "invalid_json", "the request body is empty; expected a JSON object")
    try:
        return json.loads(raw, parse_constant=_reject_constant, parse_float=_finite_float)
    except (ValueError, RecursionError) as exc:
        raise APIError(400, "invalid_json", f"the request body is not valid JSON: {exc}"[:300]) from None


def _unknown_fields(obj: Mapping[str, Any], allowed: Sequence[str], prefix: str, hint: str) -> None:
    for name in obj:
        if name not in allowed:
            where = f"{prefix}.{name}" if prefix else name
            raise APIError(400, "unknown_field", f"unknown field {name[:100]!r}; {hint}", field=where[:200])


def _valid_utf8(value: str) -> bool:
    try:
        value.encode("utf-8")
    except UnicodeEncodeError:  # a lone surrogate, sent as a \ud800 escape
        return False
    return True


def parse_classify(body: Any, config: Mapping[str, Any]) -> tuple[list[ReviewIn], bool]:
    """Validate a ``POST /classify`` body; return the reviews and whether it was a batch.

    Raises
    ------
    APIError
        400/413 naming the field at fault (``text``, ``reviews[3].text``, ...).
    """
    if not isinstance(body, dict):
        raise APIError(400, "invalid_body", 'the body must be a JSON object: {"text": ...} or {"reviews": [...]}')
    if "reviews" not in body:
        _unknown_fields(body, _REVIEW_FIELDS, "", 'a review takes "text", "id" and "meta"; '
                                                  'a batch takes only "reviews"')
        return [_parse_review(body, "", config)], False
    _unknown_fields(body, ("reviews",), "", 'a batch takes only "reviews" (put id, text and meta in each review)')
    items = body["reviews"]
    if not isinstance(items, list):
        raise APIError(400, "invalid_type", "reviews must be an array of review objects", field="reviews")
    if not items:
        raise APIError(400, "empty_field", "reviews is empty; send at least one review", field="reviews")
    limit = config["MAX_BATCH_SIZE"]
    if len(items) > limit:
        raise APIError(413, "batch_too_large", f"reviews has {len(items)} items; the limit is {limit} per request",
                       field="reviews")
    reviews = [_parse_review(item, f"reviews[{i}]", config) for i, item in enumerate(items)]
    seen: dict[str, int] = {}
    for i, review in enumerate(reviews):
        if review.generated_id:
            continue
        if review.id in seen:
            raise APIError(400, "duplicate_id", f"reviews[{i}].id repeats the id of reviews[{seen[review.id]}]; "
                                                "ids must be unique within a batch", field=f"reviews[{i}].id")
        seen[review.id] = i
    return reviews, True


def _parse_review(item: Any, where: str, config: Mapping[str, Any]) -> ReviewIn:
    def name(key: str) -> str:
        return f"{where}.{key}" if where else key

    if not isinstance(item, dict):
        raise APIError(400, "invalid_type", f"{where} must be a review object", field=where)
    _unknown_fields(item, _REVIEW_FIELDS, where, 'a review takes "text", "id" and "meta"')
    text = item.get("text")
    if "text" not in item:
        raise APIError(400, "missing_field", f"{name('text')} is required", field=name("text"))
    if not isinstance(text, str):
        raise APIError(400, "invalid_type", f"{name('text')} must be a string", field=name("text"))
    if not text.strip():
        raise APIError(400, "empty_field", f"{name('text')} is empty", field=name("text"))
    if len(text) > config["MAX_TEXT_LENGTH"]:
        raise APIError(413, "text_too_long", f"{name('text')} has {len(text)} characters; the limit is "
                                             f"{config['MAX_TEXT_LENGTH']}", field=name("text"))
    rid = item.get("id")
    generated = rid is None
    if generated:
        rid = review_id_for(text)
    elif not isinstance(rid, str):
        raise APIError(400, "invalid_type", f"{name('id')} must be a string", field=name("id"))
    elif not rid.strip():
        raise APIError(400, "empty_field", f"{name('id')} is empty", field=name("id"))
    elif len(rid) > config["MAX_ID_LENGTH"] or not _valid_utf8(rid):
        raise APIError(400, "invalid_value", f"{name('id')} must be valid text of at most "
                                             f"{config['MAX_ID_LENGTH']} characters", field=name("id"))
    meta = item.get("meta")
    if meta is None:
        meta = {}
    elif not isinstance(meta, dict):
        raise APIError(400, "invalid_type", f"{name('meta')} must be an object", field=name("meta"))
    else:
        encoded = json.dumps(meta, ensure_ascii=False) if _depth(meta) <= _MAX_META_DEPTH else None
        if encoded is None or not _valid_utf8(encoded) or len(encoded.encode("utf-8")) > config["MAX_META_BYTES"]:
            raise APIError(400, "invalid_value", f"{name('meta')} must be valid text of at most "
                                                 f"{config['MAX_META_BYTES']} bytes as JSON, nested at most "
                                                 f"{_MAX_META_DEPTH} levels", field=name("meta"))
    return ReviewIn(text=text, id=rid, meta=meta, generated_id=generated)


def _depth(value: Any) -> int:
    """How deeply ``value`` nests arrays and objects (iterative: no recursion limit to hit)."""
    deepest, stack = 0, [(value, 0)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict):
            item = list(item.values())
        if isinstance(item, list):
            deepest = max(deepest, level + 1)
            if deepest > _MAX_META_DEPTH:
                break
            stack.extend((child, level + 1) for child in item)
    return deepest


def _parse_transition(body: Any) -> tuple[str, str | None]:
    if not isinstance(body, dict):
        raise APIError(400, "invalid_body", 'the body must be a JSON object: {"by": "...", "note": "..."}')
    _unknown_fields(body, _TRANSITION_FIELDS, "", 'it takes "by" and "note"')
    by, note = body.get("by"), body.get("note")
    if "by" not in body:
        raise APIError(400, "missing_field", "by is required: who acts on the escalation", field="by")
    if not isinstance(by, str):
        raise APIError(400, "invalid_type", "by must be a string", field="by")
    if not by.strip():
        raise APIError(400, "empty_field", "by is empty", field="by")
    if len(by) > _MAX_ACTOR or not _valid_utf8(by):
        raise APIError(400, "invalid_value", f"by must be valid text of at most {_MAX_ACTOR} characters", field="by")
    if note is not None and not isinstance(note, str):
        raise APIError(400, "invalid_type", "note must be a string", field="note")
    if note is not None and (len(note) > _MAX_NOTE or not _valid_utf8(note)):
        raise APIError(400, "invalid_value", f"note must be valid text of at most {_MAX_NOTE} characters",
                       field="note")
    return by, note


def _check_query(*allowed: str) -> None:
    for name in request.args:
        if name not in allowed:
            raise APIError(400, "unknown_parameter", f"unknown query parameter {name[:100]!r}; "
                                                     f"expected {', '.join(allowed)}", field=name[:100])


def _int_arg(name: str, default: int | None, low: int, high: int) -> int | None:
    raw = request.args.get(name)
    if raw is None:
        return default
    if not _INT.fullmatch(raw) or not low <= int(raw) <= high:
        raise APIError(400, "invalid_parameter", f"{name} must be an integer from {low} to {high}", field=name)
    return int(raw)


def _explain_arg(default: bool | str) -> bool | str:
    _check_query("explain")
    raw = request.args.get("explain")
    if raw is None:
        return default
    if raw not in ("auto", "true", "false", "1", "0"):
        raise APIError(400, "invalid_parameter", "explain must be auto, true, false, 1 or 0", field="explain")
    return "auto" if raw == "auto" else raw in ("true", "1")
