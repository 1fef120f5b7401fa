"""Streaming batch scoring: format round trips, order with --jobs, resume, bad rows, the store."""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from reviewnlp.batch import (
    PREDICTION_COLUMNS,
    SCORE_COLUMNS,
    checkpoint_path,
    errors_path,
    run_batch,
)
from reviewnlp.errors import InputError

from .batch_helpers import (
    CORPORA,
    as_list,
    read_output,
    read_reviews,
    write_csv,
    write_jsonl,
    write_parquet,
)

REPO = Path(__file__).resolve().parents[2]


def _write(fmt: str, path: Path, rows: list[dict]) -> Path:
    return {"csv": write_csv, "jsonl": write_jsonl, "parquet": write_parquet}[fmt](path, rows)


def _assert_matches_reference(out_rows: list[dict], inputs: list[dict], reference: dict[str, dict]) -> None:
    assert [r["id"] for r in out_rows] == [r["id"] for r in inputs]
    assert [int(r["row"]) for r in out_rows] == list(range(1, len(inputs) + 1))
    for got in out_rows:
        ref = reference[got["id"]]
        assert got["severity"] == ref["severity"], got["id"]
        assert as_list(got["causes"]) == ref["causes"], got["id"]
        assert as_list(got["flags"]) == ref["flags"], got["id"]
        for cause, p in ref["cause_scores"].items():
            assert float(got[f"p_cause_{cause}"]) == pytest.approx(p, abs=1e-6)
        for sev, p in ref["severity_scores"].items():
            assert float(got[f"p_sev_{sev}"]) == pytest.approx(p, abs=1e-6)


@pytest.mark.parametrize("in_fmt,out_fmt", [("csv", "jsonl"), ("jsonl", "parquet"), ("parquet", "csv"),
                                            ("csv", "parquet")])
def test_round_trip_keeps_every_row_in_order_with_the_reference_predictions(tmp_path, waimai_rows, reference,
                                                                          in_fmt, out_fmt):
    rows = waimai_rows[:250]
    src = _write(in_fmt, tmp_path / f"in.{in_fmt}", rows)
    out = tmp_path / f"out.{out_fmt}"
    summary = run_batch(src, out, quiet=True, chunk_size=64)
    assert summary["rows_in"] == summary["rows_out"] == 250 and summary["errors"] == 0
    got = read_output(out)
    _assert_matches_reference(got, rows, reference)
    # the pass-through columns come along, the prediction and routing columns are all there
    assert {"text", "label", *PREDICTION_COLUMNS} <= set(got[0])
    assert got[0]["text"] == rows[0]["text"]
    assert all(c.startswith(("p_cause_", "p_sev_", "p_flag_")) for c in SCORE_COLUMNS)
    assert not checkpoint_path(out).exists() and not errors_path(out).exists()
    assert not Path(str(out) + ".parts").exists()


def test_parquet_output_has_typed_columns(tmp_path, waimai_rows):
    import pyarrow as pa
    import pyarrow.parquet as pq

    src = write_csv(tmp_path / "in.csv", waimai_rows[:40])
    out = tmp_path / "out.parquet"
    run_batch(src, out, quiet=True, chunk_size=16)
    schema = pq.read_schema(out)
    assert schema.field("causes").type == pa.list_(pa.string())
    assert schema.field("p_sev_high").type == pa.float64()
    assert schema.field("escalate").type == pa.bool_()
    assert pa.types.is_timestamp(schema.field("due_at").type)
    assert pq.ParquetFile(out).metadata.num_rows == 40
    assert pq.ParquetFile(out).metadata.num_row_groups == 1  # the 3 chunk parts are merged into one row group


def test_jobs_2_keeps_input_order_and_results(tmp_path, waimai_rows, reference):
    src = write_jsonl(tmp_path / "in.jsonl", waimai_rows)
    out = tmp_path / "out.jsonl"
    summary = run_batch(src, out, quiet=True, jobs=2, chunk_size=37)
    assert summary["rows_out"] == len(waimai_rows) and summary["jobs"] == 2
    _assert_matches_reference(read_output(out), waimai_rows, reference)


def test_bad_rows_are_reported_with_their_position_and_the_run_continues(tmp_path, waimai_rows, model):
    good = waimai_rows[:6]
    long_text = ""
    for r in waimai_rows * 5:  # real reviews glued together until the model's limit is passed
        long_text += r["text"]
        if len(long_text) > model.max_chars:
            break
    assert len(long_text) > model.max_chars
    multi_line = [r for r in read_reviews(CORPORA / "meituan_dianping_star" / "meituan_001.csv", 400,
                                          text_column="comment") if "\n" in r["text"]][:2]
    assert len(multi_line) == 2
    lines = ["id,text,label"]
    import csv
    import io

    def line(*cells):
        buf = io.StringIO()
        csv.writer(buf, lineterminator="\n").writerow(cells)
        return buf.getvalue().rstrip("\n")

    lines.append(line(good[0]["id"], good[0]["text"], "1"))            # line 2, row 1
    lines.append(line("m1", multi_line[0]["text"], "1"))                 # spans several lines
    lines.append(line("empty", "   ", "0"))                              # empty text
    lines.append(line(good[1]["id"], good[1]["text"]))                 # too few fields
    lines.append(line("long", long_text, "0"))                           # too long
    lines.append(line("m2", multi_line[1]["text"], "1"))
    lines.append(line(good[2]["id"], good[2]["text"], "1"))
    data = ("\n".join(lines) + "\n").encode("utf-8")
    broken = good[3]["text"].encode("utf-8")[:-1]                        # cut a character in half
    data += good[3]["id"].encode() + b"," + broken + b",1\n"
    data += line(good[4]["id"], good[4]["text"], "1").encode("utf-8") + b"\n"
    src = tmp_path / "in.csv"
    src.write_bytes(data)
    line_of = {}
    n = 1
    for chunk in data.decode("utf-8", "replace").split("\n")[1:]:
        n += 1
        line_of.setdefault(chunk.split(",")[0], n)

    out = tmp_path / "out.jsonl"
    summary = run_batch(src, out, quiet=True, chunk_size=3)
    assert summary["rows_in"] == 9
    assert summary["rows_out"] + summary["errors"] == summary["rows_in"]
    assert summary["errors"] == 4 and summary["errors_file"] == str(errors_path(out))
    errors = [json.loads(x) for x in errors_path(out).read_text(encoding="utf-8").splitlines()]
    by_id = {e["id"]: e for e in errors}
    assert set(by_id) == {"empty", good[1]["id"], "long", good[3]["id"]}
    assert by_id["empty"]["row"] == 3 and "empty" in by_id["empty"]["error"]
    assert by_id[good[1]["id"]]["row"] == 4 and "expected 3 fields, got 2" in by_id[good[1]["id"]]["error"]
    assert "limit" in by_id["long"]["error"]
    assert "UTF-8" in by_id[good[3]["id"]]["error"]
    for rid, e in by_id.items():
        assert e["position"] == f"{src}:{line_of[rid]}", (rid, e)
        assert e["error"].startswith(f"{src}:{line_of[rid]}: ")
    got = read_output(out)
    assert [r["id"] for r in got] == [good[0]["id"], "m1", "m2", good[2]["id"], good[4]["id"]]
    assert [r["row"] for r in got] == [1, 2, 6, 7, 9]


def test_bad_jsonl_and_parquet_rows(tmp_path, waimai_rows):
    rows = waimai_rows[:4]
    good_line = json.dumps(rows[0], ensure_ascii=False)
    data = (good_line + "\n").encode()
    data += good_line[:-9].encode() + b"\n"                                   # line 2: broken JSON
    data += json.dumps({"id": "num", "text": int(rows[1]["label"])}).encode() + b"\n"  # line 3: not a string
    data += b"\n"                                                            # line 4: blank, skipped
    data += json.dumps(rows[2], ensure_ascii=False).encode()[:-3] + b"\xe5\"}\n"  # line 5: invalid UTF-8
    data += b"[1, 2]\n"                                                      # line 6: not an object
    data += json.dumps(rows[3], ensure_ascii=False).encode() + b"\n"         # line 7
    data += json.dumps({**rows[3], "id": "sur", "note": "\ud83d"}).encode() + b"\n"  # line 8: lone surrogate
    src = tmp_path / "in.jsonl"
    src.write_bytes(data)
    out = tmp_path / "out.csv"
    s = run_batch(src, out, quiet=True)
    assert (s["rows_in"], s["rows_out"], s["errors"]) == (7, 2, 5)
    errors = [json.loads(x) for x in errors_path(out).read_text(encoding="utf-8").splitlines()]
    assert [e["line"] for e in errors] == [2, 3, 5, 6, 8]
    assert "malformed JSON" in errors[0]["error"] and "must be a string, got int" in errors[1]["error"]
    assert "UTF-8" in errors[2]["error"] and "expected a JSON object" in errors[3]["error"]
    assert "surrogate" in errors[4]["error"] and errors[4]["id"] == "sur"

    pq_rows = [{"id": r["id"], "text": r["text"]} for r in rows] + [{"id": "null", "text": None}]
    src = write_parquet(tmp_path / "in.parquet", pq_rows)
    s = run_batch(src, tmp_path / "out2.jsonl", quiet=True)
    assert (s["rows_in"], s["rows_out"], s["errors"]) == (5, 4, 1)
    err = json.loads(errors_path(tmp_path / "out2.jsonl").read_text(encoding="utf-8"))
    assert err["row"] == 5 and err["position"] == f"{src}:5" and "null" in err["error"]


def test_missing_text_column_names_file_and_column(tmp_path, waimai_rows):
    src = write_csv(tmp_path / "in.csv", waimai_rows[:3])
    with pytest.raises(InputError, match=r"in\.csv:1: no column 'review'"):
        run_batch(src, tmp_path / "out.csv", text_column="review", quiet=True)


@pytest.mark.parametrize("out_fmt", ["csv", "jsonl", "parquet"])
def test_resume_after_an_injected_failure_and_a_torn_chunk(tmp_path, waimai_rows, out_fmt):
    rows = waimai_rows[:200]
    src = write_parquet(tmp_path / "in.parquet", rows, row_group_size=40) if out_fmt == "csv" else \
        write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / f"out.{out_fmt}"

    class InjectedCrashError(Exception):
        pass

    def fail_after_3(ckpt):
        if ckpt["chunks"] == 3:
            raise InjectedCrashError

    with pytest.raises(InjectedCrashError):
        run_batch(src, out, quiet=True, chunk_size=30, on_chunk=fail_after_3)
    ckpt = json.loads(checkpoint_path(out).read_text(encoding="utf-8"))
    assert ckpt["rows"] == 90
    # a fourth chunk was half written when the process died
    if out_fmt == "parquet":
        (Path(str(out) + ".parts") / "part-000003.parquet.tmp").write_bytes(b"PAR1 torn")
    else:
        with open(out, "ab") as fh:
            fh.write(b"w999,half a row")
    s = run_batch(src, out, quiet=True, chunk_size=30, resume=True)
    assert s["resumed_at_row"] == 90 and s["rows_in"] == 200 and s["rows_out"] == 200
    got = read_output(out)
    assert [r["id"] for r in got] == [r["id"] for r in rows]
    assert not checkpoint_path(out).exists()


def test_resume_refuses_a_changed_input(tmp_path, waimai_rows):
    src = write_csv(tmp_path / "in.csv", waimai_rows[:60])
    out = tmp_path / "out.jsonl"

    def stop(ckpt):
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        run_batch(src, out, quiet=True, chunk_size=20, on_chunk=stop)
    write_csv(src, waimai_rows[:61])
    with pytest.raises(InputError, match="input_size"):
        run_batch(src, out, quiet=True, chunk_size=20, resume=True)


def test_kill_9_mid_run_then_resume_gives_each_row_exactly_once(tmp_path, waimai_rows):
    rows = waimai_rows * 8
    rows = [{**r, "id": f"{r['id']}-{i}"} for i, r in enumerate(rows)]  # 4800 rows, distinct ids
    src = write_csv(tmp_path / "in.csv", rows)
    out = tmp_path / "out.jsonl"
    ckpt_file = checkpoint_path(out)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.Popen([sys.executable, "-m", "reviewnlp.cli", "classify", str(src), "-o", str(out),
                             "--chunk-size", "50", "--quiet"], env=env, stdout=subprocess.DEVNULL,
                            stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    killed_at = None
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            done = json.loads(ckpt_file.read_text(encoding="utf-8"))["rows"]
        except (OSError, ValueError):
            done = 0
        if done >= 100:
            os.kill(proc.pid, signal.SIGKILL)
            killed_at = done
            break
        time.sleep(0.005)
    proc.wait(timeout=30)
    assert killed_at is not None, f"the run ended before it could be killed: {proc.stderr.read()!r}"
    assert proc.returncode == -signal.SIGKILL
    proc.stderr.close()
    before = json.loads(ckpt_file.read_text(encoding="utf-8"))["rows"]
    assert 100 <= before < len(rows)
    s = run_batch(src, out, quiet=True, chunk_size=50, resume=True)
    assert s["resumed_at_row"] == before
    got = read_output(out)
    assert [r["id"] for r in got] == [r["id"] for r in rows]
    assert s["rows_in"] == s["rows_out"] == len(rows)


def test_store_gets_the_escalations_with_masked_text_once(tmp_path, waimai_rows):
    from reviewnlp.normalize import mask_personal_data, normalize
    from reviewnlp.store import open_store

    src = write_csv(tmp_path / "in.csv", waimai_rows)
    db = tmp_path / "esc.db"
    s = run_batch(src, tmp_path / "out.csv", quiet=True, store=str(db), chunk_size=100)
    assert s["escalated"] > 0 and s["stored"] == s["escalated"]
    texts = {r["id"]: r["text"] for r in waimai_rows}
    with open_store(db) as store:
        assert store.count() == s["escalated"]
        for esc in store.list(limit=5):
            assert esc.text == mask_personal_data(normalize(texts[esc.review_id]))
            assert esc.prediction["meta"]["row"] >= 1
    s2 = run_batch(src, tmp_path / "out2.csv", quiet=True, store=str(db), chunk_size=100)
    assert s2["stored"] == 0 and s2["escalated"] == s["escalated"]


def test_cli_exit_code_and_summary(tmp_path, waimai_rows):
    from reviewnlp.cli import main

    rows = waimai_rows[:5] + [{"id": "blank", "text": " ", "label": "0"}]
    src = write_csv(tmp_path / "in.csv", rows)
    assert main(["classify", str(src), "-o", str(tmp_path / "o.csv"), "--quiet"]) == 1
    assert main(["classify", str(src), "-o", str(tmp_path / "o.jsonl"), "--text-column", "nope", "-q"]) == 2
    src = write_csv(tmp_path / "ok.csv", rows[:5])
    assert main(["classify", str(src), "-o", str(tmp_path / "ok.parquet"), "-q"]) == 0


def test_progress_bar_only_on_a_terminal(monkeypatch):
    from reviewnlp import batch

    assert batch._progress(100, "B", quiet=False, initial=0) is None  # pytest's stderr is not a TTY

    class FakeTTY:
        def isatty(self):
            return True

        def write(self, s):
            return len(s)

        def flush(self):
            pass

    monkeypatch.setattr(sys, "stderr", FakeTTY())
    bar = batch._progress(100, "B", quiet=False, initial=10)
    assert bar is not None and bar.n == 10
    bar.close()
    assert batch._progress(100, "B", quiet=True, initial=0) is None
