from pathlib import Path

import nbformat
import pytest
from nbclient import NotebookClient

NOTEBOOKS = sorted((Path(__file__).resolve().parent.parent / "notebooks").glob("*.ipynb"))


def test_notebooks_are_committed_without_outputs():
    """Notebooks are stored clean: no outputs or execution counts in git."""
    assert [p.name for p in NOTEBOOKS] == [
        "01_quickstart.ipynb",
        "02_sweeps.ipynb",
        "03_tradeoffs.ipynb",
        "04_explore.ipynb",
        "05_inference_fleet.ipynb",
    ]
    for path in NOTEBOOKS:
        book = nbformat.read(path, as_version=4)
        for cell in book.cells:
            if cell.cell_type == "code":
                assert cell.outputs == [] and cell.execution_count is None, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.stem)
def test_notebook_runs_small(path, tmp_path, monkeypatch):
    """Each notebook executes top to bottom with small parameters, without an error, and shows figures."""
    monkeypatch.setenv("CONSIM_NB_SMALL", "1")
    monkeypatch.setenv("CONSIM_NB_OUT", str(tmp_path))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    book = nbformat.read(path, as_version=4)
    NotebookClient(book, kernel_name="python3", timeout=300, resources={"metadata": {"path": str(path.parent)}}).execute()
    outputs = [out for cell in book.cells if cell.cell_type == "code" for out in cell.outputs]
    assert not [out for out in outputs if out.output_type == "error"]
    assert any("image/png" in out.get("data", {}) for out in outputs), "no figure was drawn"
    assert any(tmp_path.iterdir()), "the notebook wrote nothing to CONSIM_NB_OUT"
