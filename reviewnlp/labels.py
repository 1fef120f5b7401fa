"""Label names of ``LABELS.md``: the single source of truth in code.

>>> SEVERITIES.index("high")
3
>>> "logistics" in CAUSES
True
"""
from __future__ import annotations

CAUSES: tuple[str, ...] = ("product_quality", "logistics", "service_attitude", "other")
SEVERITIES: tuple[str, ...] = ("none", "low", "medium", "high", "critical")
FLAGS: tuple[str, ...] = ("safety", "legal", "media", "fraud", "privacy")
LANGS: tuple[str, ...] = ("zh", "en", "mixed", "other")


def severity_rank(name: str) -> int:
    """Return the ordinal rank (0-4) of a severity name.

    >>> severity_rank("critical")
    4
    """
    try:
        return SEVERITIES.index(name)
    except ValueError:
        raise ValueError(f"unknown severity {name!r}; expected one of {', '.join(SEVERITIES)}") from None
