"""Artifacts: sha256 and versions are checked before unpickling; tampering is refused clearly."""
import json
import shutil
import threading

import pytest

import reviewnlp
from reviewnlp.errors import InputError, ModelError
from reviewnlp.persistence import load_model, save_model, verify


@pytest.fixture()
def saved(tmp_path, tiny_model):
    save_model(tiny_model, tmp_path / "m", version="t1", training_data_hash="x" * 64)
    return tmp_path / "m"


def test_roundtrip_gives_same_probabilities(saved, tiny_model):
    m = load_model(saved)
    texts = ["快递太慢了", "Great product"]
    assert (m.predict_proba(texts) == tiny_model.predict_proba(texts)).all()
    meta = json.loads((saved / "metadata.json").read_text())
    for key in ("version", "created", "sha256", "training_data_sha256", "labels", "thresholds", "metrics",
                "libraries"):
        assert key in meta


def test_tampered_artifact_is_refused_before_unpickling(saved, monkeypatch):
    import joblib

    data = bytearray((saved / "model.joblib").read_bytes())
    data[len(data) // 2] ^= 0xFF
    (saved / "model.joblib").write_bytes(bytes(data))
    called = []
    monkeypatch.setattr(joblib, "load", lambda *a, **k: called.append(1))
    with pytest.raises(ModelError, match="sha256|size"):
        load_model(saved)
    assert not called


def test_truncated_artifact_is_refused(saved):
    p = saved / "model.joblib"
    p.write_bytes(p.read_bytes()[:1000])
    with pytest.raises(ModelError, match="truncated|size"):
        load_model(saved)


def test_version_mismatch_is_refused(saved):
    meta = json.loads((saved / "metadata.json").read_text())
    meta["libraries"]["scikit-learn"] = "0.1.0"
    (saved / "metadata.json").write_text(json.dumps(meta))
    with pytest.raises(ModelError, match="scikit-learn 0.1.0"):
        verify(saved)


@pytest.mark.parametrize("content", ["", "{not json", "[]"])
def test_corrupt_metadata(saved, content):
    (saved / "metadata.json").write_text(content)
    with pytest.raises(ModelError):
        load_model(saved)


def test_missing_dir(tmp_path):
    with pytest.raises(ModelError, match="metadata.json not found"):
        load_model(tmp_path / "nope")


def test_shipped_model_is_verified_and_small():
    meta = verify(reviewnlp.persistence.default_model_dir())
    assert meta["size_bytes"] <= 20 * 1024 * 1024
    assert meta["metrics"]["test"]["n"] > 500


def test_reload_without_restart(saved, tmp_path, tiny_model):
    a = reviewnlp.load(saved)
    tiny_model.thresholds = dict(tiny_model.thresholds, **{"severity>none": 0.99})
    save_model(tiny_model, tmp_path / "m2", version="t2", training_data_hash="y" * 64)
    b = reviewnlp.load(tmp_path / "m2")
    assert a.version == "t1" and b.version == "t2"
    assert b.classify("快递太慢了，差评").severity == "none" or b.thresholds["severity>none"] == 0.99


@pytest.mark.parametrize("bad, field", [(None, "text"), ("", "text"), ("   ", "text"), (b"x", "text"),
                                        ("x" * 30000, "text")])
def test_bad_input_is_a_clear_error(shipped_model, bad, field):
    with pytest.raises(InputError) as exc:
        shipped_model.classify(bad)
    assert exc.value.field == field


def test_thread_safe_classification(shipped_model):
    from tests.conftest import real_reviews

    texts = real_reviews(120)
    expected = [(p.causes, p.severity, p.flags) for p in shipped_model.classify_many(texts)]
    fresh = reviewnlp.load()  # lean scorer compiled concurrently on first use
    out = [None] * len(texts)

    def work(i):
        p = fresh.classify(texts[i])
        out[i] = (p.causes, p.severity, p.flags)

    threads = [threading.Thread(target=work, args=(i,)) for i in range(len(texts))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert out == expected


def test_copy_of_model_dir_loads(saved, tmp_path):
    shutil.copytree(saved, tmp_path / "copy")
    assert load_model(tmp_path / "copy").version == "t1"


def test_serving_load_imports_no_sklearn_and_no_pickle():
    """The lean scorer loads from arrays + JSON: scikit-learn, SciPy and joblib stay unimported."""
    import subprocess
    import sys

    code = ("import sys, reviewnlp; m = reviewnlp.load(); m.classify('快递太慢了'); "
            "print(sorted(k for k in ('sklearn', 'scipy', 'joblib') if k in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, check=True)
    assert out.stdout.strip() == "[]", out.stdout + out.stderr


def test_tampered_lean_file_is_refused(saved):
    p = saved / "lean.json"
    p.write_text(p.read_text(encoding="utf-8").replace('"thresholds": {', '"thresholds": {"x": 1, ', 1),
                 encoding="utf-8")
    with pytest.raises(ModelError, match="lean.json"):
        load_model(saved)


def test_lazy_pipeline_refuses_artifact_changed_after_load(saved):
    m = load_model(saved)
    p = saved / "model.joblib"
    data = bytearray(p.read_bytes())
    data[-10] ^= 0xFF
    p.write_bytes(bytes(data))
    with pytest.raises(ModelError, match="changed since the model was loaded"):
        _ = m.pipeline
