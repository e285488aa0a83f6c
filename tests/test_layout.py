"""The package's shape, as STYLE.md asks for it: no import cycle (imports inside functions
count), nothing in the algorithm imports the experiment machinery, no module over 250 lines."""
import ast
from pathlib import Path

import bgpoison

ROOT = Path(bgpoison.__file__).parent


def _modules():
    """{module name: path} for every module of the package."""
    out = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT.parent).with_suffix("").parts
        out[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return out


def _imports(name, path, modules):
    """The package's modules that module ``name`` imports, anywhere in its body."""
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = package
            for _ in range(node.level - 1):
                base = base.rpartition(".")[0]
            stem = node.module if node.level == 0 else ".".join(filter(None, [base, node.module]))
            targets = [stem] + [f"{stem}.{alias.name}" for alias in node.names]
        else:
            continue
        found.update(t for t in targets if t in modules and t != name)
    return found


def _graph():
    modules = _modules()
    return {name: _imports(name, path, modules) for name, path in modules.items()}


def _is_package_init(name):
    return (ROOT.parent / name.replace(".", "/") / "__init__.py").is_file()


def test_no_module_imports_itself_through_others():
    # a package's __init__ importing its own modules is not a cycle: skip edges into inits
    graph = {name: {t for t in targets if not _is_package_init(t)}
             for name, targets in _graph().items()}
    state, cycles = {}, []

    def visit(name, stack):
        state[name] = "open"
        for target in sorted(graph[name]):
            if state.get(target) == "open":
                cycles.append(stack[stack.index(target):] + [target])
            elif target not in state:
                visit(target, stack + [target])
        state[name] = "done"

    for name in sorted(graph):
        if name not in state:
            visit(name, [name])
    assert not cycles, f"import cycles: {cycles}"


def test_the_algorithm_never_imports_the_experiment_machinery():
    graph = _graph()
    core = [name for name in graph if not name.startswith("bgpoison.experiments")
            and name != "bgpoison.__main__"]                 # ``python -m bgpoison``: the command
    offending = {name: sorted(t for t in graph[name] if t.startswith("bgpoison.experiments"))
                 for name in core}
    assert not any(offending.values()), offending


def test_no_module_is_over_250_lines():
    long = {str(path.relative_to(ROOT.parent)): n for path in ROOT.rglob("*.py")
            if (n := len(path.read_text().splitlines())) > 250}
    assert not long, long


def test_the_cycle_check_sees_imports_inside_functions(tmp_path):
    # the checker itself: an import inside a function is found (what the old cycles hid in)
    path = tmp_path / "m.py"
    path.write_text("def f():\n    from .checks import DivergenceError\n")
    assert _imports("bgpoison.m", path, {"bgpoison.checks": None}) == {"bgpoison.checks"}
