"""The gold dataset: schema, labels, split hygiene, provenance back to the corpora, size targets."""
import csv
import json
from collections import Counter
from pathlib import Path

import pytest

from reviewnlp.dataset import check_row, validate_files
from tests.conftest import CORPORA, GOLD


def test_gold_files_validate():
    assert validate_files([GOLD / f"{s}.jsonl" for s in ("train", "dev", "test")]) == []


def test_size_and_rare_case_targets(gold_rows):
    langs = Counter(r["lang"] for r in gold_rows)
    assert len(gold_rows) >= 5000
    assert langs["zh"] + langs["mixed"] >= 3200 and langs["en"] >= 1500
    assert sum(1 for r in gold_rows if r["flags"]) >= 300
    assert sum(1 for r in gold_rows if r["severity"] == "critical") >= 200
    causes = Counter(c for r in gold_rows for c in r["causes"])
    assert causes["logistics"] >= 400 and causes["service_attitude"] >= 400


def test_every_row_has_annotator_stratum_and_provenance(gold_rows):
    for r in gold_rows:
        assert r["annotator"] and not r["annotator"].startswith("rule:"), r["id"]
        assert r["stratum"].split(":")[0] in ("random", "enrich", "enrich2", "enrich3", "random3")
        assert ":" in r["source_ref"]


def _corpus_text(source, ref):
    fname, line = ref.rsplit(":", 1)
    line = int(line)
    folder = CORPORA / source
    path = folder / fname
    if path.suffix == ".txt":
        return path.read_text(encoding="utf-8").splitlines()[line - 1].rsplit("\t", 1)[0]
    col = {"online_shopping_10_cats": "review", "waimai_10k": "review", "tianchi_ecomm_opinion": "Reviews",
           "amazon_polarity_sample": "text", "amazon_reviews2023_giftcards": "text",
           "cfpb_complaints_sample": "Consumer complaint narrative"}[source]

    df = _frame(str(path))
    return df[col].iloc[line - 2]


_frames = {}


def _frame(path):
    import pandas as pd

    if path not in _frames:
        _frames[path] = pd.read_csv(path)
    return _frames[path]


@pytest.mark.skipif(not CORPORA.exists(), reason="../shared/corpora not present")
def test_gold_text_is_real_corpus_text(gold_rows):
    """No invented text: every gold row's text is the corpus row its source_ref names."""
    bad = [r["id"] for r in gold_rows if _corpus_text(r["source"], r["source_ref"]).strip() != r["text"].strip()]
    assert bad == []


def test_weak_labels_never_touch_gold_dev_or_test():
    from reviewnlp.dataset import _text_key

    gold = set()
    for s in ("dev", "test"):
        for line in open(GOLD / f"{s}.jsonl", encoding="utf-8"):
            gold.add(_text_key(json.loads(line)["text"]))
    weak = Path(GOLD).parent / "weak" / "weak_complaint.jsonl"
    for line in open(weak, encoding="utf-8"):
        r = json.loads(line)
        assert r["annotator"].startswith("weak:") and r["split"] == "train"
        assert _text_key(r["text"]) not in gold


@pytest.mark.parametrize("mutate, problem", [
    (lambda r: r.update(causes=["shipping"]), "unknown causes"),
    (lambda r: r.update(severity="none"), "causes given but severity is none"),
    (lambda r: r.update(flags=["danger"]), "unknown flags"),
    (lambda r: r.update(extra=1), "unknown fields"),
    (lambda r: r.pop("source_ref"), "missing fields"),
    (lambda r: r.update(severity="medium", causes=[]), "no causes"),
])
def test_validator_rejects(mutate, problem):
    row = {"id": "x", "text": "太慢了", "lang": "zh", "source": "s", "source_ref": "f:1", "causes": ["logistics"],
           "severity": "medium", "flags": [], "stratum": "random:s", "annotator": "a", "split": "train"}
    mutate(row)
    assert any(problem in e for e in check_row(row))


def test_validator_reports_file_line_duplicates_and_overlap(tmp_path):
    row = {"id": "x", "text": "太慢了", "lang": "zh", "source": "s", "source_ref": "f:1", "causes": ["logistics"],
           "severity": "medium", "flags": [], "stratum": "random:s", "annotator": "a", "split": "train"}
    (tmp_path / "dev.jsonl").write_text(json.dumps(dict(row, id="z", split="dev")) + "\n{bad\n")
    assert any("dev.jsonl:2: malformed JSON" in e for e in validate_files([tmp_path / "dev.jsonl"]))
    (tmp_path / "train.jsonl").write_text(json.dumps(row) + "\n" + json.dumps(row) + "\n")
    (tmp_path / "test.jsonl").write_text(json.dumps(dict(row, id="y", split="test", text="太慢了!")) + "\n")
    errs = validate_files([tmp_path / "train.jsonl", tmp_path / "test.jsonl"])
    assert any("train.jsonl:2: duplicate id 'x'" in e for e in errs)
    assert any("test.jsonl:1: text also in split 'train'" in e for e in errs)


def test_cli_validate_data_exit_codes(tmp_path):
    from reviewnlp.cli import main

    assert main(["validate-data", str(GOLD)]) == 0
    (tmp_path / "dev.jsonl").write_text('{"id": 1}\n')
    assert main(["validate-data", str(tmp_path / "dev.jsonl")]) == 1


_ = csv
