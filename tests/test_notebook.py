"""examples/notebook.ipynb executes headless (nbclient, a real Jupyter kernel) and shows what a
researcher came for: the verdicts as HTML, the DataFrame of per-class drops with class 7's, a
plot, and the spec's figures inline."""

import os
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOK = ROOT / "examples" / "notebook.ipynb"


def test_the_example_notebook_runs_and_shows_class_7s_drop(tmp_path, monkeypatch):
    import importlib.util

    nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat, nbclient and ipykernel")
    nbclient = pytest.importorskip("nbclient")
    if importlib.util.find_spec("ipykernel") is None:      # (not imported here: it is the kernel's)
        pytest.skip("the notebook test needs ipykernel")
    monkeypatch.setenv("ABL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MPLBACKEND", raising=False)     # CI sets Agg; the kernel draws inline
    notebook = nbformat.read(NOTEBOOK, as_version=4)
    client = nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                                     resources={"metadata": {"path": str(ROOT / "examples")}})
    client.execute()
    outputs = [cell.get("outputs", []) for cell in notebook.cells if cell.cell_type == "code"]
    assert not [o for cell in outputs for o in cell if o.output_type == "error"]

    def html_of(index):
        return "".join(o.get("data", {}).get("text/html", "") for o in outputs[index])

    def text_of(index):
        return "".join(o.get("text", "") + o.get("data", {}).get("text/plain", "") for o in outputs[index])

    assert "digit-7 units - " in text_of(0)
    assert "(540, 1, 8, 8) test images" in text_of(1)
    verdicts = html_of(2)
    assert "<table" in verdicts and "accuracy[class 7] on test drops by at least 3% ablating hot7" in verdicts
    drops = html_of(3)
    assert "drop ablating hot7" in drops and "drop ablating rand5" in drops and "<th>7</th>" in drops
    seven = text_of(4)
    assert "drop ablating hot7" in seven and "Name: 7" in seven
    assert any("image/png" in o.get("data", {}) for o in outputs[5])            # our own plot
    figures = sum("image/png" in o.get("data", {}) for o in outputs[6])
    assert figures >= 2 and ".png" in text_of(6)
    assert os.path.isdir(tmp_path / "cache" / "models")


SMALL_SPEC = '''experiment "bars"
seed 0
stimuli train = digits split train
stimuli test = digits split test
model net = train mlp [64, 16, 10] on train epochs 1
measure accuracy per class on test
report bars accuracy per class
'''


def test_abl_leaves_the_notebooks_matplotlib_backend_alone(tmp_path, monkeypatch):
    """Importing abl's figures once switched pyplot to Agg when pyplot was not yet imported, so a
    researcher's own `plt` figure after `show_figures()` never arrived; abl draws on its own Agg
    canvas and leaves the backend to the notebook."""
    import importlib.util

    nbformat = pytest.importorskip("nbformat", reason="the notebook test needs nbformat, nbclient and ipykernel")
    nbclient = pytest.importorskip("nbclient")
    if importlib.util.find_spec("ipykernel") is None:
        pytest.skip("the notebook test needs ipykernel")
    monkeypatch.setenv("ABL_CACHE_DIR", str(tmp_path / "cache"))
    monkeypatch.delenv("MPLBACKEND", raising=False)     # the kernel's own default: inline
    cells = [f"from abl.interpreter.api import Experiment\n"
             f"result = Experiment.from_text({SMALL_SPEC!r}).run()\n"
             f"written = result.show_figures({str(tmp_path / 'figures')!r})",
             "import matplotlib, matplotlib.pyplot as plt\n"
             "print(matplotlib.get_backend())\n"
             "plt.plot([0, 1], [1, 0])\nplt.show()"]
    notebook = nbformat.v4.new_notebook(cells=[nbformat.v4.new_code_cell(c) for c in cells])
    nbclient.NotebookClient(notebook, timeout=300, kernel_name="python3",
                            resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [cell.get("outputs", []) for cell in notebook.cells]
    assert not [o for cell in outputs for o in cell if o.output_type == "error"], outputs
    assert any("image/png" in o.get("data", {}) for o in outputs[0])        # abl's bars
    said = "".join(o.get("text", "") for o in outputs[1])
    assert "agg" != said.strip().lower(), said
    assert any("image/png" in o.get("data", {}) for o in outputs[1]), outputs[1]   # the user's plot
