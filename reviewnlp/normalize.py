"""Text normalization: the first stage of the pipeline.

``normalize(text)`` applies, in order:

1. HTML entities decoded and tags removed (``&amp;`` -> ``&``, ``<br/>`` -> space);
2. Unicode NFKC, which also folds full-width forms to half-width (``ＡＢＣ１２３`` -> ``ABC123``);
3. traditional -> simplified Chinese with OpenCC (``t2s``), only when the text holds Han characters;
4. case-folding of Latin letters only (Greek, Cyrillic, ... are left alone);
5. personal data masked by placeholders: ``[url]``, ``[email]``, ``[id_card]``, ``[phone]``,
   ``[order_no]``;
6. whitespace collapsed to single spaces.

Emoji and repeated punctuation (``!!!``, ``???``) are kept: they are signals.
The function is idempotent, never raises on a ``str`` and never drops a CJK character.

>>> normalize("  這個產品  質量很差！！！ Call ME: 13812345678 ")
'这个产品 质量很差!!! call me: [phone]'
>>> normalize("<b>Great</b> &amp; FAST")
'great & fast'
>>> normalize(b"bytes")
Traceback (most recent call last):
...
TypeError: normalize() expects str, got bytes
"""
from __future__ import annotations

import html
import re
import threading
import unicodedata
from functools import lru_cache

__all__ = ["normalize", "PLACEHOLDERS", "mask_personal_data"]

PLACEHOLDERS: tuple[str, ...] = ("[url]", "[email]", "[id_card]", "[phone]", "[order_no]")

_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9]*(?:\s+[^<>\u3000-\u303f\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]*)?/?>")
_ENTITY_HINT = re.compile(r"&(?:#\d+|#[xX][0-9a-fA-F]+|[A-Za-z][A-Za-z0-9]*);?")
_WS = re.compile(r"\s+")
_SURROGATE = re.compile("[\ud800-\udfff]")
_HAN = re.compile(r"[\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff]")

_URL = re.compile(r"(?:https?://|www\.)[a-z0-9\-._~:/?#@!$&'()*+,;=%]+")
_EMAIL = re.compile(r"[a-z0-9._%+\-]+@[a-z0-9\-]+(?:\.[a-z0-9\-]+)*\.[a-z]{2,}")
_ID_CARD = re.compile(r"(?<![0-9])[1-9][0-9]{5}(?:19|20)[0-9]{2}(?:0[1-9]|1[0-2])(?:0[1-9]|[12][0-9]|3[01])"
                      r"[0-9]{3}[0-9x](?![0-9a-z])")
_MOBILE = re.compile(r"(?<![0-9])(?:\+?86[- ]?)?1[3-9][0-9](?:[- ]?[0-9]{4}){2}(?![0-9])")
_LANDLINE = re.compile(r"(?<![0-9])(?:\(0[0-9]{2,3}\)\s?|0[0-9]{2,3}-)[0-9]{7,8}(?:-[0-9]{1,4})?(?![0-9])")
_ORDER_KEYWORD = re.compile(r"((?:订单|运单|快递单|物流单|单)号?\s*[:：]?\s*|order\s*(?:no\.?|number|#|id)?\s*[:#]?\s*"
                            r"|tracking\s*(?:no\.?|number|#)?\s*[:#]?\s*)(?=[a-z\-]*[0-9])[a-z0-9\-]{6,}")
_COURIER_CODE = re.compile(
    r"(?<![a-z0-9])(?:(?:sf|yt|jd|jdv|zto|sto|yd|ems|jt|db)[0-9]{8,}|1z[0-9a-z]{16})(?![0-9a-z])"
)
_LONG_NUMBER = re.compile(r"(?<![0-9])[0-9]{10,}(?![0-9])")
_DIGIT = re.compile(r"[0-9]")

_MAX_PASSES = 4


@lru_cache(maxsize=1)
def _latin_fold_table() -> dict[int, str]:
    table: dict[int, str] = {}
    latin_blocks = ((0x41, 0x250), (0x1E00, 0x1F00), (0x2C60, 0x2C80), (0xA720, 0xA800), (0xAB30, 0xAB70),
                    (0x10780, 0x107C0), (0x1DF00, 0x1E000))
    for lo, hi in latin_blocks:
        for cp in range(lo, hi):
            ch = chr(cp)
            low = ch.lower()
            if ch != low and len(low) == 1 and "LATIN" in unicodedata.name(ch, ""):
                table[cp] = low
    return table


_cc_lock = threading.Lock()
_cc = None


def _t2s(text: str) -> str:
    global _cc
    if _cc is None:
        with _cc_lock:
            if _cc is None:
                import opencc

                _cc = opencc.OpenCC("t2s")
    out = _cc.convert(text)
    if out == text:  # already simplified: nothing can have been lost
        return out
    # OpenCC maps characters and phrases one to one in length for t2s; never accept a result
    # that would lose Han characters.
    if len(_HAN.findall(out)) < len(_HAN.findall(text)):
        return text
    return out


def _order_no(m: re.Match[str]) -> str:
    return m.group(1) + "[order_no]"


# (pattern, replacement), applied in this order; the first two need "http"/"www." and "@", all the
# others an ASCII digit
_MASKS = ((_URL, "[url]"), (_EMAIL, "[email]"), (_ID_CARD, "[id_card]"), (_MOBILE, "[phone]"),
          (_LANDLINE, "[phone]"), (_ORDER_KEYWORD, _order_no), (_COURIER_CODE, "[order_no]"),
          (_LONG_NUMBER, "[order_no]"))


def _apply_masks(text: str, masks=_MASKS) -> str:
    """Every mask applied, no shortcut: the definition :func:`mask_personal_data` must equal."""
    for pattern, replacement in masks:
        text = pattern.sub(replacement, text)
    return text


def mask_personal_data(text: str) -> str:
    """Replace personal data in lower-cased text by placeholders.

    Scans that cannot match are skipped (no "http"/"www.", no "@", no digit): most reviews have
    none of them. The result is :func:`_apply_masks`'s (``tests/unit/test_normalize.py``;
    ``python benchmarks/bench_text.py`` compares both on real reviews).

    >>> mask_personal_data("mail a.b@x.com or call 010-12345678, order no: 12345678901")
    'mail [email] or call [phone], order no: [order_no]'
    """
    if "http" in text or "www." in text:
        text = _apply_masks(text, _MASKS[:1])
    if "@" in text:
        text = _apply_masks(text, _MASKS[1:2])
    if not _DIGIT.search(text):
        return text
    return _apply_masks(text, _MASKS[2:])


def _strip_html(text: str) -> str:
    if "&" in text and _ENTITY_HINT.search(text):
        text = html.unescape(text)
    if "<" in text:
        text = _TAG.sub(" ", text)
    return text


def _one_pass(text: str) -> str:
    text = _strip_html(text)
    text = unicodedata.normalize("NFKC", text)
    if _HAN.search(text):
        text = _t2s(text)
    text = text.translate(_latin_fold_table())
    text = _WS.sub(" ", text).strip()  # before masking, so "138\t1234\t5678" is seen as a phone
    return mask_personal_data(text)


def normalize(text: str) -> str:
    """Normalize one review text; see the module docstring for the steps.

    Parameters
    ----------
    text : str
        Raw review text, any length (the caller enforces limits).

    Returns
    -------
    str
        The normalized text. ``normalize(normalize(t)) == normalize(t)``.

    Raises
    ------
    TypeError
        When ``text`` is not a ``str``; the message names the type.

    Examples
    --------
    >>> normalize("ＩＰＨＯＮＥ很好用")
    'iphone很好用'
    >>> normalize("食物中毒!!! 我要打12315")
    '食物中毒!!! 我要打12315'
    """
    if not isinstance(text, str):
        raise TypeError(f"normalize() expects str, got {type(text).__name__}")
    # surrogates cannot be encoded; replace them so the text stays a valid str downstream
    text = _SURROGATE.sub("\ufffd", text)
    out = _one_pass(text)
    if "&" not in out and "<" not in out:
        # every step is idempotent on its own; only decoded HTML can leave new work for a second pass
        return out
    for _ in range(_MAX_PASSES):
        nxt = _one_pass(out)
        if nxt == out:
            return out
        out = nxt
    return out
