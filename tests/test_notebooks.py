"""The notebooks in notebooks/ run top to bottom (cwd notebooks/, kernel python3) and produce their key outputs.

They only orchestrate ``reviewnlp`` calls, so a failure here usually means a library API they use changed.
Notebook 02 runs with its default ``FAST = True`` (small vocabularies, no weak data).
"""
from __future__ import annotations

from pathlib import Path

import pytest

nbformat = pytest.importorskip("nbformat")
nbclient = pytest.importorskip("nbclient")
pytest.importorskip("ipykernel")
pytest.importorskip("matplotlib")

ROOT = Path(__file__).resolve().parents[1]
NOTEBOOKS = ROOT / "notebooks"
CELL_TIMEOUT = 600

pytestmark = pytest.mark.slow


def _execute(name: str):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    client = nbclient.NotebookClient(nb, timeout=CELL_TIMEOUT, kernel_name="python3",
                                     resources={"metadata": {"path": str(NOTEBOOKS)}})
    try:
        client.execute()
    except nbclient.exceptions.CellExecutionError as exc:  # keep the traceback readable in pytest's report
        pytest.fail(f"{name}: a cell failed:\n{exc}", pytrace=False)
    return nb


def _outputs(nb):
    return [o for c in nb.cells if c.cell_type == "code" for o in c.get("outputs", [])]


def _text(nb) -> str:
    parts = []
    for o in _outputs(nb):
        if o.output_type == "stream":
            parts.append(o.text)
        for mime in ("text/plain", "text/markdown"):
            if mime in o.get("data", {}):
                parts.append(o["data"][mime])
    return "\n".join(parts)


def _images(nb) -> int:
    return sum("image/png" in o.get("data", {}) for o in _outputs(nb))


def _assert_clean(nb, name):
    errors = [o for o in _outputs(nb) if o.output_type == "error"]
    assert not errors, f"{name}: {[(e.ename, e.evalue) for e in errors]}"


@pytest.mark.parametrize("name", ["01_explore.ipynb", "02_train_evaluate.ipynb", "03_error_analysis.ipynb"])
def test_committed_notebook_has_no_outputs(name):
    nb = nbformat.read(NOTEBOOKS / name, as_version=4)
    nbformat.validate(nb)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert code and all(not c.outputs and c.execution_count is None for c in code), f"{name}: clear outputs"


def test_train_notebook_defaults_to_fast():
    nb = nbformat.read(NOTEBOOKS / "02_train_evaluate.ipynb", as_version=4)
    params = [c for c in nb.cells if "parameters" in c.metadata.get("tags", [])]
    assert len(params) == 1 and "FAST = True" in params[0].source


def test_01_explore():
    nb = _execute("01_explore.ipynb")
    _assert_clean(nb, "01")
    text = _text(nb)
    assert "gold rows" in text
    for label in ("product_quality", "critical", "privacy"):
        assert label in text
    assert "->" in text  # segmentation examples
    assert _images(nb) >= 2  # severity-by-source and text-length histogram


def test_02_train_evaluate():
    nb = _execute("02_train_evaluate.ipynb")
    _assert_clean(nb, "02")
    text = _text(nb)
    assert "trained in" in text
    markdown = [o["data"]["text/markdown"] for o in _outputs(nb) if "text/markdown" in o.get("data", {})]
    assert len(markdown) >= 2  # evaluation_markdown of dev and test
    assert all("| complaint F1 |" in m for m in markdown)
    assert "same probabilities on test: True" in text
    assert "notebook - shipped" in text


def test_03_error_analysis():
    nb = _execute("03_error_analysis.ipynb")
    _assert_clean(nb, "03")
    text = _text(nb)
    assert _images(nb) >= 4  # confusion + reliability, on dev and on test
    for needle in ("cause:logistics", "flag:fraud", "FP", "FN", "brier", "gold escalations"):
        assert needle in text, needle
    assert text.count("gold escalations") >= 2  # escalation by language on dev, then the final test figures
