"""Behaviour of ``segment`` and ``detect_language``."""
import threading
from importlib import resources

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from reviewnlp.normalize import normalize
from reviewnlp.segment import DEGREE_WORDS, NEGATORS_ZH, detect_language, get_tokenizer, segment, stopwords


def _userdict_terms():
    text = (resources.files("reviewnlp") / "resources" / "userdict.txt").read_text(encoding="utf-8")
    return [line.split()[0] for line in text.splitlines() if line.strip()]


def test_userdict_has_hundreds_of_terms():
    assert len(_userdict_terms()) >= 300


KEY_TERMS = ["差评", "退款", "客服", "快递", "骑手", "外卖", "发霉", "假货", "12315", "七天无理由", "漏液"]


@pytest.mark.parametrize("term", KEY_TERMS)
def test_key_terms_stay_whole_in_context(term):
    assert term in segment(normalize(f"这次{term}的问题"))


def test_every_userdict_term_is_one_token():
    bad = [t for t in _userdict_terms() if segment(normalize(t)) != [normalize(t)]]
    assert bad == []


def test_numbers_keep_units():
    assert "3天" in segment("等了3天才到")
    assert "2小时" in segment("送了2小时")
    assert "2 hours" in segment("it took 2 hours to arrive")


def test_english_negation_scope():
    toks = segment("it does not work. great price")
    assert "not_work" in toks
    assert "great" in toks and "not_great" not in toks  # punctuation closes the scope
    assert segment("didn't arrive") == ["did", "not", "not_arrive"]


def test_stopwords_keep_negations_and_degree_words():
    sw = stopwords()
    assert "的" in sw and "the" in sw
    for w in ["不", "没", "别", "太", "很", "非常", "not", "never", "too", "very"]:
        assert w not in sw
    assert not (NEGATORS_ZH & sw) and not (DEGREE_WORDS & sw)
    assert "的" not in segment("质量的问题", drop_stopwords=True)


def test_placeholders_emoji_and_bangs_are_tokens():
    toks = segment(normalize("打我电话13812345678!!! 😡"))
    assert toks[-3:] == ["[phone]", "!!!", "😡"]


def test_dedicated_tokenizer_not_global():
    import jieba

    tok = get_tokenizer()
    assert tok is not jieba.dt
    assert get_tokenizer() is tok


def test_thread_safe_segmentation():
    texts = [normalize(t) for t in ["快递太慢了，客服不理人", "Terrible, never again", "外卖洒了一半"]] * 50
    expected = [segment(t) for t in texts]
    results = [None] * len(texts)

    def work(i):
        results[i] = segment(texts[i])

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert results == expected


@settings(max_examples=200)
@given(st.text(max_size=200))
def test_segment_never_raises_and_tokens_are_nonblank(text):
    toks = segment(normalize(text))
    assert all(t.strip() == t and t for t in toks)


@settings(max_examples=200)
@given(st.text(alphabet=st.characters(min_codepoint=0x4E00, max_codepoint=0x9FFF), max_size=80))
def test_han_text_is_fully_covered(text):
    assert "".join(segment(text)) == text


@pytest.mark.parametrize(
    "text, lang",
    [("送餐很快，味道不错", "zh"), ("Arrived late and cold", "en"), ("质量不错 but shipping was slow", "mixed"),
     ("iPhone很好用，就是贵", "zh"), ("😀👍", "other"), ("12345", "other"), ("Отличный товар", "other"),
     ("[phone]", "other")],
)
def test_detect_language(text, lang):
    assert detect_language(text) == lang


@pytest.mark.parametrize("bad", [None, 1, b"x"])
def test_type_errors(bad):
    with pytest.raises(TypeError):
        segment(bad)
    with pytest.raises(TypeError):
        detect_language(bad)
