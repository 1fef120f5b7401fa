"""Configuration of the HTTP service: defaults, file loading, validation, and JSON log lines.

Settings are applied in this order, later ones winning:

1. :data:`DEFAULTS`;
2. a file named by ``REVIEWNLP_CONFIG`` or ``reviewnlp serve --config`` (``.toml``, ``.json`` or
   ``.py``; only UPPER-CASE keys are read, as everywhere in Flask);
3. environment variables ``REVIEWNLP_<KEY>`` (``app.config.from_prefixed_env("REVIEWNLP")``;
   values are parsed as JSON when they can be, so ``REVIEWNLP_MAX_BATCH_SIZE=50`` is an int);
4. the command-line options of ``reviewnlp serve`` (``--store``, ``--model``, ``--policy``).

>>> cfg = validate(dict(DEFAULTS, API_KEYS="k1, k2", MAX_BATCH_SIZE="10"))
>>> cfg["API_KEYS"], cfg["MAX_BATCH_SIZE"]
(('k1', 'k2'), 10)
"""
from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, MutableMapping
from datetime import datetime, timezone
from typing import Any

from ..errors import ReviewNLPError

__all__ = ["DEFAULTS", "ConfigError", "load_file", "validate", "JsonFormatter", "logging_config"]

#: Every setting the service reads, with its default.
DEFAULTS: dict[str, Any] = {
    # model directory; None = the shipped model (or the REVIEWNLP_MODEL directory)
    "MODEL": None,
    # routing policy TOML merged over the shipped one; None = the shipped policy
    "POLICY": None,
    # escalation store: SQLite file path or postgresql:// URL
    "STORE": "reviewnlp-escalations.db",
    # also write a webhook outbox row per new escalation
    "STORE_OUTBOX": False,
    # reviews per POST /classify batch
    "MAX_BATCH_SIZE": 100,
    # characters per review text
    "MAX_TEXT_LENGTH": 5000,
    # characters of a client-supplied review id
    "MAX_ID_LENGTH": 200,
    # bytes of a review's "meta" object once serialized as JSON
    "MAX_META_BYTES": 8192,
    # bytes of a request body (Flask/Werkzeug setting; larger bodies get a JSON 413)
    "MAX_CONTENT_LENGTH": 4 * 1024 * 1024,
    # default of the ?explain= query parameter of POST /classify: "auto" explains the reviews that
    # escalate (the ones people read), true all of them, false none (a batch is then one vectorized pass)
    "EXPLAIN": "auto",
    # API keys accepted in the X-API-Key header: a list, or one comma-separated string; empty = no auth
    "API_KEYS": (),
    # directory where gunicorn workers share their metrics (set by `reviewnlp serve`); None = this process only
    "METRICS_DIR": None,
    # seconds between two writes of this worker's metrics to METRICS_DIR
    "METRICS_FLUSH_INTERVAL": 1.0,
    # page size limits of GET /escalations
    "ESCALATIONS_PAGE_SIZE": 50,
    "ESCALATIONS_MAX_PAGE_SIZE": 500,
}

_POSITIVE_INTS = ("MAX_BATCH_SIZE", "MAX_TEXT_LENGTH", "MAX_ID_LENGTH", "MAX_META_BYTES", "MAX_CONTENT_LENGTH",
                  "ESCALATIONS_PAGE_SIZE", "ESCALATIONS_MAX_PAGE_SIZE")
_BOOLS = ("STORE_OUTBOX",)
_PATHS = ("MODEL", "POLICY", "METRICS_DIR")
#: Accepted spellings of the ``explain`` setting and query parameter.
_EXPLAIN_WORDS: dict[str, bool | str] = {"auto": "auto", "true": True, "1": True, "false": False, "0": False}


class ConfigError(ReviewNLPError, ValueError):
    """A service setting is missing, of the wrong type or out of range; the message names it."""


def load_file(config: MutableMapping[str, Any], path: str | os.PathLike[str]) -> None:
    """Update ``config`` (a Flask ``app.config``) from a ``.toml``, ``.json`` or ``.py`` file.

    Parameters
    ----------
    config
        The Flask config object (it has ``from_file`` and ``from_pyfile``).
    path
        The settings file; its suffix selects the parser.

    Raises
    ------
    ConfigError
        The file cannot be read or parsed, or its suffix is not supported.
    """
    name = os.fspath(path)
    suffix = os.path.splitext(name)[1].lower()
    try:
        if suffix == ".toml":
            import tomllib

            config.from_file(name, load=tomllib.load, text=False)
        elif suffix == ".json":
            config.from_file(name, load=json.load)
        elif suffix == ".py":
            config.from_pyfile(name)
        else:
            raise ConfigError(f"{name}: unsupported config file type {suffix or '(none)'!r}; "
                              "use .toml, .json or .py")
    except ConfigError:
        raise
    except OSError as exc:
        raise ConfigError(f"{name}: cannot read the config file: {exc.strerror or exc}") from None
    except Exception as exc:  # a parse error of any of the three formats
        raise ConfigError(f"{name}: invalid config file: {exc}") from None


def validate(config: MutableMapping[str, Any]) -> MutableMapping[str, Any]:
    """Check and normalize the service settings in place; return ``config``.

    Integers given as strings are converted, ``API_KEYS`` becomes a tuple of non-empty keys.

    Raises
    ------
    ConfigError
        A setting has the wrong type or is out of range; the message names it.
    """
    for key in _POSITIVE_INTS:
        value = config.get(key)
        try:
            number = int(value) if isinstance(value, (int, str)) and not isinstance(value, bool) else None
        except ValueError:
            number = None
        if number is None or number < 1:
            raise ConfigError(f"{key}: expected a positive integer, got {value!r}")
        config[key] = number
    for key in _BOOLS:
        value = config.get(key)
        if isinstance(value, str) and value.lower() in ("1", "true", "yes", "on", "0", "false", "no", "off"):
            value = value.lower() in ("1", "true", "yes", "on")
        if not isinstance(value, bool):
            raise ConfigError(f"{key}: expected true or false, got {value!r}")
        config[key] = value
    explain = config.get("EXPLAIN")
    if isinstance(explain, str) and explain.lower() in _EXPLAIN_WORDS:
        explain = _EXPLAIN_WORDS[explain.lower()]
    if explain not in (True, False, "auto"):
        raise ConfigError(f"EXPLAIN: expected auto, true or false, got {explain!r}")
    config["EXPLAIN"] = explain
    for key in _PATHS:
        value = config.get(key)
        if value is not None and (not isinstance(value, (str, os.PathLike)) or not os.fspath(value)):
            raise ConfigError(f"{key}: expected a path, got {value!r}")
    store = config.get("STORE")
    if not isinstance(store, (str, os.PathLike)) or not os.fspath(store):
        raise ConfigError(f"STORE: expected a SQLite path or a postgresql:// URL, got {type(store).__name__}")
    keys = config.get("API_KEYS") or ()
    if isinstance(keys, str):
        keys = keys.split(",")
    if not isinstance(keys, (list, tuple)) or not all(isinstance(k, str) for k in keys):
        raise ConfigError("API_KEYS: expected a list of strings or one comma-separated string")
    config["API_KEYS"] = tuple(k.strip() for k in keys if k.strip())
    if config["ESCALATIONS_PAGE_SIZE"] > config["ESCALATIONS_MAX_PAGE_SIZE"]:
        raise ConfigError("ESCALATIONS_PAGE_SIZE: must not exceed ESCALATIONS_MAX_PAGE_SIZE")
    interval = config.get("METRICS_FLUSH_INTERVAL")
    if isinstance(interval, bool) or not isinstance(interval, (int, float)) or not 0 < interval <= 3600:
        raise ConfigError(f"METRICS_FLUSH_INTERVAL: expected seconds between 0 and 3600, got {interval!r}")
    return config


# --------------------------------------------------------------------------------------------------
# Logging
# --------------------------------------------------------------------------------------------------

_RECORD_FIELDS = frozenset(vars(logging.LogRecord("x", logging.INFO, "x", 0, "x", None, None))) | {
    "message", "asctime", "taskName"}


class JsonFormatter(logging.Formatter):
    """Format each record as one JSON object per line.

    The object has ``ts`` (UTC, ISO 8601), ``level``, ``logger``, ``pid``, ``message``, every
    ``extra=`` field of the call, and ``exc`` (the traceback) when there is one.

    >>> record = logging.LogRecord("reviewnlp.service", logging.INFO, __file__, 1, "request", None, None)
    >>> record.status = 200
    >>> out = json.loads(JsonFormatter().format(record))
    >>> out["message"], out["status"], out["level"]
    ('request', 200, 'INFO')
    """

    def format(self, record: logging.LogRecord) -> str:
        out: dict[str, Any] = {
            "ts": datetime.fromtimestamp(record.created, timezone.utc).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "pid": record.process,
            "message": record.getMessage(),
        }
        for key, value in record.__dict__.items():
            if key not in _RECORD_FIELDS and not key.startswith("_"):
                out[key] = value
        if record.exc_info:
            out["exc"] = self.formatException(record.exc_info)
        return json.dumps(out, ensure_ascii=False, default=str)


def logging_config(level: str = "INFO") -> dict[str, Any]:
    """A :func:`logging.config.dictConfig` mapping: JSON lines on stderr, gunicorn's loggers included.

    Also valid as gunicorn's ``logconfig_dict`` (it replaces gunicorn's own handlers and format).
    """
    level = level.upper()
    handler = {"class": "logging.StreamHandler", "formatter": "generic", "stream": "ext://sys.stderr"}
    return {
        "version": 1,
        "disable_existing_loggers": False,
        "formatters": {"generic": {"()": f"{__name__}.JsonFormatter"}},
        "handlers": {"console": dict(handler), "error_console": dict(handler)},
        "root": {"level": level, "handlers": ["console"]},
        "loggers": {
            "gunicorn.error": {"level": level, "handlers": ["error_console"], "propagate": False,
                               "qualname": "gunicorn.error"},
            # off: the app logs one JSON line per request itself (with the request id, without the query)
            "gunicorn.access": {"level": "WARNING", "handlers": [], "propagate": False,
                                "qualname": "gunicorn.access"},
        },
    }


def public_settings(config: Mapping[str, Any]) -> dict[str, Any]:
    """The limits a client may want to know (for ``GET /version``); no paths, URLs or keys."""
    return {"max_batch_size": config["MAX_BATCH_SIZE"], "max_text_length": config["MAX_TEXT_LENGTH"],
            "max_content_length": config["MAX_CONTENT_LENGTH"], "auth": bool(config["API_KEYS"])}
