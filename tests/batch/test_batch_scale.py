"""Dask scale-out: same results as single-process classify_many, one model load per worker at most."""
from __future__ import annotations

import pandas as pd
import pytest

from .batch_helpers import SHOPPING, read_reviews

dd = pytest.importorskip("dask.dataframe")
distributed = pytest.importorskip("dask.distributed")

from reviewnlp.scale import model_loads_on, score_dataframe, score_partition  # noqa: E402


@pytest.fixture(scope="module")
def frame(waimai_rows) -> pd.DataFrame:
    shop = read_reviews(SHOPPING, 60, step=523)
    rows = [{"id": r["id"], "text": r["text"], "category": "外卖"} for r in waimai_rows[:250]]
    rows += [{"id": f"s{r['source_row']}", "text": r["text"], "category": r["cat"]} for r in shop]
    rows.insert(7, {"id": "blank", "text": "  ", "category": "外卖"})  # one bad row: kept, with an error
    return pd.DataFrame(rows)


@pytest.fixture(scope="module")
def cluster():
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None,
                                  silence_logs=40) as cluster, distributed.Client(cluster) as client:
        yield client


def test_dask_results_equal_classify_many_and_model_loads_once_per_worker(frame, cluster, model):
    ddf = dd.from_pandas(frame, npartitions=8)
    out = score_dataframe(ddf, text_column="text", id_column="id").compute()
    again = score_dataframe(ddf, text_column="text").compute()  # the second pass reuses the loaded models
    assert len(out) == len(frame) and list(out.index) == list(frame.index)
    assert list(out["id"]) == list(frame["id"]) and list(again["severity"].fillna("")) == \
        list(out["severity"].fillna(""))
    bad = out[out["id"] == "blank"].iloc[0]
    assert "empty" in bad["error"] and pd.isna(bad["severity"])

    ok = out[out["error"].isna()]
    preds = model.classify_many(list(ok["text"]))
    assert list(ok["severity"]) == [p.severity for p in preds]
    assert list(ok["causes"]) == [";".join(p.causes) for p in preds]
    assert list(ok["flags"]) == [";".join(p.flags) for p in preds]
    for cause in ("logistics", "product_quality"):
        assert ok[f"p_cause_{cause}"].tolist() == pytest.approx([round(p.cause_scores[cause], 6) for p in preds],
                                                                 abs=1e-9)
    loads = model_loads_on(cluster)
    assert len(loads) == 2
    assert all(n <= 1 for n in loads.values()), loads
    assert sum(loads.values()) >= 1


def test_meta_matches_the_computed_dtypes(frame):
    ddf = dd.from_pandas(frame.head(20), npartitions=2)
    scored = score_dataframe(ddf)
    got = scored.compute(scheduler="sync")
    assert dict(scored.dtypes) == dict(got.dtypes)
    empty = score_partition(frame.head(0))
    assert list(empty.columns) == list(got.columns)


def test_missing_text_column_is_named(frame):
    from reviewnlp.errors import InputError

    with pytest.raises(InputError, match="no column 'review'"):
        score_dataframe(dd.from_pandas(frame, npartitions=1), text_column="review")
