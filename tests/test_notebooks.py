"""Every notebook in notebooks/ runs top to bottom (its own cells assert results), and reads well as committed."""

import importlib.util
import pathlib

import nbformat
import pytest
from nbclient import NotebookClient

ROOT = pathlib.Path(__file__).parents[1]
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))
_spec = importlib.util.spec_from_file_location("notebooks_build", ROOT / "notebooks" / "build.py")
build = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(build)


def test_there_are_notebooks():
    assert [p.name for p in NOTEBOOKS] == [
        "quickstart.ipynb", "range_test_and_adaptive.ipynb", "tuning.ipynb", "your_own_data.ipynb"]


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_opens_with_its_colab_badge_and_install_cell_and_is_committed_run(path):
    notebook = nbformat.read(path, as_version=4)
    url = build.repository_url()
    assert notebook.cells[0].source == build.badge_cell(url, path.name).source
    assert notebook.cells[1].source == build.install_cell(url).source
    code = [cell for cell in notebook.cells if cell.cell_type == "code"][1:]  # past the install cell
    assert all(cell.execution_count for cell in code), "run `make notebooks` and commit the outputs"
    assert any("image/png" in output.get("data", {}) for cell in code for output in cell.outputs)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_runs(path, tmp_path):
    notebook = nbformat.read(path, as_version=4)
    NotebookClient(notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(tmp_path)}}).execute()
    errors = [o for cell in notebook.cells for o in cell.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors


def test_the_readmes_figures_come_from_the_notebooks():
    readme = (ROOT / "README.md").read_text()
    for name in ("range_test.png", "schedules.png"):
        assert (ROOT / "docs" / name).stat().st_size > 5000 and f"(docs/{name})" in readme
