"""Fixtures of the batch suite (module- and session-scoped: the model loads once per process)."""
from __future__ import annotations

import pytest

from .batch_helpers import WAIMAI, read_reviews


@pytest.fixture(scope="session")
def waimai_rows() -> list[dict[str, str]]:
    """600 real food-delivery reviews with ids ``w<source line>`` and their own label."""
    rows = read_reviews(WAIMAI, 600, step=17)
    return [{"id": f"w{r['source_row']}", "text": r["text"], "label": r["label"]} for r in rows]


@pytest.fixture(scope="session")
def model():
    from reviewnlp.batch import cached_model

    return cached_model()


@pytest.fixture(scope="session")
def reference(model, waimai_rows) -> dict[str, dict]:
    """Single-process ``classify_many`` results keyed by id: what every batch path must reproduce."""
    preds = model.classify_many([r["text"] for r in waimai_rows], ids=[r["id"] for r in waimai_rows])
    return {p.review_id: p.to_dict() for p in preds}
