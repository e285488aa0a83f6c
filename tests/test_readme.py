"""The README's code runs as written, and the documents' relative links point to real files.

Every ```python block of README.md runs in order in one namespace (a block may use names from
the blocks before it). Where a ```text block follows a python block directly, it is the output
the README shows, and the block must print exactly that.
"""
import contextlib
import io
import re
import warnings
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
DOCUMENTS = ["README.md", "RESULTS.md", "results/digits/README.md", "results/deep/README.md"]

FENCE = re.compile(r"^```(\w*)\n(.*?)^```\s*$", re.S | re.M)
LINK = re.compile(r"!?\[[^\]]*\]\(([^)\s]+)\)")        # [text](target) and ![alt](target)


def python_blocks(text):
    """[(code, shown output or None)]: each python block and the text block right after it."""
    fences = [(m.group(1), m.group(2), m.start(), m.end()) for m in FENCE.finditer(text)]
    blocks = []
    for i, (lang, body, _, end) in enumerate(fences):
        if lang != "python":
            continue
        shown = None
        if i + 1 < len(fences):
            next_lang, next_body, next_start, _ = fences[i + 1]
            if next_lang == "text" and text[end:next_start].strip() == "":
                shown = next_body
        blocks.append((body, shown))
    return blocks


def test_readme_python_blocks_run_in_order_and_print_what_is_shown():
    blocks = python_blocks(README.read_text(encoding="utf-8"))
    assert len(blocks) >= 3, "the README should show a quickstart, the checker and the attack"
    assert any(shown is not None for _, shown in blocks), "no python block shows its output"
    namespace = {"__name__": "readme"}
    for k, (code, shown) in enumerate(blocks, start=1):
        out = io.StringIO()
        with warnings.catch_warnings():
            # the README uses today's names: a deprecated alias (e.g. r.grad) is an error here
            warnings.simplefilter("error", DeprecationWarning)
            with contextlib.redirect_stdout(out):
                exec(compile(code, f"README.md python block {k}", "exec"), namespace)
        if shown is not None:
            printed = [line.rstrip() for line in out.getvalue().strip().splitlines()]
            expected = [line.rstrip() for line in shown.strip().splitlines()]
            assert printed == expected, f"README python block {k} printed {printed}, " \
                                        f"the README shows {expected}"


def test_readme_keeps_the_two_commands_under_their_markers():
    text = README.read_text(encoding="utf-8")
    for marker in ("<!-- main-command -->", "<!-- test-command -->"):
        after = text.split(marker, 1)
        assert len(after) == 2, f"README.md lost its {marker} marker"
        assert after[1].lstrip("\n").startswith("```bash\n"), \
            f"the line after {marker} must open the ```bash block CI reads"


@pytest.mark.parametrize("document", DOCUMENTS)
def test_relative_links_point_to_files_in_the_repository(document):
    path = ROOT / document
    missing = []
    for target in LINK.findall(path.read_text(encoding="utf-8")):
        if re.match(r"[a-z]+:", target) or target.startswith("#"):   # web addresses, anchors
            continue
        if not (path.parent / target.split("#", 1)[0]).exists():
            missing.append(target)
    assert not missing, f"{document} links to files that do not exist: {missing}"
