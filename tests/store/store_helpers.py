"""Helpers of the store tests, importable by worker processes; also a writer script.

    python tests/store/store_helpers.py writer STORE_URL PREFIX

puts escalations ``PREFIX-0``, ``PREFIX-1``, ... forever and prints ``<id> <review_id>`` after
each ``put`` returns; the durability test kills it with SIGKILL mid-burst.
"""
from __future__ import annotations

import random
import sqlite3
import sys
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
if __name__ == "__main__":  # run as a script: make the package importable
    sys.path.insert(0, str(REPO_ROOT))

from reviewnlp.routing import load_policy, route  # noqa: E402
from reviewnlp.store import open_store  # noqa: E402
from reviewnlp.types import Prediction, RoutingDecision  # noqa: E402

_POLICY = load_policy()
NOW = datetime(2024, 5, 1, 8, 0, tzinfo=timezone.utc)


def make_prediction(review_id: str, *, severity: str = "high", causes: tuple[str, ...] = ("logistics",),
                    flags: tuple[str, ...] = (), model_version: str = "test-1",
                    confidence: float = 0.9) -> Prediction:
    return Prediction(review_id=review_id, lang="zh", causes=causes, cause_scores={c: 0.9 for c in causes},
                      severity=severity, severity_scores={severity: confidence}, flags=flags,
                      flag_scores={f: 0.9 for f in flags}, confidence=confidence, model_version=model_version)


def make_decision(prediction: Prediction) -> RoutingDecision:
    return route(prediction, _POLICY, now=NOW)


def put_many(url: str, review_ids: list[str], seed: int) -> list[tuple[str, int, bool]]:
    """Put every review id (shuffled by ``seed``) through a store of this process's own."""
    order = list(review_ids)
    random.Random(seed).shuffle(order)
    with open_store(url, outbox=True) as store:
        results = []
        for review_id in order:
            prediction = make_prediction(review_id)
            escalation, created = store.put(prediction, make_decision(prediction), text=review_id)
            results.append((review_id, escalation.id, created))
        return results


def raw_execute(url: str, sql: str) -> None:
    """Run one statement on a connection of our own, outside the store's API."""
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(sql)
        return
    conn = sqlite3.connect(url, isolation_level=None)
    try:
        conn.execute(sql)
    finally:
        conn.close()


def raw_query(url: str, sql: str) -> list[tuple[Any, ...]]:
    if url.startswith("postgresql://"):
        import psycopg

        with psycopg.connect(url, autocommit=True) as conn:
            return [tuple(row) for row in conn.execute(sql).fetchall()]
    conn = sqlite3.connect(url)
    try:
        return [tuple(row) for row in conn.execute(sql).fetchall()]
    finally:
        conn.close()


def _writer(url: str, prefix: str) -> None:
    with open_store(url, outbox=True) as store:
        i = 0
        while True:
            prediction = make_prediction(f"{prefix}-{i}")
            escalation, _ = store.put(prediction, make_decision(prediction), text="x" * 200)
            sys.stdout.write(f"{escalation.id} {escalation.review_id}\n")
            sys.stdout.flush()
            i += 1


if __name__ == "__main__":
    if len(sys.argv) != 4 or sys.argv[1] != "writer":
        sys.exit("usage: store_helpers.py writer STORE_URL PREFIX")
    _writer(sys.argv[2], sys.argv[3])
