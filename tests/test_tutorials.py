"""Every tutorial (tutorials/NN_*.py) runs in fast mode, exits 0 and saves non-empty PNG figures.

Each runs as a script in a subprocess, as a reader would run it, with its output folder in a
temporary directory so the test leaves nothing behind.
"""
import os
import subprocess
import sys
from pathlib import Path

import pytest

TUTORIALS = sorted((Path(__file__).resolve().parents[1] / "tutorials").glob("[0-9][0-9]_*.py"))
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def test_tutorials_are_found():
    assert len(TUTORIALS) >= 4, TUTORIALS


@pytest.mark.parametrize("script", TUTORIALS, ids=lambda path: path.name)
def test_tutorial_runs_in_fast_mode_and_saves_figures(script, tmp_path):
    out = tmp_path / "out"
    env = {**os.environ, "BGPOISON_FAST": "1", "BGPOISON_TUTORIAL_OUT": str(out),
           "MPLBACKEND": "Agg"}
    run = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=300)
    assert run.returncode == 0, f"{script.name} failed:\n{run.stdout[-2000:]}\n{run.stderr[-4000:]}"
    figures = sorted(out.rglob("*.png"))
    assert figures, f"{script.name} saved no PNG in {out}"
    for figure in figures:
        with open(figure, "rb") as f:
            assert f.read(8) == PNG_SIGNATURE, f"{figure.name} is not a PNG file"
        assert figure.stat().st_size > 1000, f"{figure.name} is (almost) empty"
