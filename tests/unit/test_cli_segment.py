"""``reviewnlp segment`` reads through the batch readers and writes one JSON line per review."""
import json
from pathlib import Path

from reviewnlp.cli import main

ROOT = Path(__file__).resolve().parents[2]


def test_segment_sample_file(tmp_path):
    out = tmp_path / "tokens.jsonl"
    assert main(["segment", str(ROOT / "examples" / "sample_reviews.csv"), "-o", str(out)]) == 0
    rows = [json.loads(line) for line in out.read_text(encoding="utf-8").splitlines()]
    assert len(rows) == 21 and rows[0]["id"] == "waimai-12" and rows[0]["lang"] == "zh" and rows[0]["tokens"]


def test_segment_bad_row_names_the_line(tmp_path, capsys):
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "好"}\n{"text": 3}\n', encoding="utf-8")
    assert main(["segment", str(bad), "-o", str(tmp_path / "o.jsonl")]) == 2
    assert "bad.jsonl:2" in capsys.readouterr().err
