"""JSON errors of the service: :class:`APIError` and the handlers that render every failure.

Every error response has the same body, whatever went wrong::

    {"error": {"code": "missing_field", "message": "reviews[3].text is required",
               "field": "reviews[3].text", "request_id": "..."}}

``code`` is stable (clients branch on it), ``message`` is for people, ``field`` names the part of
the request at fault (``None`` when it is the whole request). Werkzeug's HTTP errors (404, 405,
413, ...) get the same shape, and any other exception is logged and answered with a bare 500:
no traceback or detail ever reaches the client.
"""
from __future__ import annotations

import logging
from typing import Any

from flask import Flask, Response, g, jsonify
from werkzeug.exceptions import HTTPException

from ..errors import InputError, StoreError

__all__ = ["APIError", "register_error_handlers", "error_response"]

logger = logging.getLogger(__name__)

#: The ``code`` of Werkzeug's HTTP errors.
_HTTP_CODES: dict[int, str] = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    408: "request_timeout",
    411: "length_required",
    413: "payload_too_large",
    414: "uri_too_long",
    415: "unsupported_media_type",
    429: "too_many_requests",
    431: "headers_too_large",
    500: "internal_error",
    501: "not_implemented",
    503: "unavailable",
}


class APIError(Exception):
    """An error the client can act on, rendered as ``{"error": {"code", "message", "field"}}``.

    Parameters
    ----------
    status : int
        The HTTP status (4xx for the client's mistakes, 503 when a dependency is down).
    code : str
        Stable machine-readable error code, e.g. ``"missing_field"``.
    message : str
        Human-readable explanation; never contains review text or credentials.
    field : str, optional
        The request part at fault, e.g. ``"reviews[3].text"`` or ``"limit"``.
    headers : dict, optional
        Extra response headers.

    Examples
    --------
    >>> err = APIError(400, "missing_field", "text is required", field="text")
    >>> err.to_dict()
    {'code': 'missing_field', 'message': 'text is required', 'field': 'text'}
    """

    def __init__(self, status: int, code: str, message: str, field: str | None = None,
                 headers: dict[str, str] | None = None):
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.field = field
        self.headers = dict(headers or {})

    def to_dict(self) -> dict[str, Any]:
        return {"code": self.code, "message": self.message, "field": self.field}


def error_response(error: APIError) -> Response:
    """Render ``error`` as a JSON response with its status and headers."""
    body = error.to_dict()
    body["request_id"] = g.get("request_id")
    response = jsonify({"error": body})
    response.status_code = error.status
    response.headers.update(error.headers)
    return response


def _handle_api_error(error: APIError) -> Response:
    return error_response(error)


def _handle_http_exception(error: HTTPException) -> Response:
    status = error.code or 500
    code = _HTTP_CODES.get(status, "http_error")
    message = error.description or error.name
    if status == 413:
        message = "the request body is larger than the limit of this service"
    headers = {}
    valid_methods = getattr(error, "valid_methods", None)
    if status == 405 and valid_methods:
        headers["Allow"] = ", ".join(sorted(valid_methods))
    return error_response(APIError(status, code, message, headers=headers))


def _handle_input_error(error: InputError) -> Response:
    return error_response(APIError(400, "invalid_input", str(error), field=error.field))


def _handle_store_error(error: StoreError) -> Response:
    # The message names the store's location (a path or a URL): log it, do not send it.
    logger.error("escalation store error: %s", error)
    return error_response(APIError(503, "store_unavailable",
                                   "the escalation store is unavailable: retry the request later (retries are "
                                   "idempotent: a review's escalation is stored once)",
                                   headers={"Retry-After": "5"}))


def _handle_unexpected(error: Exception) -> Response:
    logger.exception("unhandled error in %s", type(error).__name__)
    return error_response(APIError(500, "internal_error", "internal server error"))


def register_error_handlers(app: Flask) -> None:
    """Make every error of ``app`` a JSON response (see the module docstring)."""
    app.register_error_handler(APIError, _handle_api_error)
    app.register_error_handler(HTTPException, _handle_http_exception)
    app.register_error_handler(InputError, _handle_input_error)
    app.register_error_handler(StoreError, _handle_store_error)
    app.register_error_handler(Exception, _handle_unexpected)
