"""A tutorial run as a Jupyter notebook shows its figures inline, as image outputs of its cells.

The same steps as the documented command (tutorials/README.md, "As notebooks"): jupytext turns
the percent-format script into a notebook, nbclient executes it in a ``python3`` kernel. The
kernel is ipykernel's own: when no ``python3`` kernel is registered, jupyter_client falls back to
ipykernel's built-in spec, which starts the current interpreter, so a fresh virtual environment
with the ``notebooks`` extra needs no ``ipykernel install``. No network; about 5 s.
"""
import base64
import os
from pathlib import Path

import jupytext
import nbformat
from nbclient import NotebookClient

ROOT = Path(__file__).resolve().parents[1]
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_tutorial_01_as_a_notebook_shows_its_figure_inline_and_saves_it(tmp_path, monkeypatch):
    out = tmp_path / "out"
    monkeypatch.setenv("BGPOISON_FAST", "1")                  # the kernel inherits these
    monkeypatch.setenv("BGPOISON_TUTORIAL_OUT", str(out))
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(os.pathsep) if p]))
    notebook = jupytext.read(ROOT / "tutorials" / "01_derivatives.py")
    assert any(cell.cell_type == "markdown" for cell in notebook.cells)
    NotebookClient(notebook, kernel_name="python3", timeout=120,
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    nbformat.validate(notebook)

    images = [output["data"]["image/png"] for cell in notebook.cells if cell.cell_type == "code"
              for output in cell.get("outputs", []) if "image/png" in output.get("data", {})]
    saved = sorted(out.glob("*.png"))
    assert saved, "the notebook saved no figure"
    assert len(images) == len(saved), f"{len(images)} inline images for {len(saved)} figures"
    for image in images:
        data = base64.b64decode(image)
        assert data.startswith(PNG_SIGNATURE) and len(data) > 1000
    assert {base64.b64decode(image) for image in images} == {p.read_bytes() for p in saved}
