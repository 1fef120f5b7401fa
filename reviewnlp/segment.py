"""Bilingual segmentation: the second stage of the pipeline.

``segment(text)`` works on *normalized* text (see :func:`reviewnlp.normalize.normalize`):

- Han runs are cut by a dedicated :class:`jieba.Tokenizer` in accurate mode, loaded once with
  the project's user dictionary (``resources/userdict.txt``); never the global ``jieba.dt``;
- Latin runs are cut by a word tokenizer with English negation scope: after ``not``, ``never``,
  ``no`` or ``n't`` the next tokens (up to :data:`NEGATION_WINDOW`, stopping at punctuation) are
  prefixed ``not_``;
- a number stays with its unit (``3天``, ``2小时``, ``2 hours``);
- placeholders such as ``[phone]``, emoji and repeated ``!``/``?`` stay as tokens.

>>> segment("快递太慢了，等了3天！！")
['快递', '太慢', '了', '等', '了', '3天', '！！']
>>> segment("it did not work at all")
['it', 'did', 'not', 'not_work', 'not_at', 'not_all']
>>> detect_language("质量不错 but shipping was slow")
'mixed'
"""
from __future__ import annotations

import logging
import re
import threading
from functools import lru_cache
from importlib import resources
from math import log
from pathlib import Path

__all__ = [
    "segment",
    "detect_language",
    "get_tokenizer",
    "stopwords",
    "NEGATION_WINDOW",
    "NEGATORS_ZH",
    "DEGREE_WORDS",
]

logger = logging.getLogger(__name__)

NEGATION_WINDOW = 3
_EN_NEGATORS = frozenset({"not", "no", "never", "n't", "cannot", "without", "nor"})
NEGATORS_ZH = frozenset({"不", "没", "没有", "别", "无", "未", "不要", "不是", "不会", "从未", "从不"})
DEGREE_WORDS = frozenset({"太", "很", "非常", "特别", "超", "超级", "极", "极其", "十分", "有点", "比较",
                          "very", "too", "so", "extremely", "really", "quite"})

_UNITS_ZH = ("个小时", "小时", "分钟", "钟头", "天", "周", "星期", "个月", "月", "年", "次", "块", "元", "斤",
             "公斤", "克", "件", "个", "盒", "瓶", "份", "倍", "分", "秒", "寸", "米", "层", "袋", "箱", "包", "号")
_UNITS_EN = (r"hours?|hrs?|days?|weeks?|months?|years?|minutes?|mins?|seconds?|secs?|times|stars?|dollars?"
             r"|bucks|usd|cents?|kg|lbs?|pounds?|inch(?:es)?|ft|feet|cm|mm|gb|mb|tb|mah|w|v|pcs|pieces?|items?")

_TOKEN = re.compile(
    r"(?P<ph>\[(?:url|email|id_card|phone|order_no)\])"
    r"|(?P<han>[0-9]*(?:[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff][0-9.]*)+)"
    rf"|(?P<numunit>[0-9]+(?:\.[0-9]+)?\s?(?:{_UNITS_EN})\b)"
    r"|(?P<word>[a-z0-9]+(?:[.'’\-][a-z0-9]+)*(?:n't)?)"
    r"|(?P<bang>[!?！？]{2,})"
    r"|(?P<stop>[.,;:!?。，；：！？、\n])"
    r"|(?P<sym>[\U0001F000-\U0001FAFF\u2600-\u27BF\u2B00-\u2BFF\u3030\u303D\u3297\u3299])"
)
_NUM = re.compile(r"^[0-9]+(?:\.[0-9]+)?$")
_HAN_CHAR = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")
_LATIN_WORD = re.compile(r"[a-zA-Z]{2,}")
_PLACEHOLDER = re.compile(r"\[(?:url|email|id_card|phone|order_no)\]")
_OTHER_SCRIPT = re.compile(r"[\u3040-\u30ff\uac00-\ud7af\u0400-\u04ff\u0600-\u06ff\u0e00-\u0e7f]")

_lock = threading.Lock()
_tokenizer = None
# jieba.re_han_default, set with the tokenizer: importing jieba takes ~0.2 s (python -X importtime -c "import jieba")
_jieba_block = None


def _resource(name: str) -> Path:
    return Path(str(resources.files("reviewnlp") / "resources" / name))


def _cache_dir() -> Path:
    import os
    import tempfile

    base = os.environ.get("REVIEWNLP_CACHE_DIR") or os.environ.get("XDG_CACHE_HOME")
    root = Path(base) if base else Path.home() / ".cache"
    path = root / "reviewnlp"
    try:
        path.mkdir(parents=True, exist_ok=True)
        probe = path / ".probe"
        probe.touch()
        probe.unlink()
    except OSError:
        path = Path(tempfile.gettempdir())
    return path


def get_tokenizer():
    """Return the process-wide project :class:`jieba.Tokenizer`, built once under a lock.

    The main dictionary's prefix table is cached by jieba in the reviewnlp cache directory
    (``$REVIEWNLP_CACHE_DIR`` or ``~/.cache/reviewnlp``), so later cold starts read it back
    instead of rebuilding it; the project user dictionary is then added on top.
    """
    global _tokenizer, _jieba_block
    if _tokenizer is not None:
        return _tokenizer
    with _lock:
        if _tokenizer is None:
            import jieba

            jieba.setLogLevel(logging.WARNING)
            tok = jieba.Tokenizer()
            tok.tmp_dir = str(_cache_dir())
            tok.initialize()
            tok.load_userdict(str(_resource("userdict.txt")))
            logger.debug("jieba tokenizer ready (cache in %s)", tok.tmp_dir)
            _jieba_block = jieba.re_han_default
            _tokenizer = tok
    return _tokenizer


@lru_cache(maxsize=1)
def stopwords() -> frozenset[str]:
    """The zh + en stop words; negations and degree words are never among them.

    >>> "的" in stopwords(), "不" in stopwords(), "太" in stopwords()
    (True, False, False)
    """
    words: set[str] = set()
    for name in ("stopwords_zh.txt", "stopwords_en.txt"):
        words.update(w.strip() for w in _resource(name).read_text(encoding="utf-8").splitlines() if w.strip())
    return frozenset(words - NEGATORS_ZH - _EN_NEGATORS - DEGREE_WORDS)


def _dag_cut(sentence: str, tok) -> list[str]:
    """jieba's accurate mode with HMM (``Tokenizer.lcut(sentence)``) for one block of ``re_han_default``.

    The same algorithm as jieba 0.42's ``get_DAG`` + ``calc`` + ``__cut_DAG``, fused into one
    backward pass without the intermediate DAG dict, generator and tuples: for each start
    ``idx`` (right to left) the prefix dictionary is walked as in ``get_DAG``, and each word
    ``sentence[idx:i+1]`` scores ``log(freq) - log(total) + score[i+1]``, computed in the same
    order as jieba so the floats are identical; ties go to the longer word, as ``max`` over
    ``(score, x)`` tuples does. Unknown single characters are collected and handed to
    ``jieba.finalseg`` exactly as jieba does. ``tests/unit/test_segment_exact.py`` checks
    token-for-token equality with ``get_tokenizer().lcut`` on every Han run of the CSV corpora.

    >>> _dag_cut("快递太慢了", get_tokenizer()) == get_tokenizer().lcut("快递太慢了")
    True
    """
    freq = tok.FREQ
    get = freq.get
    logtotal = log(tok.total)
    n = len(sentence)
    score = [0.0] * (n + 1)
    end = [0] * n
    for idx in range(n - 1, -1, -1):
        best = None
        best_x = idx
        i = idx
        frag = sentence[idx]
        while True:
            f = get(frag)
            if f is None:
                break
            if f:
                s = log(f) - logtotal + score[i + 1]
                if best is None or s >= best:
                    best = s
                    best_x = i
            i += 1
            if i >= n:
                break
            frag = sentence[idx:i + 1]
        if best is None:
            best = 0.0 - logtotal + score[idx + 1]
        score[idx] = best
        end[idx] = best_x + 1
    out: list[str] = []
    x = 0
    buf = ""
    while x < n:
        y = end[x]
        if y - x == 1:
            buf += sentence[x]
        else:
            if buf:
                _flush(buf, get, out)
                buf = ""
            out.append(sentence[x:y])
        x = y
    if buf:
        _flush(buf, get, out)
    return out


def _flush(buf: str, get, out: list[str]) -> None:
    if len(buf) == 1:
        out.append(buf)
    elif not get(buf):
        out.extend(_hmm_cut(buf))
    else:
        out.extend(buf)


@lru_cache(maxsize=8192)
def _hmm_cut(buf: str) -> tuple[str, ...]:
    """``jieba.finalseg.cut(buf)`` (the HMM for runs of unknown single characters), memoized.

    Its result depends on ``buf`` alone (jieba's fixed HMM tables), and the same runs recur
    across reviews (``很好``, ``买的``, ``也很``...): ``python benchmarks/bench_text.py --only
    segmenter`` reports how often, the hit rate of this bounded cache and its size. The
    benchmarks clear it before each timed call.
    """
    from jieba import finalseg

    return tuple(finalseg.cut(buf))


def _cut_han(run: str) -> list[str]:
    tokenizer = get_tokenizer()
    if _jieba_block.fullmatch(run):  # one block of jieba's own cut()
        tokens = _dag_cut(run, tokenizer)
    else:  # characters outside jieba's block (CJK extension A, U+9FD6..9FFF, compatibility ideographs)
        tokens = tokenizer.lcut(run, cut_all=False, HMM=True)
    out: list[str] = []
    for tok in tokens:
        if out and _NUM.match(out[-1]) and tok in _UNITS_ZH:
            out[-1] = out[-1] + tok
        elif out and _NUM.match(out[-1]) and tok[:1] in _UNITS_ZH and len(tok) > 1 and tok[:2] not in _UNITS_ZH:
            # jieba glued the unit to the next word: "3天就" -> "3天", "就"
            out[-1] = out[-1] + tok[0]
            out.append(tok[1:])
        else:
            out.append(tok)
    return [t for t in out if t.strip()]


def segment(text: str, *, drop_stopwords: bool = False) -> list[str]:
    """Split normalized text into tokens.

    Parameters
    ----------
    text : str
        Normalized review text.
    drop_stopwords : bool
        Remove stop words (used for term statistics; the models keep them).

    Returns
    -------
    list of str

    Examples
    --------
    >>> segment("骑手送了2小时 外卖都凉了")
    ['骑手', '送', '了', '2小时', '外卖', '都', '凉了']
    >>> segment("arrived after 2 hours, never again")
    ['arrived', 'after', '2 hours', 'never', 'not_again']
    """
    if not isinstance(text, str):
        raise TypeError(f"segment() expects str, got {type(text).__name__}")
    out: list[str] = []
    negate = 0
    for m in _TOKEN.finditer(text):
        kind = m.lastgroup
        tok = m.group()
        if kind == "han":
            out.extend(_cut_han(tok))
            negate = 0
        elif kind == "word":
            if tok.endswith("n't") and len(tok) > 3:
                base = tok[:-3]
                if base == "ca":
                    base = "can"
                elif base == "wo":
                    base = "will"
                out.append(base)
                out.append("not")
                negate = NEGATION_WINDOW
            elif tok in _EN_NEGATORS:
                out.append(tok)
                negate = NEGATION_WINDOW
            elif negate:
                out.append("not_" + tok)
                negate -= 1
            else:
                out.append(tok)
        elif kind == "numunit":
            out.append(re.sub(r"\s+", " ", tok))
            negate = max(negate - 1, 0)
        elif kind in ("ph", "sym", "bang"):
            out.append(tok)
            if kind == "bang":
                negate = 0
        else:  # sentence punctuation ends a negation scope and is dropped
            negate = 0
    if drop_stopwords:
        sw = stopwords()
        out = [t for t in out if t not in sw]
    return out


def detect_language(text: str) -> str:
    """Tell ``zh``, ``en``, ``mixed`` or ``other`` from the characters of a text.

    A text is ``mixed`` when both Han characters and Latin words carry a real share
    (15-85 %, counting about 1.5 Han characters per word).

    >>> detect_language("送餐很快"), detect_language("Fast delivery"), detect_language("👍👍")
    ('zh', 'en', 'other')
    """
    if not isinstance(text, str):
        raise TypeError(f"detect_language() expects str, got {type(text).__name__}")
    text = _PLACEHOLDER.sub(" ", text)
    han = len(_HAN_CHAR.findall(text))
    latin = len(_LATIN_WORD.findall(text))
    if han == 0 and latin == 0:
        return "other"
    other = len(_OTHER_SCRIPT.findall(text))
    if other > han + latin:
        return "other"
    if latin <= 1 and han >= 2:
        return "zh"
    if han <= 1 and latin >= 1:
        return "en"
    share = latin / (latin + han / 1.5)
    if share < 0.15:
        return "zh"
    if share > 0.85:
        return "en"
    return "mixed"
