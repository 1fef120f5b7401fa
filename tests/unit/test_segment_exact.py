"""The fused cutter in ``segment._dag_cut`` must be jieba's accurate mode, token for token.

``segment()`` cuts Han runs with its own single-pass version of jieba's ``get_DAG`` + ``calc`` +
``__cut_DAG`` (for speed); these tests compare it with ``get_tokenizer().lcut`` (jieba itself,
same tokenizer and user dictionary) on real reviews and on generated strings.
"""
from __future__ import annotations

import csv

import jieba
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewnlp.normalize import normalize
from reviewnlp.segment import _TOKEN, _cut_han, _dag_cut, get_tokenizer, segment
from tests.conftest import CORPORA


def _han_runs(texts):
    """The distinct Han runs of ``texts`` that ``segment()`` hands to ``_dag_cut``."""
    runs = set()
    for text in texts:
        for m in _TOKEN.finditer(normalize(text)):
            if m.lastgroup == "han" and jieba.re_han_default.fullmatch(m.group()):
                runs.add(m.group())
    return sorted(runs)


def _differences(runs):
    tok = get_tokenizer()
    return [(r, mine, jiebas) for r in runs if (mine := _dag_cut(r, tok)) != (jiebas := tok.lcut(r))]


def _corpus_texts():
    texts: list[str] = []
    for name, path, col, enc in [
        ("waimai_10k", "waimai_10k.csv", "review", "utf-8"),
        ("online_shopping_10_cats", "online_shopping_10_cats.csv", "review", "utf-8-sig"),
        ("tianchi_ecomm_opinion", "Train_reviews.csv", "Reviews", "utf-8"),
    ]:
        with open(CORPORA / name / path, encoding=enc, newline="") as fh:
            rows = [r.get(col) or "" for r in csv.DictReader(fh)]
        texts += rows[:: max(1, len(rows) // 4000)]
    return texts


def test_same_tokens_as_jieba_on_real_reviews():
    runs = _han_runs(_corpus_texts())
    assert len(runs) > 5000
    assert _differences(runs) == []


@pytest.mark.slow
def test_same_tokens_as_jieba_on_every_han_run_of_the_corpora():
    """Every distinct Han run in every line of every CSV corpus (about 400k runs, ~40 s)."""
    lines: list[str] = []
    for path in sorted(CORPORA.glob("*/*.csv")):
        with open(path, encoding="utf-8-sig", errors="replace") as fh:
            lines += [line[:20000] for line in fh]
    runs = _han_runs(lines)
    assert len(runs) > 300_000
    assert _differences(runs) == []


_COMMON = "的一是了我不在人们有来他这上着个地到大时为说国快递太慢质量好差服务态度客服退货包装破损送餐外卖凉骑手商家" \
          "假冒伪劣投诉举报过敏中毒漏电爆炸123.0"


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet=st.sampled_from(_COMMON), min_size=1, max_size=60))
def test_same_tokens_as_jieba_on_generated_runs(text):
    tok = get_tokenizer()
    assert _dag_cut(text, tok) == tok.lcut(text)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FD5), min_size=1, max_size=40))
def test_same_tokens_as_jieba_on_any_han(text):
    tok = get_tokenizer()
    assert _dag_cut(text, tok) == tok.lcut(text)


@pytest.mark.parametrize("run", ["\u3400快递很慢", "\uf900有此理", "快递\u9fff到了"])
def test_runs_outside_jiebas_block_fall_back_to_jieba(run):
    # CJK extension A, compatibility ideographs and U+9FD6..9FFF are outside re_han_default
    assert jieba.re_han_default.fullmatch(run) is None
    assert "".join(_cut_han(run)) == run
    assert "".join(segment(run)) == run
