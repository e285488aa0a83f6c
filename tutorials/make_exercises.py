"""Write the student versions of the course files and tutorials from their solutions.

    python tutorials/make_exercises.py [OUT_DIR]        (default: tutorials/course/student/)

A solution block is everything between two nbgrader-style marker lines, markers included:

        ### BEGIN SOLUTION
        ...the teacher's code...
        ### END SOLUTION

Each block becomes one line, ``raise NotImplementedError(...)``, indented like its BEGIN marker,
so the student version still imports, and fails loudly where work is missing. Sources:

    tutorials/course/NAME_solution.py   ->  OUT_DIR/NAME.py
    tutorials/NN_topic.py               ->  OUT_DIR/NN_topic.py   (only those with solution blocks)

The solutions are the only copy that is edited by hand; run this script again after any change,
so that the two never drift. ``tests/test_course.py`` grades either directory.
"""
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
BEGIN, END = "### BEGIN SOLUTION", "### END SOLUTION"
STUB = 'raise NotImplementedError("exercise: replace this line with your solution")'


def strip_solutions(text, source="<text>"):
    """``text`` with every solution block replaced by an indented ``raise NotImplementedError``.

    Raises ValueError naming ``source`` and the line of an unmatched or nested marker.
    """
    out, begin_line = [], None
    for number, line in enumerate(text.splitlines(keepends=True), start=1):
        marker = line.strip()
        if marker == BEGIN:
            if begin_line is not None:
                raise ValueError(f"{source}:{number}: {BEGIN} inside the block opened on line "
                                 f"{begin_line}")
            begin_line = number
            indent = line[:len(line) - len(line.lstrip())]
            out.append(f"{indent}{STUB}\n")
        elif marker == END:
            if begin_line is None:
                raise ValueError(f"{source}:{number}: {END} without a {BEGIN} before it")
            begin_line = None
        elif begin_line is None:
            out.append(line)
    if begin_line is not None:
        raise ValueError(f"{source}:{begin_line}: {BEGIN} is never closed by {END}")
    return "".join(out)


def sources():
    """(solution path, student file name) for every file that holds a solution block."""
    pairs = [(path, path.name.replace("_solution.py", ".py"))
             for path in sorted((HERE / "course").glob("*_solution.py"))]
    pairs += [(path, path.name) for path in sorted(HERE.glob("[0-9][0-9]_*.py"))]
    return [(path, name) for path, name in pairs if BEGIN in path.read_text()]


def main(argv=None):
    """Write every student file into the folder given as the first argument; return the paths."""
    argv = sys.argv[1:] if argv is None else argv
    out_dir = Path(argv[0]) if argv else HERE / "course" / "student"
    out_dir.mkdir(parents=True, exist_ok=True)
    written = []
    for path, name in sources():
        header = (f"# Student version of {path.relative_to(HERE.parent)}, written by "
                  f"tutorials/make_exercises.py.\n# Replace every "
                  f"`raise NotImplementedError` with your code.\n")
        target = out_dir / name
        target.write_text(header + strip_solutions(path.read_text(), source=str(path)))
        written.append(target)
        print(f"wrote {target}")
    return written


if __name__ == "__main__":
    main()
