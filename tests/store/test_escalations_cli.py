"""``reviewnlp escalations ...`` through a parser of our own (the lead wires it into reviewnlp.cli)."""
from __future__ import annotations

import argparse
import json

import pytest

from reviewnlp.escalations_cli import register
from reviewnlp.store import open_store

from .store_helpers import make_decision, make_prediction


def run(*argv: str) -> int:
    parser = argparse.ArgumentParser(prog="reviewnlp")
    register(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["escalations", *argv])
    return args.func(args)


@pytest.fixture
def filled(store_url):
    """A store with three escalations; returns (url, ids)."""
    with open_store(store_url) as store:
        ids = []
        for i, causes in enumerate([("logistics",), ("product_quality",), ("logistics",)]):
            prediction = make_prediction(f"review-{i}", causes=causes)
            ids.append(store.put(prediction, make_decision(prediction), text="文本")[0].id)
    return store_url, ids


def test_list_jsonl_prints_one_line_per_escalation_with_review_id(filled, capsys):
    url, ids = filled
    assert run("--store", url, "list", "--format", "jsonl") == 0
    lines = capsys.readouterr().out.splitlines()
    records = [json.loads(line) for line in lines]
    assert len(lines) == 3
    assert [r["review_id"] for r in records] == ["review-0", "review-1", "review-2"]
    assert [r["id"] for r in records] == ids
    assert records[0]["text"] == "文本"


def test_list_filters_and_limits(filled, capsys):
    url, ids = filled
    assert run("list", "--store", url, "--format", "jsonl", "--queue", "logistics", "--limit", "1") == 0
    assert [json.loads(line)["id"] for line in capsys.readouterr().out.splitlines()] == [ids[0]]


def test_list_table(filled, capsys):
    url, ids = filled
    assert run("--store", url, "list") == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].split() == ["ID", "PRI", "STATUS", "QUEUE", "DUE", "(UTC)", "REVIEW"]
    assert len(out) == 4 and out[1].split()[0] == str(ids[0]) and out[1].endswith("review-0")


def test_ack_resolve_show_and_export(filled, capsys, tmp_path):
    url, ids = filled
    assert run("--store", url, "ack", str(ids[1]), "--by", "alice") == 0
    assert run("--store", url, "resolve", str(ids[1]), "--by", "bob", "--note", "replaced") == 0
    assert run("--store", url, "list", "--format", "jsonl", "--status", "resolved") == 0
    capsys.readouterr()
    assert run("--store", url, "show", str(ids[1])) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["status"] == "resolved"
    assert [(e["status"], e["actor"], e["note"]) for e in shown["events"]] == [
        ("open", "system", None), ("acknowledged", "alice", None), ("resolved", "bob", "replaced")]
    out = tmp_path / "export.jsonl"
    assert run("--store", url, "export", "--out", str(out)) == 0
    exported = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert [r["id"] for r in exported] == ids and len(exported[1]["events"]) == 3
    assert not (tmp_path / "export.jsonl.partial").exists()


@pytest.mark.parametrize(("argv", "message"), [
    (["ack", "999", "--by", "a"], "no escalation with id 999"),
    (["resolve", "999", "--by", "a"], "no escalation with id 999"),
    (["show", "999"], "no escalation with id 999"),
])
def test_errors_are_one_line_on_stderr_and_exit_2(filled, capsys, argv, message):
    url, _ = filled
    assert run("--store", url, *argv) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and message in err and "Traceback" not in err
    assert err.startswith("reviewnlp escalations: error: ")


def test_acknowledging_twice_is_an_error(filled, capsys):
    url, ids = filled
    assert run("--store", url, "ack", str(ids[0]), "--by", "alice") == 0
    assert run("--store", url, "ack", str(ids[0]), "--by", "alice") == 2
    assert "it is acknowledged" in capsys.readouterr().err


def test_a_missing_store_file_is_an_error_not_a_new_empty_store(tmp_path, capsys):
    missing = tmp_path / "typo.db"
    assert run("--store", str(missing), "list") == 2
    assert f"{missing}: no escalation store at this path" in capsys.readouterr().err
    assert not missing.exists()
