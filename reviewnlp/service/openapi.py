"""The OpenAPI 3 document of the service, built from the app's settings (``GET /openapi.json``).

It is built rather than stored so that its limits (batch size, text length, page size) and its
security section are those of the running configuration. ``tests/service/test_openapi.py`` runs
schemathesis against the app with it, which keeps it true.

>>> from reviewnlp.service.config import DEFAULTS, validate
>>> spec = build_spec(validate(dict(DEFAULTS)), version="0")
>>> spec["openapi"], sorted(spec["paths"])[:3]
('3.0.3', ['/classify', '/escalations', '/escalations/{escalation_id}'])
>>> spec["components"]["schemas"]["Batch"]["properties"]["reviews"]["maxItems"]
100
"""
from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..labels import CAUSES, FLAGS, SEVERITIES

__all__ = ["build_spec"]

_MAX_ID = 2**63 - 1


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: Mapping[str, Any]) -> dict[str, Any]:
    return {"application/json": {"schema": dict(schema)}}


def _scores(names: tuple[str, ...]) -> dict[str, Any]:
    return {"type": "object", "properties": {n: {"type": "number"} for n in names},
            "additionalProperties": {"type": "number"}}


def _schemas(config: Mapping[str, Any]) -> dict[str, Any]:
    nullable_string = {"type": "string", "nullable": True}
    review = {
        "type": "object",
        "additionalProperties": False,
        "required": ["text"],
        "properties": {
            "id": {"type": "string", "nullable": True, "minLength": 1, "maxLength": config["MAX_ID_LENGTH"],
                   "pattern": r"\S",
                   "description": "Your id of the review: the idempotency key of its escalation. When it is "
                                  "missing the service uses 'sha256:' + the first 32 hex digits of the SHA-256 "
                                  "of the text, so a retry of the same text is idempotent too."},
            "text": {"type": "string", "minLength": 1, "maxLength": config["MAX_TEXT_LENGTH"], "pattern": r"\S",
                     "description": "The review as the customer wrote it (Chinese or English)."},
            "meta": {"type": "object", "nullable": True, "additionalProperties": True,
                     "description": f"Anything to carry along (product, shop, date); at most "
                                    f"{config['MAX_META_BYTES']} bytes as JSON, nested at most 32 levels."},
        },
    }
    routing = {
        "type": "object",
        "required": ["escalate", "queue", "team", "priority", "due_at", "reasons", "suggested_actions",
                     "needs_human_review"],
        "properties": {
            "escalate": {"type": "boolean", "description": "Priority 1-2: the review must be acted on quickly."},
            "queue": nullable_string,
            "team": nullable_string,
            "priority": {"type": "integer", "minimum": 1, "maximum": 5},
            "due_at": {"type": "string", "format": "date-time", "nullable": True},
            "reasons": {"type": "array", "items": {
                "type": "object", "required": ["rule", "message", "inputs"],
                "properties": {"rule": {"type": "string"}, "message": {"type": "string"},
                               "inputs": {"type": "object"}}}},
            "suggested_actions": {"type": "array", "items": {"type": "string"}},
            "needs_human_review": {"type": "boolean"},
        },
    }
    prediction_props = {
        "id": {"type": "string", "description": "The review id (yours, or the generated one)."},
        "lang": {"type": "string"},
        "causes": {"type": "array", "items": {"type": "string", "enum": list(CAUSES)}},
        "cause_scores": _scores(CAUSES),
        "severity": {"type": "string", "enum": list(SEVERITIES)},
        "severity_scores": _scores(SEVERITIES),
        "flags": {"type": "array", "items": {"type": "string", "enum": list(FLAGS)}},
        "flag_scores": _scores(FLAGS),
        "confidence": {"type": "number", "minimum": 0, "maximum": 1},
        "model_version": {"type": "string"},
        "explanation": {"type": "object", "properties": {
            "tokens": {"type": "object", "additionalProperties": {"type": "array", "items": {"type": "array"}}},
            "lexicon_hits": {"type": "object", "additionalProperties": {"type": "array",
                                                                        "items": {"type": "string"}}}}},
        "meta": {"type": "object"},
        "routing": _ref("Routing"),
        "escalation": {
            "type": "object", "nullable": True, "required": ["stored", "id", "created"],
            "description": "Present (not null) when the review escalates: it was committed to the escalation "
                           "store before this response was sent.",
            "properties": {"stored": {"type": "boolean", "enum": [True]},
                           "id": {"type": "integer", "description": "The escalation's id in the store."},
                           "created": {"type": "boolean",
                                       "description": "False when it was already stored (a retry)."}}},
    }
    escalation_props = {
        "id": {"type": "integer"},
        "review_id": {"type": "string"},
        "model_version": {"type": "string"},
        "queue": {"type": "string"},
        "team": nullable_string,
        "priority": {"type": "integer", "minimum": 1, "maximum": 5},
        "due_at": {"type": "string", "format": "date-time", "nullable": True},
        "status": {"type": "string", "enum": ["open", "acknowledged", "resolved"]},
        "created_at": {"type": "string", "format": "date-time"},
        "prediction": {"type": "object"},
        "decision": {"type": "object"},
        "text": {"type": "string", "description": "The review text, normalized and with personal data masked."},
    }
    event = {"type": "object", "required": ["id", "escalation_id", "status", "actor", "at", "note"],
             "properties": {"id": {"type": "integer"}, "escalation_id": {"type": "integer"},
                            "status": {"type": "string", "enum": ["open", "acknowledged", "resolved"]},
                            "actor": {"type": "string"}, "at": {"type": "string", "format": "date-time"},
                            "note": nullable_string}}
    return {
        "Review": review,
        "Batch": {"type": "object", "additionalProperties": False, "required": ["reviews"],
                  "properties": {"reviews": {"type": "array", "minItems": 1, "maxItems": config["MAX_BATCH_SIZE"],
                                             "items": _ref("Review"),
                                             "description": "Explicit ids must be unique within a batch."}}},
        "Routing": routing,
        "Result": {"type": "object", "required": list(prediction_props), "properties": prediction_props},
        "BatchResult": {"type": "object", "required": ["results"],
                        "properties": {"results": {"type": "array", "items": _ref("Result")}}},
        "Escalation": {"type": "object", "required": list(escalation_props), "properties": escalation_props},
        "EscalationDetail": {"allOf": [_ref("Escalation"), {
            "type": "object", "required": ["events"],
            "properties": {"events": {"type": "array", "items": event}}}]},
        "EscalationPage": {"type": "object", "required": ["escalations", "count", "limit", "next_after"],
                           "properties": {"escalations": {"type": "array", "items": _ref("Escalation")},
                                          "count": {"type": "integer", "minimum": 0,
                                                    "description": "How many escalations match the filters."},
                                          "limit": {"type": "integer"},
                                          "next_after": {"type": "integer", "nullable": True,
                                                         "description": "Pass as ?after= for the next page; "
                                                                        "null on the last page."}}},
        "Transition": {"type": "object", "additionalProperties": False, "required": ["by"],
                       "properties": {"by": {"type": "string", "minLength": 1, "maxLength": 200, "pattern": r"\S"},
                                      "note": {"type": "string", "nullable": True, "maxLength": 2000}}},
        "Error": {"type": "object", "required": ["error"], "properties": {"error": {
            "type": "object", "required": ["code", "message", "field"],
            "properties": {"code": {"type": "string"}, "message": {"type": "string"}, "field": nullable_string,
                           "request_id": nullable_string}}}},
    }


_ERROR_TEXT = {
    400: "Bad input: error.field names the part at fault.",
    401: "Missing or invalid X-API-Key.",
    404: "No such escalation.",
    409: "The escalation cannot move to that status from its current one.",
    413: "Body, batch or text over the limit.",
    415: "The body is not application/json.",
    503: "The escalation store is unavailable. No result is returned; in a batch, escalations before the failing "
         "one may be stored: retry the request (a review's escalation is stored once).",
}


def _responses(ok: Mapping[str, Any], *errors: int, auth: bool, ok_text: str = "OK") -> dict[str, Any]:
    headers = {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}}
    out: dict[str, Any] = {"200": {"description": ok_text, "headers": headers, "content": dict(ok)}}
    for status in sorted({*errors, *((401,) if auth else ())}):
        out[str(status)] = {"description": _ERROR_TEXT[status], "headers": headers, "content": _json(_ref("Error"))}
    return out


def build_spec(config: Mapping[str, Any], version: str) -> dict[str, Any]:
    """Build the OpenAPI 3.0 document for an app with these (validated) settings.

    Parameters
    ----------
    config : mapping
        The app's config (limits, ``API_KEYS``).
    version : str
        The reviewnlp version, shown as the API version.
    """
    auth = bool(config["API_KEYS"])
    json_body = {"required": True, "content": _json(_ref("Transition"))}
    escalation_id = {"name": "escalation_id", "in": "path", "required": True,
                     "schema": {"type": "integer", "minimum": 0, "maximum": _MAX_ID}}
    page_size, max_page = config["ESCALATIONS_PAGE_SIZE"], config["ESCALATIONS_MAX_PAGE_SIZE"]
    transition = {
        "parameters": [escalation_id],
        "requestBody": json_body,
        "responses": _responses(_json(_ref("Escalation")), 400, 404, 409, 413, 415, 503, auth=auth),
    }
    open_op = {"security": []} if auth else {}
    paths: dict[str, Any] = {
        "/classify": {"post": {
            "summary": "Classify one review or a batch; route it; store escalations before answering.",
            "operationId": "classify",
            "parameters": [{"name": "explain", "in": "query", "required": False,
                            "description": "Token and lexicon explanations: auto = for the reviews that escalate, "
                                           "true = for all, false = none (default: the EXPLAIN setting, auto).",
                            "schema": {"type": "string", "enum": ["auto", "true", "false", "1", "0"]}}],
            "requestBody": {"required": True, "content": _json(
                {"oneOf": [_ref("Review"), _ref("Batch")]})},
            "responses": _responses(_json({"oneOf": [_ref("Result"), _ref("BatchResult")]}),
                                    400, 413, 415, 503, auth=auth,
                                    ok_text="One Result for one review; {results: [...]} in input order for a batch."),
        }},
        "/escalations": {"get": {
            "summary": "List stored escalations in id order (keyset pagination).",
            "operationId": "listEscalations",
            "parameters": [
                {"name": "status", "in": "query", "schema": {"type": "string",
                                                             "enum": ["open", "acknowledged", "resolved"]}},
                {"name": "queue", "in": "query", "schema": {"type": "string", "minLength": 1, "maxLength": 100}},
                {"name": "limit", "in": "query",
                 "schema": {"type": "integer", "minimum": 1, "maximum": max_page, "default": page_size}},
                {"name": "after", "in": "query", "description": "Only escalations with an id above this "
                                                               "(next_after of the previous page).",
                 "schema": {"type": "integer", "minimum": 0, "maximum": _MAX_ID}},
            ],
            "responses": _responses(_json(_ref("EscalationPage")), 400, 503, auth=auth),
        }},
        "/escalations/{escalation_id}": {"get": {
            "summary": "One escalation with its status history.",
            "operationId": "getEscalation",
            "parameters": [escalation_id],
            "responses": _responses(_json(_ref("EscalationDetail")), 404, 503, auth=auth),
        }},
        "/escalations/{escalation_id}/ack": {"post": dict(
            transition, summary="Acknowledge an open escalation.", operationId="ackEscalation")},
        "/escalations/{escalation_id}/resolve": {"post": dict(
            transition, summary="Resolve an open or acknowledged escalation.", operationId="resolveEscalation")},
        "/health": {"get": {
            "summary": "Liveness: the process answers.", "operationId": "health", **open_op,
            "responses": _responses(_json({"type": "object", "required": ["status"],
                                           "properties": {"status": {"type": "string", "enum": ["ok"]}}}),
                                    auth=False)}},
        "/ready": {"get": {
            "summary": "Readiness: the model is loaded and the escalation store is writable.",
            "operationId": "ready", **open_op,
            "responses": {
                **_responses(_json({"type": "object", "required": ["status", "model", "store"]}), auth=False),
                "503": {"description": "Not ready (the store cannot be written).",
                        "headers": {"X-Request-ID": {"$ref": "#/components/headers/RequestId"}},
                        "content": _json({"type": "object", "required": ["status", "model", "store"]})},
            }}},
        "/version": {"get": {
            "summary": "Library and model versions, model metadata (without its metrics) and limits.",
            "operationId": "version",
            "responses": _responses(_json({"type": "object", "required": ["reviewnlp", "model", "limits"]}),
                                    auth=auth)}},
        "/metrics": {"get": {
            "summary": "Prometheus metrics (text exposition format 0.0.4).",
            "operationId": "metrics",
            "responses": _responses({"text/plain": {"schema": {"type": "string"}}}, auth=auth)}},
        "/openapi.json": {"get": {
            "summary": "This document.", "operationId": "openapi",
            "responses": _responses(_json({"type": "object"}), auth=auth)}},
    }
    spec: dict[str, Any] = {
        "openapi": "3.0.3",
        "info": {"title": "reviewnlp", "version": version,
                 "description": "Triage of Chinese/English customer reviews: causes, severity, risk flags, "
                                "routing, and a durable escalation queue. Every error is "
                                "{\"error\": {\"code\", \"message\", \"field\"}}."},
        "paths": paths,
        "components": {
            "schemas": _schemas(config),
            "headers": {"RequestId": {"description": "Your X-Request-ID if it was a sane token, else a new id.",
                                      "schema": {"type": "string"}}},
            "securitySchemes": {"ApiKey": {"type": "apiKey", "in": "header", "name": "X-API-Key"}},
        },
    }
    if auth:
        spec["security"] = [{"ApiKey": []}]
    return spec
