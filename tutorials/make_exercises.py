"""Write the student handout (exercises, exercise tutorials, grader, README) from the solutions.

    python tutorials/make_exercises.py [OUT_DIR] [--level guided|hard] [--wheel]
                                                     (default: tutorials/course/student/, guided)

``--wheel`` also builds the bgpoison wheel (``pip wheel --no-deps`` of the repository) into
OUT_DIR, so that students install the library from it, never from the repository.

Two kinds of marked blocks, each between two marker lines, markers included:

        ### BEGIN SOLUTION                     ### BEGIN HINT
        ...the teacher's code...              ...formulas, or a cell quoting the library...
        ### END SOLUTION                       ### END HINT

A solution block becomes one line, ``raise NotImplementedError(...)``, indented like its BEGIN
marker, so the student version still imports and fails loudly where work is missing. A hint block
is kept (without its marker lines) at level ``guided`` and removed at level ``hard``: the hard
handout has no formulas in the exercise docstrings and does not print the library's source of
the graded functions. Sources:

    tutorials/course/NAME_solution.py   ->  OUT_DIR/NAME.py
    tutorials/NN_topic.py               ->  OUT_DIR/NN_topic.py   (only those with marked blocks)
    tutorials/grade.py, course/grader_tests.py, sandbox.py, grade_child.py -> OUT_DIR/ (self-check)
    a README.md for the students        ->  OUT_DIR/README.md

The solutions are the only copy that is edited by hand; run this script again after any change,
so that the two never drift.
"""
import argparse
import ast
import shutil
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HINT_BEGIN, HINT_END = "### BEGIN HINT", "### END HINT"
STUB = 'raise NotImplementedError("exercise: replace this line with your solution")'
LEVELS = ("guided", "hard")
GRADER = (HERE / "grade.py", HERE / "course" / "grader_tests.py",
          HERE / "course" / "sandbox.py", HERE / "course" / "grade_child.py")
# Functions of a tutorial whose body the handout replaces with the stub (they compute what a
# graded task asks): the rule lives here so that the tutorial itself stays an ordinary script.
EXERCISE_FUNCTIONS = {"01_derivatives.py": ("grad_by_hand", "hvp_by_hand")}


def stub_functions(text, names):
    """``text`` with the body of each top-level ``def NAME`` (NAME in ``names``) replaced by the
    stub, its docstring kept. Raises ValueError naming a function that is not there."""
    lines = text.splitlines(keepends=True)
    found = {}
    for node in ast.parse(text).body:
        if isinstance(node, ast.FunctionDef) and node.name in names:
            body = node.body[1:] if ast.get_docstring(node) is not None else node.body
            if body:
                found[node.name] = (body[0].lineno, node.end_lineno, body[0].col_offset)
    missing = set(names) - set(found)
    if missing:
        raise ValueError(f"no top-level function {sorted(missing)} to turn into an exercise")
    for start, end, indent in sorted(found.values(), reverse=True):
        lines[start - 1:end] = [" " * indent + STUB + "\n"]
    return "".join(lines)


def strip_solutions(text, source="<text>", level="guided"):
    """``text`` with every solution block replaced by an indented ``raise NotImplementedError``,
    and every hint block kept (``guided``) or removed (``hard``), markers dropped.

    Raises ValueError naming ``source`` and the line of an unmatched or nested marker.
    """
    if level not in LEVELS:
        raise ValueError(f"level must be one of {LEVELS}; got {level!r}")
    out, open_block = [], None                   # open_block: (kind, line number)
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker in (BEGIN, HINT_BEGIN):
            if open_block is not None:
                raise ValueError(f"{source}:{number}: {marker} inside the block opened on line "
                                 f"{open_block[1]}")
            open_block = (marker, number)
            if marker == BEGIN:
                indent = line[:len(line) - len(line.lstrip())]
                out.append(f"{indent}{STUB}\n")
        elif marker in (END, HINT_END):
            opener = BEGIN if marker == END else HINT_BEGIN
            if open_block is None or open_block[0] != opener:
                raise ValueError(f"{source}:{number}: {marker} without a {opener} before it")
            open_block = None
        elif open_block is None or (open_block[0] == HINT_BEGIN and level == "guided"):
            out.append(line)
    if open_block is not None:
        kind, number = open_block
        closer = END if kind == BEGIN else HINT_END
        raise ValueError(f"{source}:{number}: {kind} is never closed by {closer}")
    return "".join(out)


def sources():
    """(solution path, student file name) for every file that holds a marked block."""
    pairs = [(path, path.name.replace("_solution.py", ".py"))
             for path in sorted((HERE / "course").glob("*_solution.py"))]
    pairs += [(path, path.name) for path in sorted(HERE.glob("[0-9][0-9]_*.py"))]
    return [(path, name) for path, name in pairs
            if BEGIN in path.read_text() or HINT_BEGIN in path.read_text()]


HEADER = ("# Exercise file of the bgpoison course ({level} level), written by make_exercises.py.\n"
          "# Replace every `raise NotImplementedError` with your code; check it with "
          "`python grade.py .`\n")

README = """# bgpoison course: exercises ({level} level)

Eight graded tasks take apart the back-gradient poisoning attack (Muñoz-González et al.,
AISec 2017), and two tutorials have cells for you to write. Everything runs offline.

| task | file | what you write |
|---|---|---|
{table}

Every place to fill in is a line `raise NotImplementedError("exercise: ...")`. Write the
formulas yourself: while grading, the library's implementation of what a task asks raises, and
a task whose code calls it (under any name) scores 0.
{level_note}
## Set-up

Python 3.10 or later. In this folder, in a fresh virtual environment:

```bash
python -m venv .venv && . .venv/bin/activate       # Windows: .venv\\Scripts\\activate
pip install {wheel}
pip install jupytext jupyterlab       # only to open the tutorials as notebooks
```

`python` must find the exercise files next to it: work in this folder.

## Check your code yourself

The library's finite-difference checker compares your derivatives with central differences
of the loss. Once `backward` and `r_backward` are written:

```python
import numpy as np
from bgpoison import gradcheck
from logistic import LogisticRegression

rng = np.random.default_rng(0)
model = LogisticRegression(n_features=3, l2=0.1)
X, y = rng.standard_normal((6, 3)), rng.integers(0, 2, 6)
w = rng.standard_normal(model.n_params)
gradcheck.check_model(model, w, X, y, rng=rng)    # raises AssertionError naming what is wrong
```

Then run the grader's own tests on this folder, the same ones your teacher runs (your teacher
may add tests of their own):

```bash
python grade.py .                        # all tasks: a report, then one line per task
python grade.py . --task task_hvp        # one task
```

Each test gives partial credit. A failure names the quantity ("yours" against the "reference"),
the case (n rows, d features, l2) and, where the numbers show it, a hint (a sign, a missing
1/n, the l2 term). Each test stops after 10 s (`--time-limit`), so an infinite loop fails one
test instead of hanging.

## The exercise tutorials

{tutorials}
Run one as a script, `python 01_derivatives.py --fast` (figures go to `out/`, or to the folder
in `BGPOISON_TUTORIAL_OUT`). To open one as a notebook: `jupytext --to notebook
01_derivatives.py`, then `jupyter lab 01_derivatives.ipynb`. A tutorial stops at the cell you
have not written yet.
"""

LEVEL_NOTES = {
    "guided": "",
    "hard": "\nAt this level the exercise files state what to compute but not the formulas, and\n"
            "the tutorials neither print the library's code nor state the mixed product:\n"
            "derive everything from the loss (tutorial 01 shows how for the gradient and the\n"
            "Hessian-vector product).\n",
}
TUTORIAL_TASKS = {
    "01_derivatives.py": "the gradient, the Hessian-vector product and the mixed product "
                         "d/dX <grad_w L, v> by hand (`grad_by_hand`, `hvp_by_hand`, "
                         "`mixed_by_hand`)",
    "03_back_gradient.py": "one reverse step of the back-gradient by hand (T = 1)",
}


def task_table():
    """One README row per task, read from the grader's task list (never written twice)."""
    sys.path.insert(0, str(HERE / "course"))
    try:
        import grader_tests
    finally:
        sys.path.pop(0)
    return "\n".join(f"| `{task.name}` | `{task.modules[0]}.py` | {task.title} |"
                     for task in grader_tests.tasks())


def main(argv=None):
    """Write the handout into the folder given as the first argument; return the paths."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=HERE / "course" / "student")
    parser.add_argument("--level", choices=LEVELS, default="guided",
                        help="guided: keep the formulas (hint blocks); hard: remove them")
    parser.add_argument("--wheel", action="store_true",
                        help="also build the bgpoison wheel into OUT_DIR (pip wheel --no-deps)")
    args = parser.parse_args(argv)
    out_dir = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    written, tutorials = [], []
    for path, name in sources():
        target = out_dir / name
        text = strip_solutions(path.read_text(), source=str(path), level=args.level)
        if name in EXERCISE_FUNCTIONS:
            text = stub_functions(text, EXERCISE_FUNCTIONS[name])
        target.write_text(HEADER.format(level=args.level) + text)
        written.append(target)
        if name in TUTORIAL_TASKS:
            tutorials.append(f"* `{name}`: {TUTORIAL_TASKS[name]}.")
    for path in GRADER:
        written.append(Path(shutil.copy(path, out_dir / path.name)))
    if args.wheel:
        for old in out_dir.glob("bgpoison-*.whl"):
            old.unlink()
        subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet",
                        "--wheel-dir", str(out_dir), str(HERE.parent)], check=True)
        written += sorted(out_dir.glob("bgpoison-*.whl"))
    readme = out_dir / "README.md"
    wheels = sorted(out_dir.glob("bgpoison-*.whl"))
    readme.write_text(README.format(
        level=args.level, level_note=LEVEL_NOTES[args.level], table=task_table(),
        wheel=wheels[-1].name if wheels else "bgpoison-VERSION-py3-none-any.whl  "
                                              "# the wheel your teacher gives you",
        tutorials="\n".join(tutorials) + "\n"))
    written.append(readme)
    for target in written:
        print(f"wrote {target}")
    return written


if __name__ == "__main__":
    main()
