"""Write the student handout (exercises, exercise tutorials, grader, README) from the solutions.

    python tutorials/make_exercises.py [OUT_DIR] [--level guided|hard]
                                                     (default: tutorials/course/student/, guided)

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
    tutorials/grade.py, tutorials/course/grader_tests.py  ->  OUT_DIR/   (the self-check)
    a README.md for the students        ->  OUT_DIR/README.md

The solutions are the only copy that is edited by hand; run this script again after any change,
so that the two never drift.
"""
import argparse
import shutil
from pathlib import Path

HERE = Path(__file__).resolve().parent
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
HINT_BEGIN, HINT_END = "### BEGIN HINT", "### END HINT"
STUB = 'raise NotImplementedError("exercise: replace this line with your solution")'
LEVELS = ("guided", "hard")
GRADER = (HERE / "grade.py", HERE / "course" / "grader_tests.py")


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

Three graded tasks take apart the back-gradient poisoning attack (Muñoz-González et al.,
AISec 2017), and two tutorials have a cell for you to write. Everything runs offline.

| task | file | what you write |
|---|---|---|
| `task_grad` | `logistic.py` | `LogisticRegression.backward`: the gradient grad_w L of logistic regression |
| `task_hvp` | `logistic.py` | `LogisticRegression.r_backward`: the Hessian-vector product H_ww v and the requested rows of the mixed product H_xw v = d/dX <grad_w L, v> |
| `task_reverse_loop` | `reverse_loop.py` | `reverse_loop`: the back-gradient's reverse pass over the stored iterates w_0 ... w_T |

Every place to fill in is a line `raise NotImplementedError("exercise: ...")`. Write the
formulas yourself: code that calls the library's models (`bg.LogisticRegression`) or its
`bg.back_gradient` fails the task.
{level_note}
## Set-up

Python 3.10 or later, and the `bgpoison` package with its test tools: your teacher tells you
where to get it; from a copy of its repository, `pip install -e "PATH/TO/REPOSITORY[test]"`
(add `,notebooks` inside the brackets to run the tutorials as notebooks). Work in this folder:
`python` must find `logistic.py` and `reverse_loop.py` next to it.

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

Then run the grader's own tests on this folder, the same ones your teacher runs:

```bash
python grade.py .                        # all tasks: a report, then one line per task
python grade.py . --task task_hvp        # one task
```

A task passes when all its tests pass. A failure names the quantity ("yours" against the
"reference"), the case (n rows, d features, l2) and, where the numbers show it, a hint (a sign,
a missing 1/n, the l2 term). Each test stops after 10 s (`--time-limit`), so an infinite loop
fails its task instead of hanging.

## The exercise tutorials

{tutorials}
Run one as a script, `python 01_derivatives.py --fast` (figures go to `out/`, or to the folder
in `BGPOISON_TUTORIAL_OUT`), or as a notebook, `jupytext --to notebook 01_derivatives.py` and open
the `.ipynb` in Jupyter. A tutorial stops at the cell you have not written yet.
"""

LEVEL_NOTES = {
    "guided": "",
    "hard": "\nAt this level the exercise files state what to compute but not the formulas, and\n"
            "the tutorials neither print the library's code nor state the mixed product:\n"
            "derive everything from the loss (tutorial 01 shows how for the gradient and the\n"
            "Hessian-vector product).\n",
}
TUTORIAL_TASKS = {
    "01_derivatives.py": "the mixed product d/dX <grad_w L, v> by hand (`mixed_by_hand`)",
    "03_back_gradient.py": "one reverse step of the back-gradient by hand (T = 1)",
}


def main(argv=None):
    """Write the handout into the folder given as the first argument; return the paths."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out_dir", nargs="?", type=Path, default=HERE / "course" / "student")
    parser.add_argument("--level", choices=LEVELS, default="guided",
                        help="guided: keep the formulas (hint blocks); hard: remove them")
    args = parser.parse_args(argv)
    out_dir = args.out_dir
    out_dir.mkdir(parents=True, exist_ok=True)
    written, tutorials = [], []
    for path, name in sources():
        target = out_dir / name
        target.write_text(HEADER.format(level=args.level)
                          + strip_solutions(path.read_text(), source=str(path), level=args.level))
        written.append(target)
        if name in TUTORIAL_TASKS:
            tutorials.append(f"* `{name}`: {TUTORIAL_TASKS[name]}.")
    for path in GRADER:
        written.append(Path(shutil.copy(path, out_dir / path.name)))
    readme = out_dir / "README.md"
    readme.write_text(README.format(level=args.level, level_note=LEVEL_NOTES[args.level],
                                    tutorials="\n".join(tutorials) + "\n"))
    written.append(readme)
    for target in written:
        print(f"wrote {target}")
    return written


if __name__ == "__main__":
    main()
