"""Fixtures of the store suite: every test taking ``store_url`` runs on SQLite and on PostgreSQL.

PostgreSQL needs ``REVIEWNLP_TEST_POSTGRES_URL`` (``eval "$(bash .ci/postgres.sh | tail -1)"``).
Without it the PostgreSQL cases are skipped with a visible reason, except under ``CI``, where
they fail: CI must not pass while silently testing one backend.
"""
from __future__ import annotations

import os
import uuid
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

POSTGRES_ENV = "REVIEWNLP_TEST_POSTGRES_URL"


def postgres_base_url() -> str:
    url = os.environ.get(POSTGRES_ENV)
    if url:
        return url
    if os.environ.get("CI"):
        pytest.fail(f"CI is set but {POSTGRES_ENV} is not: the PostgreSQL store tests cannot run "
                    f'(start a server with: eval "$(bash .ci/postgres.sh | tail -1)")', pytrace=False)
    pytest.skip(f"{POSTGRES_ENV} is not set: PostgreSQL store tests skipped (see .ci/postgres.sh)")


def with_search_path(url: str, schema: str) -> str:
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query) if k != "options"]
    query.append(("options", f"-csearch_path={schema}"))
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


@pytest.fixture(params=["sqlite", "postgresql"])
def store_url(request, tmp_path):
    """A fresh, empty store: a SQLite file, or a PostgreSQL schema of its own (dropped afterwards)."""
    if request.param == "sqlite":
        yield str(tmp_path / "escalations.db")
        return
    base = postgres_base_url()
    import psycopg

    schema = f"reviewnlp_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(base, autocommit=True) as conn:
        conn.execute(f'CREATE SCHEMA "{schema}"')
    try:
        yield with_search_path(base, schema)
    finally:
        with psycopg.connect(base, autocommit=True) as conn:
            conn.execute(f'DROP SCHEMA "{schema}" CASCADE')


@pytest.fixture
def store(store_url):
    from reviewnlp.store import open_store

    with open_store(store_url, outbox=True) as opened:
        yield opened
