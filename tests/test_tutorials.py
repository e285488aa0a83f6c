"""Every tutorial (tutorials/NN_*.py) runs in fast mode, exits 0 and saves non-empty PNG figures,
each through its ``show`` (which also displays it when the tutorial runs as a notebook).

Each runs as a script in a subprocess, as a reader would run it, with its output folder in a
temporary directory so the test leaves nothing behind.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TUTORIALS = sorted((ROOT / "tutorials").glob("[0-9][0-9]_*.py"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_tutorials_are_found():
    assert len(TUTORIALS) >= 4, TUTORIALS


@pytest.mark.parametrize("script", TUTORIALS, ids=lambda path: path.name)
def test_tutorial_runs_in_fast_mode_and_saves_figures(script, tmp_path):
    out = tmp_path / "out"
    path = os.pathsep.join([str(ROOT)] + [p for p in os.environ.get("PYTHONPATH", "").split(
        os.pathsep) if p])
    env = {**os.environ, "BGPOISON_FAST": "1", "BGPOISON_TUTORIAL_OUT": str(out),
           "MPLBACKEND": "Agg", "PYTHONPATH": path}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"{script.name} failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    figures = sorted(out.rglob("*.png"))
    assert figures, f"{script.name} saved no PNG in {out}"
    for figure in figures:
        with open(figure, "rb") as f:
            assert f.read(8) == PNG_SIGNATURE, f"{figure.name} is not a PNG file"
        assert figure.stat().st_size > 1000, f"{figure.name} is (almost) empty"
    shown = {line[len("saved "):].strip() for line in run.stdout.splitlines()
             if line.startswith("saved ")}
    assert shown == {str(figure) for figure in figures}, "a figure is saved without show()"


@pytest.mark.parametrize("script", TUTORIALS, ids=lambda path: path.name)
def test_headings_are_markdown_cells_not_comments_in_code(script):
    """A ``# ## Heading`` inside a code cell shows as a comment in a notebook, not a heading."""
    in_markdown, misplaced = False, []
    for number, line in enumerate(script.read_text().splitlines(), start=1):
        if line.startswith("# %%"):
            in_markdown = "[markdown]" in line
        elif not in_markdown and line.startswith("# #"):
            misplaced.append(number)
    assert not misplaced, f"{script.name}: headings in code cells on lines {misplaced}"
