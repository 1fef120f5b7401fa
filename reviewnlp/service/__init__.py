"""The HTTP service: a thin Flask app over the library (classify -> route -> store).

Create it with :func:`create_app`; ``reviewnlp serve`` runs it under gunicorn (or waitress on
Windows), one app per worker process. The model, the routing policy and the escalation store are
loaded once, when the app is created, and kept in ``app.extensions["reviewnlp"]``
(a :class:`ServiceState`).

Every request gets a request id (the client's ``X-Request-ID`` when it is a sane token, else a new
one), echoed in the ``X-Request-ID`` response header and in error bodies, and is logged as one
structured line (method, path, status, duration_ms, request_id) on the ``reviewnlp.service``
logger. Neither review text nor API keys are ever logged.
"""
from __future__ import annotations

import gc
import hmac
import logging
import os
import re
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # flask is imported when an app is created: `reviewnlp --help` stays light
    from flask import Flask

__all__ = ["create_app", "ServiceState", "OPEN_ENDPOINTS"]

logger = logging.getLogger(__name__)

#: Endpoints answered without an API key even when ``API_KEYS`` is set (probes of the orchestrator).
OPEN_ENDPOINTS = frozenset({"api.health", "api.ready"})
_REQUEST_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,127}")


@dataclass
class ServiceState:
    """What the views share: loaded once per process by :func:`create_app`.

    Attributes
    ----------
    model : reviewnlp.model.ReviewModel
    policy : reviewnlp.routing.Policy
    store : reviewnlp.store.SQLEscalationStore
        Thread-safe (it serializes its connection with a lock); one per process.
    metrics : reviewnlp.service.metrics.Metrics
    """

    model: Any
    policy: Any
    store: Any
    metrics: Any

    @classmethod
    def load(cls, config: Mapping[str, Any]) -> ServiceState:
        """Load the policy, open the store, load the model (in that order: cheapest failure first)."""
        from .. import load as load_model
        from ..routing import load_policy
        from ..store import open_store
        from .metrics import Metrics

        policy = load_policy(config["POLICY"])
        store = open_store(config["STORE"], outbox=config["STORE_OUTBOX"])
        try:
            started = time.perf_counter()
            model = load_model(config["MODEL"])
            # compile the lean scorer and load the segmenter's dictionary now, not in the first request
            model.classify_many(["warm-up 预热"], explain=True)
            # the model's many long-lived objects would make every full GC pass take ~90 ms; move
            # them out of the collector's generations so requests do not pay for it
            gc.collect()
            gc.freeze()
            logger.info("model %s loaded in %.2f s", model.version, time.perf_counter() - started,
                        extra={"event": "model_loaded", "model_version": model.version})
        except BaseException:
            store.close()
            raise
        metrics = Metrics(config["METRICS_DIR"], flush_interval=config["METRICS_FLUSH_INTERVAL"])
        metrics.start()
        return cls(model=model, policy=policy, store=store, metrics=metrics)

    def close(self) -> None:
        """Flush the metrics and close the store (a gunicorn worker calls this when it exits)."""
        self.metrics.stop()
        self.store.close()


def create_app(test_config: Mapping[str, Any] | None = None, *, config_file: str | os.PathLike[str] | None = None,
               overrides: Mapping[str, Any] | None = None) -> Flask:
    """Create the service app; the model loads here, once.

    Parameters
    ----------
    test_config : mapping, optional
        Settings used *instead of* the config file and the ``REVIEWNLP_*`` environment (tests).
    config_file : path, optional
        A ``.toml``, ``.json`` or ``.py`` settings file; default: ``$REVIEWNLP_CONFIG`` if set.
    overrides : mapping, optional
        Settings applied last (the ``reviewnlp serve`` options); ``None`` values are ignored.

    Returns
    -------
    flask.Flask

    Raises
    ------
    reviewnlp.errors.ReviewNLPError
        A setting is invalid (:class:`~reviewnlp.service.config.ConfigError`), the policy is
        invalid, the store cannot be opened or the model cannot be loaded.
    """
    from flask import Flask

    from . import api
    from .config import DEFAULTS, load_file, validate
    from .errors import register_error_handlers

    app = Flask(__name__)
    app.config.from_mapping(DEFAULTS)
    if test_config is None:
        path = config_file or os.environ.get("REVIEWNLP_CONFIG")
        if path:
            load_file(app.config, path)
        app.config.from_prefixed_env("REVIEWNLP")
    else:
        app.config.from_mapping(test_config)
    app.config.from_mapping({k: v for k, v in (overrides or {}).items() if v is not None})
    validate(app.config)
    app.json.sort_keys = False

    app.extensions["reviewnlp"] = ServiceState.load(app.config)
    register_error_handlers(app)
    app.before_request(_start_request)
    app.before_request(_authenticate)
    app.after_request(_finish_request)
    app.register_blueprint(api.bp)
    return app


def _start_request() -> None:
    from flask import g, request

    g.started = time.perf_counter()
    given = request.headers.get("X-Request-ID", "")
    g.request_id = given if _REQUEST_ID.fullmatch(given) else uuid.uuid4().hex


def _authenticate() -> None:
    from flask import current_app, request

    from .errors import APIError

    keys: tuple[str, ...] = current_app.config["API_KEYS"]
    if not keys or request.endpoint in OPEN_ENDPOINTS:
        return
    given = request.headers.get("X-API-Key", "").encode("utf-8", "surrogateescape")
    matched = False
    for key in keys:  # compare with every key: the time taken does not tell which one matched
        matched |= hmac.compare_digest(given, key.encode("utf-8"))
    if not matched:
        reason = "missing" if not given else "invalid"
        raise APIError(401, "unauthorized", f"{reason} API key: send a valid key in the X-API-Key header",
                       field="X-API-Key")


def _finish_request(response):
    from flask import current_app, g, request

    request_id = g.get("request_id") or uuid.uuid4().hex
    response.headers["X-Request-ID"] = request_id
    seconds = time.perf_counter() - g.get("started", time.perf_counter())
    endpoint = request.url_rule.rule if request.url_rule is not None else "unmatched"
    current_app.extensions["reviewnlp"].metrics.observe_request(endpoint, request.method, response.status_code,
                                                                 seconds)
    logger.info("%s %s %s", request.method, request.path, response.status_code,
                extra={"event": "request", "method": request.method, "path": request.path,
                       "status": response.status_code, "duration_ms": round(seconds * 1000, 3),
                       "request_id": request_id})
    return response
