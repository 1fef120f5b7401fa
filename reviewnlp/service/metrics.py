"""Prometheus metrics of the service, in the text exposition format, written by hand.

Why not ``prometheus_client``: the service needs a dozen counters and one histogram; the text
format is a few lines to write, and it keeps the ``serve`` extra at gunicorn + waitress.

Multi-process servers: each gunicorn worker is a process with its own counters. When
``METRICS_DIR`` is set (``reviewnlp serve`` sets it to a fresh temporary directory), every worker
writes a snapshot of its counters there at most every ``METRICS_FLUSH_INTERVAL`` seconds (and when
it exits), and ``GET /metrics`` answers with the sum over all workers, dead ones included (counters
never go down). The other workers' figures may lag by up to one interval. Without ``METRICS_DIR``
the figures are those of the answering process only.

>>> m = Metrics()
>>> m.inc("reviewnlp_reviews_classified_total", value=3)
>>> "reviewnlp_reviews_classified_total 3" in m.render()
True
"""
from __future__ import annotations

import json
import logging
import math
import os
import tempfile
import threading
import uuid
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from ..labels import CAUSES, FLAGS, SEVERITIES
from ..types import Prediction, RoutingDecision

__all__ = ["Metrics", "CONTENT_TYPE", "DURATION_BUCKETS"]

logger = logging.getLogger(__name__)

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
#: Upper bounds (seconds) of the request latency histogram.
DURATION_BUCKETS: tuple[float, ...] = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)

Labels = tuple[tuple[str, str], ...]

#: name -> (type, help). Only these names can be recorded.
_FAMILIES: dict[str, tuple[str, str]] = {
    "reviewnlp_http_requests_total": ("counter", "HTTP requests answered, by endpoint, method and status."),
    "reviewnlp_http_request_duration_seconds": ("histogram", "Time to answer an HTTP request, by endpoint."),
    "reviewnlp_reviews_classified_total": ("counter", "Reviews classified."),
    "reviewnlp_predicted_cause_total": ("counter", "Predicted causes (a review can have several)."),
    "reviewnlp_predicted_severity_total": ("counter", "Predicted severities."),
    "reviewnlp_predicted_flag_total": ("counter", "Predicted risk flags (a review can have several)."),
    "reviewnlp_routing_decisions_total": ("counter", "Routing decisions, by queue (none = no action) and "
                                                     "whether they escalate."),
    "reviewnlp_escalations_stored_total": ("counter", "Escalations written to the store, by queue; created=false "
                                                      "means it was already stored (an idempotent retry)."),
    "reviewnlp_store_errors_total": ("counter", "Escalation store writes that failed (answered with 503)."),
}
_GAUGE_HELP: dict[str, str] = {
    "reviewnlp_escalations": "Escalations in the store, by status (read from the store at scrape time).",
    "reviewnlp_model_info": "The loaded model's version.",
    "reviewnlp_build_info": "The reviewnlp library version.",
    "reviewnlp_metrics_processes": "Worker processes whose counters are summed in this scrape.",
}


def _labels(labels: Mapping[str, Any] | None) -> Labels:
    return tuple(sorted((str(k), str(v)) for k, v in (labels or {}).items()))


def _escape(value: str) -> str:
    return value.replace("\\", "\\\\").replace("\n", "\\n").replace('"', '\\"')


def _series(name: str, labels: Labels) -> str:
    if not labels:
        return name
    return name + "{" + ",".join(f'{k}="{_escape(v)}"' for k, v in labels) + "}"


def _number(value: float) -> str:
    if math.isinf(value):
        return "+Inf" if value > 0 else "-Inf"
    return str(int(value)) if float(value).is_integer() else repr(float(value))


class Metrics:
    """Counters and a latency histogram of one process; optionally shared through a directory.

    Thread-safe: gunicorn threads and waitress threads update it concurrently.

    Parameters
    ----------
    directory : str or Path, optional
        Where workers share snapshots (see the module docstring); ``None`` = this process only.
    flush_interval : float
        Seconds between two snapshot writes of this process (only when ``directory`` is set).
    """

    def __init__(self, directory: str | os.PathLike[str] | None = None, flush_interval: float = 1.0):
        self._lock = threading.Lock()
        self._counters: dict[tuple[str, Labels], float] = {}
        self._histograms: dict[tuple[str, Labels], list[Any]] = {}  # [bucket counts..., sum, count]
        self._dirty = False
        self.directory = Path(directory) if directory is not None else None
        self.flush_interval = flush_interval
        self._file = None
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        if self.directory is not None:
            self._file = self.directory / f"worker-{os.getpid()}-{uuid.uuid4().hex[:8]}.json"
        for cause in CAUSES:
            self.inc("reviewnlp_predicted_cause_total", {"cause": cause}, 0)
        for severity in SEVERITIES:
            self.inc("reviewnlp_predicted_severity_total", {"severity": severity}, 0)
        for flag in FLAGS:
            self.inc("reviewnlp_predicted_flag_total", {"flag": flag}, 0)
        self.inc("reviewnlp_reviews_classified_total", value=0)
        self.inc("reviewnlp_store_errors_total", value=0)

    # ---- recording -----------------------------------------------------------------------------

    def inc(self, name: str, labels: Mapping[str, Any] | None = None, value: float = 1) -> None:
        """Add ``value`` to counter ``name`` with ``labels``."""
        if _FAMILIES.get(name, ("",))[0] != "counter":
            raise KeyError(f"unknown counter {name!r}")
        self._add([(name, _labels(labels))], value)

    def _add(self, keys: Sequence[tuple[str, Labels]], value: float = 1) -> None:
        with self._lock:  # one lock for all the keys of a request
            for key in keys:
                self._counters[key] = self._counters.get(key, 0.0) + value
            self._dirty = True

    def observe(self, name: str, value: float, labels: Mapping[str, Any] | None = None) -> None:
        """Record ``value`` in histogram ``name`` with ``labels``."""
        if _FAMILIES.get(name, ("",))[0] != "histogram":
            raise KeyError(f"unknown histogram {name!r}")
        key = (name, _labels(labels))
        index = next((i for i, bound in enumerate(DURATION_BUCKETS) if value <= bound), len(DURATION_BUCKETS))
        with self._lock:
            hist = self._histograms.get(key)
            if hist is None:
                hist = self._histograms[key] = [0] * (len(DURATION_BUCKETS) + 1) + [0.0, 0]
            hist[index] += 1
            hist[-2] += value
            hist[-1] += 1
            self._dirty = True

    def observe_request(self, endpoint: str, method: str, status: int, seconds: float) -> None:
        """Count one answered HTTP request and record its latency."""
        self.inc("reviewnlp_http_requests_total", {"endpoint": endpoint, "method": method, "status": status})
        self.observe("reviewnlp_http_request_duration_seconds", seconds, {"endpoint": endpoint})

    def observe_predictions(self, predictions: Sequence[Prediction], decisions: Sequence[RoutingDecision]) -> None:
        """Count the labels of classified reviews and where they were routed."""
        keys: list[tuple[str, Labels]] = []
        for prediction, decision in zip(predictions, decisions, strict=True):
            keys.append(("reviewnlp_reviews_classified_total", ()))
            keys += [("reviewnlp_predicted_cause_total", _labels({"cause": c})) for c in prediction.causes]
            keys.append(("reviewnlp_predicted_severity_total", _labels({"severity": prediction.severity})))
            keys += [("reviewnlp_predicted_flag_total", _labels({"flag": f})) for f in prediction.flags]
            keys.append(("reviewnlp_routing_decisions_total",
                         _labels({"queue": decision.queue or "none", "escalate": str(decision.escalate).lower()})))
        self._add(keys)

    def observe_escalation(self, queue: str, created: bool) -> None:
        """Count one escalation written to the store."""
        self.inc("reviewnlp_escalations_stored_total", {"queue": queue, "created": str(created).lower()})

    # ---- sharing between worker processes ------------------------------------------------------

    def _snapshot(self) -> dict[str, Any]:
        with self._lock:
            self._dirty = False
            return {"counters": [[n, [list(p) for p in lab], v] for (n, lab), v in self._counters.items()],
                    "histograms": [[n, [list(p) for p in lab], list(h)] for (n, lab), h in self._histograms.items()]}

    def flush(self) -> None:
        """Write this process's snapshot to the shared directory now (no-op without one)."""
        if self._file is None:
            return
        data = json.dumps(self._snapshot())
        try:
            fd, tmp = tempfile.mkstemp(dir=self._file.parent, prefix=".tmp-", suffix=".json")
            with os.fdopen(fd, "w", encoding="utf-8") as fh:
                fh.write(data)
            os.replace(tmp, self._file)
        except OSError as exc:  # metrics must never break the service
            logger.warning("cannot write metrics snapshot to %s: %s", self._file.parent, exc)

    def start(self) -> None:
        """Start the background thread that flushes the snapshot every ``flush_interval`` seconds."""
        if self._file is None or self._thread is not None:
            return
        self.flush()
        self._thread = threading.Thread(target=self._run, name="reviewnlp-metrics", daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(self.flush_interval):
            if self._dirty:
                self.flush()

    def stop(self) -> None:
        """Stop the flusher thread and write a last snapshot."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=5)
            self._thread = None
        self.flush()

    def _others(self) -> Iterable[dict[str, Any]]:
        if self.directory is None:
            return
        for path in sorted(self.directory.glob("worker-*.json")):
            if path == self._file:
                continue
            try:
                yield json.loads(path.read_text(encoding="utf-8"))
            except (OSError, ValueError) as exc:
                logger.warning("skipping unreadable metrics snapshot %s: %s", path.name, exc)

    # ---- exposition ----------------------------------------------------------------------------

    def render(self, gauges: Iterable[tuple[str, Mapping[str, Any], float]] = ()) -> str:
        """The Prometheus text exposition of all counters, summed over workers, plus ``gauges``.

        Parameters
        ----------
        gauges
            ``(name, labels, value)`` of point-in-time values (store counts, versions); the names
            must be in the module's gauge list.
        """
        with self._lock:
            counters = dict(self._counters)
            histograms = {key: list(h) for key, h in self._histograms.items()}
        processes = 1
        for snapshot in self._others():
            processes += 1
            for name, labels, value in snapshot.get("counters", ()):
                key = (name, tuple(tuple(p) for p in labels))
                counters[key] = counters.get(key, 0.0) + value
            for name, labels, hist in snapshot.get("histograms", ()):
                key = (name, tuple(tuple(p) for p in labels))
                mine = histograms.get(key)
                histograms[key] = list(hist) if mine is None else [a + b for a, b in zip(mine, hist, strict=True)]
        lines: list[str] = []
        for name, (kind, help_text) in _FAMILIES.items():
            lines += [f"# HELP {name} {help_text}", f"# TYPE {name} {kind}"]
            if kind == "counter":
                for (n, labels), value in sorted(counters.items()):
                    if n == name:
                        lines.append(f"{_series(name, labels)} {_number(value)}")
                continue
            for (n, labels), hist in sorted(histograms.items()):
                if n != name:
                    continue
                cumulative = 0
                for bound, count in zip((*DURATION_BUCKETS, math.inf), hist, strict=False):  # hist ends with sum, count
                    cumulative += count
                    lines.append(f"{_series(name + '_bucket', labels + (('le', _number(bound)),))} {cumulative}")
                lines.append(f"{_series(name + '_sum', labels)} {_number(hist[-2])}")
                lines.append(f"{_series(name + '_count', labels)} {_number(hist[-1])}")
        gauge_rows: dict[str, list[str]] = {}
        for name, labels, value in (*gauges, ("reviewnlp_metrics_processes", {}, processes)):
            if name not in _GAUGE_HELP:
                raise KeyError(f"unknown gauge {name!r}")
            gauge_rows.setdefault(name, []).append(f"{_series(name, _labels(labels))} {_number(value)}")
        for name, rows in gauge_rows.items():
            lines += [f"# HELP {name} {_GAUGE_HELP[name]}", f"# TYPE {name} gauge", *rows]
        return "\n".join(lines) + "\n"
