"""The review notebook runs top to bottom against a copy of ``build_review_db``'s database (``review_copy``),
and its decision is a human label the next `litmine classify` trains on. Its outputs are stripped in git,
and it stays thin."""

from __future__ import annotations

import json
import re
import sys
from pathlib import Path

import nbformat
import pytest

pytestmark = pytest.mark.slow

NOTEBOOK = Path(__file__).resolve().parents[1] / "notebooks" / "review_disagreements.ipynb"
KERNEL = "litmine-test"


@pytest.fixture(scope="module")
def kernel(tmp_path_factory) -> str:
    """A kernelspec for this very interpreter (the venv's python), installed under a temporary prefix."""
    from ipykernel.kernelspec import install

    prefix = tmp_path_factory.mktemp("kernel")
    install(kernel_name=KERNEL, display_name="litmine test", prefix=str(prefix))
    spec = json.loads((prefix / "share" / "jupyter" / "kernels" / KERNEL / "kernel.json").read_text())
    assert spec["argv"][0] == sys.executable
    return str(prefix / "share" / "jupyter")


def _run(nb, tmp_path, monkeypatch, jupyter_path):
    from nbclient import NotebookClient

    monkeypatch.setenv("JUPYTER_PATH", jupyter_path)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    client = NotebookClient(nb, kernel_name=KERNEL, timeout=300, resources={"metadata": {"path": str(tmp_path)}})
    client.execute()
    return nb


def _set_parameters(nb, **values):
    cell = next(c for c in nb.cells if "parameters" in c.metadata.get("tags", []))
    for name, value in values.items():
        cell.source, n = re.subn(rf"^{name} = .*$", f"{name} = {value!r}", cell.source, flags=re.M)
        assert n == 1, f"no parameter {name} in the notebook"


def _text(cell) -> str:
    return "".join(o.get("text", "") for o in cell.outputs if o.output_type == "stream")


def test_notebook_executes_and_records_a_decision_the_next_classify_uses(review_copy, store, settings, tmp_path,
                                                                        monkeypatch, kernel):
    from litmine.review import decisions as review

    top = review.list_disagreements(settings, label_set="subsection")[0]
    nb = nbformat.read(NOTEBOOK, as_version=4)
    _set_parameters(nb, DECISION="accept", NOTE="checked in CI")
    _run(nb, tmp_path, monkeypatch, kernel)

    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(o.output_type != "error" for c in code for o in c.outputs)
    listing = _text(code[2])
    assert listing.startswith(f"0 {top}")
    evidence_html = code[3].outputs[0]["data"]["text/html"]
    assert top.title.split(":")[0] in evidence_html and "Nearest labelled works" in evidence_html
    recorded = _text(code[4]).splitlines()
    assert recorded[0] == f"accept subsection {top.label_id} for work {top.work_id}: recorded as a human label"
    assert recorded[-1] == "0 decisions wait for the next run"
    images = [o for c in code[5:] for o in c.outputs if "image/png" in o.get("data", {})]
    assert len(images) == 4  # distribution by year, per-method agreement, confusion matrix, learning curve

    # The decision is a human label, and the classifiers' training examples now carry it.
    from litmine.classify import load_examples

    examples = {ex.item.work_id: ex for ex in load_examples(store, None)}
    assert top.label_id in examples[top.work_id].positives["subsection"]
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT source, assigned, rationale FROM latest_labels WHERE work_id = ? AND label_set = "
                           "'subsection' AND label_id = ? AND source = 'human'", [top.work_id, top.label_id]
                           ).fetchall() == [("human", True, "checked in CI")]


def test_notebook_with_no_decision_records_nothing(review_copy, store, settings, tmp_path, monkeypatch, kernel):
    nb = _run(nbformat.read(NOTEBOOK, as_version=4), tmp_path, monkeypatch, kernel)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert _text(code[4]).splitlines()[0] == "no decision recorded (DECISION is None)"
    with store.connect(read_only=True) as con:
        assert con.execute("SELECT count(*) FROM label_assignments WHERE source = 'human'").fetchone()[0] == 0


QUEUE_NOTEBOOK = NOTEBOOK.with_name("review_queue.ipynb")


def test_queue_notebook_displays_the_queue_widget(review_copy, store, settings, tmp_path, monkeypatch, kernel):
    """Run without a browser, the queue notebook displays the widget for the top disagreement."""
    from litmine.review import decisions as review

    top = review.list_disagreements(settings, label_set="subsection")[0]
    nb = _run(nbformat.read(QUEUE_NOTEBOOK, as_version=4), tmp_path, monkeypatch, kernel)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert all(o.output_type != "error" for c in code for o in c.outputs)
    views = [o for o in code[-1].outputs if "application/vnd.jupyter.widget-view+json" in o.get("data", {})]
    assert len(views) == 1
    # nbclient keeps the widgets' state: the card shows the top disagreement.
    state = json.dumps(nb.metadata.get("widgets", {}))
    assert json.dumps(top.title)[1:-1] in state


@pytest.mark.parametrize("path", [NOTEBOOK, QUEUE_NOTEBOOK], ids=lambda p: p.name)
def test_notebook_in_git_is_stripped_and_thin(path):
    nb = nbformat.read(path, as_version=4)
    nbformat.validate(nb)
    for cell in nb.cells:
        if cell.cell_type == "code":
            assert cell.outputs == [] and cell.execution_count is None
            # No SQL and no model code in cells: only calls of litmine's library.
            assert not re.search(r"\b(select|insert|update|duckdb|sklearn|torch|sentence_transformers)\b",
                                 cell.source, flags=re.I), cell.source
