"""Durability: concurrent writers, kill -9 mid-burst, read-only files and directories, disk full."""
from __future__ import annotations

import multiprocessing
import os
import pwd
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

import pytest

from reviewnlp.errors import StoreError
from reviewnlp.store import open_store

from .store_helpers import make_decision, make_prediction, put_many, raw_query

HELPERS = Path(__file__).with_name("store_helpers.py")
REVIEW_IDS = [f"review-{i}" for i in range(30)]


def assert_one_escalation_per_review(url: str, results: list[tuple[str, int, bool]]) -> None:
    """Every writer saw the same id for a review, exactly one of them created it, nothing is doubled."""
    ids_by_review: dict[str, set[int]] = {}
    created = 0
    for review_id, escalation_id, was_created in results:
        ids_by_review.setdefault(review_id, set()).add(escalation_id)
        created += was_created
    assert set(ids_by_review) == set(REVIEW_IDS)
    assert all(len(ids) == 1 for ids in ids_by_review.values())
    assert created == len(REVIEW_IDS)
    with open_store(url) as store:
        assert store.count() == len(REVIEW_IDS)
        assert len(store.outbox(limit=1000)) == len(REVIEW_IDS)
    assert raw_query(url, "SELECT COUNT(*) FROM events") == [(len(REVIEW_IDS),)]


def test_concurrent_writer_threads_make_no_duplicates(store_url):
    open_store(store_url).close()  # create the tables once, as a deployment would
    stores = [open_store(store_url, outbox=True) for _ in range(3)]  # threads share some connections
    results: list[tuple[str, int, bool]] = []
    lock = threading.Lock()
    barrier = threading.Barrier(6)

    def writer(seed: int) -> None:
        store = stores[seed % len(stores)]
        barrier.wait()
        for review_id in sorted(REVIEW_IDS, key=lambda r: hash((r, seed))):
            prediction = make_prediction(review_id)
            escalation, created = store.put(prediction, make_decision(prediction))
            with lock:
                results.append((review_id, escalation.id, created))

    threads = [threading.Thread(target=writer, args=(seed,)) for seed in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for store in stores:
        store.close()
    assert len(results) == 6 * len(REVIEW_IDS)
    assert_one_escalation_per_review(store_url, results)


def test_concurrent_writer_processes_make_no_duplicates(store_url):
    open_store(store_url).close()
    with multiprocessing.get_context("spawn").Pool(4) as pool:
        per_process = pool.starmap(put_many, [(store_url, REVIEW_IDS, seed) for seed in range(4)])
    results = [row for rows in per_process for row in rows]
    assert len(results) == 4 * len(REVIEW_IDS)
    assert_one_escalation_per_review(store_url, results)


def test_kill_9_mid_burst_loses_no_reported_escalation(store_url):
    open_store(store_url).close()
    reported: list[tuple[int, str]] = []
    for burst in range(3):
        writer = subprocess.Popen([sys.executable, str(HELPERS), "writer", store_url, f"burst{burst}"],
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        lines: list[str] = []
        deadline = time.monotonic() + 30
        while len(lines) < 25 and time.monotonic() < deadline:
            line = writer.stdout.readline()
            if not line:
                break
            lines.append(line)
        writer.send_signal(signal.SIGKILL)
        rest, err = writer.communicate(timeout=30)
        assert writer.returncode == -signal.SIGKILL, err
        assert len(lines) >= 25, f"the writer printed only {len(lines)} ids: {err}"
        lines += rest.splitlines(keepends=True)
        # A line cut short by the kill was not reported in full: only complete lines count.
        reported += [(int(i), r) for i, r in (ln.split() for ln in lines if ln.endswith("\n"))]

    with open_store(store_url) as store:
        for escalation_id, review_id in reported:
            stored = store.get(escalation_id)
            assert stored.review_id == review_id and stored.status == "open"
        # at most one escalation per burst was committed but not yet printed when the kill came
        assert len(reported) <= store.count() <= len(reported) + 3
        assert store.healthcheck().ok
        assert raw_query(store_url, "SELECT COUNT(*) FROM events") == [(store.count(),)]
        assert len(store.outbox(limit=1000)) == store.count()
    if not store_url.startswith("postgresql://"):
        assert raw_query(store_url, "PRAGMA integrity_check") == [("ok",)]
        assert raw_query(store_url, "PRAGMA foreign_key_check") == []


# ---- file-system failures (SQLite) ---------------------------------------------------------------

@pytest.fixture
def shared_dir():
    """A directory an unprivileged user can reach (pytest's tmp_path is private to its owner)."""
    path = Path(tempfile.mkdtemp(prefix="reviewnlp-ro-"))
    path.chmod(0o755)
    yield path
    for p in (path, *path.iterdir()):
        p.chmod(0o755 if p.is_dir() else 0o644)
    shutil.rmtree(path)


def _put_without_rights(path: Path, conn) -> None:
    try:
        if os.geteuid() == 0:  # root ignores file modes: drop to nobody first
            nobody = pwd.getpwnam("nobody")
            os.setgid(nobody.pw_gid)
            os.setuid(nobody.pw_uid)
        with open_store(path) as store:
            prediction = make_prediction("r-new")
            store.put(prediction, make_decision(prediction))
        conn.send(("stored", ""))
    except StoreError as exc:
        conn.send(("StoreError", str(exc)))
    except BaseException as exc:  # anything else is a bug the test must show
        conn.send((type(exc).__name__, repr(exc)))


def try_put_without_rights(path: Path) -> tuple[str, str]:
    """Open the store and put, in a forked child without rights; return (outcome, message)."""
    context = multiprocessing.get_context("fork")
    receiver, sender = context.Pipe(duplex=False)
    child = context.Process(target=_put_without_rights, args=(path, sender))
    child.start()
    child.join(timeout=60)
    assert child.exitcode == 0, f"the child crashed with exit code {child.exitcode}"
    return receiver.recv()


def make_store(path: Path) -> None:
    prediction = make_prediction("r-old")
    with open_store(path) as store:
        store.put(prediction, make_decision(prediction))


def give_to_nobody(*paths: Path) -> None:
    if os.geteuid() == 0:
        for path in paths:
            shutil.chown(path, "nobody")


def test_read_only_database_file_gives_a_store_error_naming_it(shared_dir):
    db = shared_dir / "escalations.db"
    make_store(db)
    give_to_nobody(shared_dir, db)  # the directory is writable, the file is not
    db.chmod(0o444)
    outcome, message = try_put_without_rights(db)
    assert outcome == "StoreError", message
    assert message.startswith(f"{db}: cannot ") and "read-only" in message
    assert raw_query(str(db), "PRAGMA integrity_check") == [("ok",)]
    assert raw_query(str(db), "SELECT review_id FROM escalations") == [("r-old",)]


def test_read_only_directory_gives_a_store_error_naming_the_file(shared_dir):
    shared_dir.chmod(0o555)
    outcome, message = try_put_without_rights(shared_dir / "new.db")
    assert outcome == "StoreError", message
    assert message.startswith(f"{shared_dir / 'new.db'}: cannot open the escalation store")
    assert "writable" in message
    assert not (shared_dir / "new.db").exists()


def test_writable_file_in_read_only_directory_gives_a_store_error(shared_dir):
    db = shared_dir / "escalations.db"
    make_store(db)
    db.chmod(0o666)  # the file is writable, but WAL needs new files beside it
    shared_dir.chmod(0o555)
    outcome, message = try_put_without_rights(db)
    assert outcome == "StoreError", message
    assert message.startswith(f"{db}: cannot ")
    assert raw_query(str(db), "PRAGMA integrity_check") == [("ok",)]


def test_missing_directory_gives_a_store_error(tmp_path):
    with pytest.raises(StoreError, match=r"no-dir/esc\.db: cannot create the escalation store: directory"):
        open_store(tmp_path / "no-dir" / "esc.db")


def test_disk_full_gives_a_store_error_and_leaves_the_store_usable(tmp_path):
    db = tmp_path / "escalations.db"
    with open_store(db, outbox=True) as store:
        prediction = make_prediction("r-small")
        store.put(prediction, make_decision(prediction))
        pages = raw_query(str(db), "PRAGMA page_count")[0][0]
        store._conn.execute(f"PRAGMA max_page_count = {pages + 2}")  # the "disk" is nearly full
        big = make_prediction("r-big")
        with pytest.raises(StoreError, match=r"escalations\.db: cannot store escalation .*full"):
            store.put(big, make_decision(big), text="x" * 200_000)
        assert store.count() == 1
        store._conn.execute("PRAGMA max_page_count = 1073741823")  # space freed: it works again
        escalation, created = store.put(big, make_decision(big), text="x" * 200_000)
        assert created and store.count() == 2
    assert raw_query(str(db), "PRAGMA integrity_check") == [("ok",)]


@pytest.mark.parametrize("store_url", ["postgresql"], indirect=True)  # SQLite: the file-system tests above
def test_read_only_postgres_session_gives_a_store_error(store_url):
    open_store(store_url).close()
    parts = urlsplit(store_url)
    query = [(k, f"{v} -cdefault_transaction_read_only=on" if k == "options" else v)
             for k, v in parse_qsl(parts.query)]
    read_only = urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))
    with open_store(read_only) as store:
        assert store.count() == 0  # reading works
        prediction = make_prediction("r1")
        with pytest.raises(StoreError, match=r"\*\*\*@.*cannot store escalation .*read-only"):
            store.put(prediction, make_decision(prediction))
        assert not store.healthcheck().ok
