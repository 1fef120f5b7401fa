"""``reviewnlp serve``: run the HTTP service under gunicorn, or waitress where gunicorn cannot run.

gunicorn is driven programmatically (:func:`gunicorn_application`, a ``BaseApplication``) with
``preload_app`` off: each worker process calls :func:`~reviewnlp.service.create_app` once, so the
model is loaded once per worker and nothing is shared across a ``fork``. Cheap settings (config,
policy, store) are checked in the master first, so a mistake is one line on stderr and exit code 2
rather than a crash loop of workers. On Windows (no ``fcntl``) it falls back to waitress: one
process with ``--threads`` threads.

>>> import argparse
>>> parser = argparse.ArgumentParser(prog="reviewnlp")
>>> _ = register(parser.add_subparsers(dest="command"))
>>> args = parser.parse_args(["serve", "--port", "9000", "--workers", "3"])
>>> args.port, args.workers, args.store, args.func.__name__
(9000, 3, None, 'cmd_serve')
"""
from __future__ import annotations

import argparse
import logging
import logging.config
import os
import shutil
import tempfile
from collections.abc import Callable, Mapping
from typing import Any

__all__ = ["register", "cmd_serve", "gunicorn_application", "gunicorn_options", "settings"]

logger = logging.getLogger(__name__)


def register(subparsers: Any) -> argparse.ArgumentParser:
    """Add the ``serve`` subcommand to an argparse ``subparsers`` object."""
    p = subparsers.add_parser(
        "serve", help="run the HTTP service (gunicorn; waitress on Windows)",
        description="Run the reviewnlp HTTP service. Settings: defaults < --config file (or $REVIEWNLP_CONFIG) "
                    "< REVIEWNLP_* environment variables < these options.")
    p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1; 0.0.0.0 = all)")
    p.add_argument("--port", type=_port, default=8000, help="TCP port (default 8000)")
    p.add_argument("--workers", type=_positive, default=2,
                   help="gunicorn worker processes, each with its own copy of the model (default 2)")
    p.add_argument("--threads", type=_positive, default=4,
                   help="threads per worker (default 4: gunicorn's gthread worker, with HTTP keep-alive; "
                        "1: the sync worker, one connection per request)")
    p.add_argument("--store", help="escalation store: SQLite path or postgresql:// URL "
                                   "(default: reviewnlp-escalations.db in the working directory)")
    p.add_argument("--model", help="model directory (default: the shipped model)")
    p.add_argument("--policy", help="routing policy TOML (default: the shipped policy)")
    p.add_argument("--config", help="settings file (.toml, .json or .py); default $REVIEWNLP_CONFIG")
    p.add_argument("--timeout", type=_positive, default=30, help="seconds before a stuck worker is restarted")
    p.add_argument("--server", choices=("auto", "gunicorn", "waitress"), default="auto",
                   help="WSGI server (default: gunicorn if it can be imported, else waitress)")
    p.add_argument("--log-level", default="info", choices=("debug", "info", "warning", "error"),
                   help="log level of the JSON log lines on stderr (default info: one line per request)")
    p.set_defaults(func=cmd_serve)
    return p


def _positive(text: str) -> int:
    value = int(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text}")
    return value


def _port(text: str) -> int:
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 1 to 65535, got {text}")
    return value


def settings(args: argparse.Namespace) -> dict[str, Any]:
    """The settings that the command-line options override (``None``: not given)."""
    return {"STORE": args.store, "MODEL": args.model, "POLICY": args.policy}


def _preflight(config_file: str | None, overrides: Mapping[str, Any]) -> dict[str, Any]:
    """Check the settings, policy, store and model directory in the master; return the settings."""
    from flask import Config

    from ..persistence import METADATA, default_model_dir
    from ..routing import load_policy
    from ..store import open_store
    from .config import DEFAULTS, ConfigError, load_file, validate

    config = Config(os.getcwd())
    config.from_mapping(DEFAULTS)
    path = config_file or os.environ.get("REVIEWNLP_CONFIG")
    if path:
        load_file(config, path)
    config.from_prefixed_env("REVIEWNLP")
    config.from_mapping({k: v for k, v in overrides.items() if v is not None})
    validate(config)
    load_policy(config["POLICY"])
    open_store(config["STORE"], outbox=config["STORE_OUTBOX"]).close()
    model_dir = config["MODEL"] or default_model_dir()
    if not os.path.isfile(os.path.join(model_dir, METADATA)):
        raise ConfigError(f"MODEL: {model_dir} is not a model directory (no {METADATA})")
    return dict(config)


def cmd_serve(args: argparse.Namespace) -> int:
    """Handler of ``reviewnlp serve``: check the settings, then run the server until it is stopped."""
    logging.config.dictConfig(_logging(args.log_level))
    overrides = settings(args)
    config = _preflight(args.config, overrides)
    server = args.server
    if server == "auto":
        try:
            import gunicorn.app.base  # noqa: F401  (fails on Windows: no fcntl)
        except ImportError:
            logger.info("gunicorn is not available here; serving with waitress")
            server = "waitress"
        else:
            server = "gunicorn"
    if server == "waitress":
        return _serve_waitress(args, overrides)
    metrics_dir = None
    if config.get("METRICS_DIR") is None:
        metrics_dir = tempfile.mkdtemp(prefix="reviewnlp-metrics-")
        overrides["METRICS_DIR"] = metrics_dir
    master = os.getpid()
    try:
        gunicorn_application(_factory(args.config, overrides), gunicorn_options(args)).run()
    finally:
        # A forked worker that exits unwinds this frame too: only the master removes the directory.
        if metrics_dir and os.getpid() == master:
            shutil.rmtree(metrics_dir, ignore_errors=True)
    return 0


def _logging(level: str) -> dict[str, Any]:
    from .config import logging_config

    return logging_config(level)


def _factory(config_file: str | None, overrides: Mapping[str, Any]) -> Callable[[], Any]:
    def factory():
        from . import create_app

        return create_app(config_file=config_file, overrides=overrides)

    return factory


def _bind(host: str, port: int) -> str:
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def gunicorn_options(args: argparse.Namespace) -> dict[str, Any]:
    """gunicorn settings for ``args``: gthread workers (sync with --threads 1), no preload, JSON logs."""
    threads = args.threads
    return {
        "bind": [_bind(args.host, args.port)],
        "workers": args.workers,
        "threads": threads,
        "worker_class": "gthread" if threads > 1 else "sync",
        "timeout": args.timeout,
        "graceful_timeout": 10,
        "keepalive": 5,
        "preload_app": False,
        "proc_name": "reviewnlp",
        "loglevel": args.log_level,
        "logconfig_dict": _logging(args.log_level),
        "worker_exit": _worker_exit,
        "logger_class": _logger_class,  # gunicorn calls it and gets the class
        "control_socket_disable": True,  # gunicorn >= 25: no shared $HOME/.gunicorn/gunicorn.ctl
    }


def _logger_class() -> type:
    """gunicorn's logger without the access log: the app logs each request itself, as JSON.

    (gunicorn would otherwise format an access line for every request, since ``logconfig_dict``
    is set, only for the logging level to drop it.)
    """
    from gunicorn.glogging import Logger

    class NoAccessLogger(Logger):
        def access(self, resp: Any, req: Any, environ: Any, request_time: Any) -> None:
            return None

    return NoAccessLogger


def _worker_exit(server: Any, worker: Any) -> None:
    """gunicorn hook, in the exiting worker: flush its metrics and close its store."""
    app = getattr(worker, "wsgi", None)
    state = getattr(app, "extensions", {}).get("reviewnlp")
    if state is not None:
        state.close()


def _serve_waitress(args: argparse.Namespace, overrides: Mapping[str, Any]) -> int:
    import waitress

    from . import create_app

    if args.workers > 1:
        logger.info("waitress runs one process; --workers %d is ignored (use --threads)", args.workers)
    app = create_app(config_file=args.config, overrides=overrides)
    try:
        waitress.serve(app, host=args.host, port=args.port, threads=args.threads, ident="reviewnlp")
    finally:
        app.extensions["reviewnlp"].close()
    return 0


def gunicorn_application(factory: Callable[[], Any], options: Mapping[str, Any]) -> Any:
    """A gunicorn ``BaseApplication`` that serves ``factory()`` with ``options``, ready to ``.run()``.

    Parameters
    ----------
    factory : callable
        Returns the WSGI app; called once in each worker (``preload_app`` is off).
    options : mapping
        gunicorn settings; those this gunicorn version does not know are skipped.
    """
    from gunicorn.app.base import BaseApplication

    class ReviewNLPApplication(BaseApplication):
        def load_config(self) -> None:
            for key, value in options.items():
                if key in self.cfg.settings:
                    self.cfg.set(key, value)
                else:
                    logger.debug("this gunicorn does not know the setting %s; skipped", key)

        def load(self) -> Any:
            return factory()

    return ReviewNLPApplication()
