"""The grader's child process: run one task's calls on one submission, return the raw numbers.

Started by ``grade.py`` (never by hand) as

    python -S -I grade_child.py REQUEST.json ANSWER_FD

The request holds only *inputs*: which student function to call with which arguments. The
child answers each call with the numbers the student's code returned (or the error it raised),
one JSON line per call, on file descriptor ANSWER_FD. The tests, the reference values and the
grade stay in the parent: nothing printed, written or patched here can change a grade.

Before the student's code is imported, the child

* (Linux, started by root through ``unshare``) covers the teacher's folders, the other students'
  folders and the other scratch folders with empty tmpfs mounts, then drops to an unprivileged
  user;
* sets resource limits (CPU time, address space, file size, processes);
* replaces every library function that the task forbids, wherever it is referenced (its code
  object is swapped, so aliases and class attributes that hold it raise too), and refuses to
  import the library modules the task forbids;
* installs an audit hook that refuses new processes, signals to other processes, network
  connections, loading C libraries, reading the hidden folders and the library's source, and
  writing or deleting outside the scratch folder.
"""
import ctypes
import json
import os
import resource
import sys
import traceback


def _mount(source, target, fstype, flags, data=None):
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.mount(*(None if s is None else s.encode() for s in (source, target, fstype)),
                  ctypes.c_ulong(flags), None if data is None else data.encode()) != 0:
        errno = ctypes.get_errno()
        raise OSError(errno, f"mount {target}: {os.strerror(errno)}")


MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = \
    1, 2, 4, 32, 4096, 16384, 1 << 18


def hide_folders(request):
    """In a private mount namespace: an empty tmpfs over every hidden folder, then the box
    (scratch copy and library copy, opened before they were covered) bound back in place."""
    _mount(None, "/", None, MS_REC | MS_PRIVATE)
    keep = {path: os.open(path, os.O_RDONLY) for path in request["keep"]}
    for path in request["hide"] + request["cover"]:
        if os.path.isdir(path):
            _mount("tmpfs", path, "tmpfs", MS_NOSUID | MS_NODEV, "size=64k,mode=755")
    for path, fd in keep.items():
        os.makedirs(path, exist_ok=True)
        _mount(f"/proc/self/fd/{fd}", path, None, MS_BIND)
        os.close(fd)
    lib = request["lib"]
    _mount(None, lib, None, MS_BIND | MS_REMOUNT | MS_RDONLY)


def limit(request):
    """CPU time, address space, file size, core files; as nobody also no new processes. A limit
    this system does not support (e.g. RLIMIT_AS on macOS) is skipped."""
    cpu, memory, fsize = request["cpu_seconds"], request["memory_bytes"], request["file_bytes"]
    wanted = [(resource.RLIMIT_FSIZE, (fsize, fsize)), (resource.RLIMIT_CORE, (0, 0))]
    if cpu is not None:                                 # None: --student-limit 0, no limit
        wanted.append((resource.RLIMIT_CPU, (cpu, cpu + 1)))
    if memory:
        wanted.append((resource.RLIMIT_AS, (memory, memory)))
    for which, value in wanted:
        try:
            resource.setrlimit(which, value)
        except (ValueError, OSError):
            pass
    if request["uid"] is not None:                      # as nobody: no new processes at all
        resource.setrlimit(resource.RLIMIT_NPROC, (0, 0))
        os.setgroups([])
        os.setgid(request["gid"])
        os.setuid(request["uid"])


# ---- the library, with what the task forbids made unavailable -----------------------------------

FORBIDDEN_CALLS = []                         # what the submission tried to call (messages)


def _stub_code(function, message):
    """A code object with ``function``'s free variables whose body raises PermissionError."""
    free = function.__code__.co_freevars
    source = ("def outer():\n" + "".join(f"    {name} = None\n" for name in free)
              + "    def stub(*args, **kwargs):\n"
              + (f"        ({', '.join(free)},)\n" if free else "")
              + f"        _note({message!r})\n"
              + f"        raise PermissionError({message!r})\n    return stub\n")
    scope = {}
    exec(compile(source, "<forbidden>", "exec"), scope)
    return scope["outer"]().__code__


def _functions(owner, prefix):
    """(qualified name, function) of the functions defined in a module or class, recursively
    through classes (methods, static and class methods, property accessors)."""
    for name, value in list(vars(owner).items()):
        qual = f"{prefix}.{name}"
        if isinstance(value, (staticmethod, classmethod)):
            value = value.__func__
        if isinstance(value, property):
            for accessor in (value.fget, value.fset, value.fdel):
                if accessor is not None:
                    yield qual, accessor
        elif isinstance(value, type) and value.__module__ == getattr(owner, "__name__",
                                                                     value.__module__):
            yield from _functions(value, qual)
        elif type(value).__name__ == "function":
            yield qual, value


def _allowed(module_name, allowed):
    return any(module_name == a or module_name.startswith(a + ".") for a in allowed)


class _Refuse:
    """Meta path finder: importing a forbidden bgpoison module, or a solution file, fails."""

    def __init__(self, allowed, task):
        self.allowed, self.task = allowed, task

    def find_spec(self, name, path=None, target=None):
        if name.endswith("_solution") or ".course" in name:
            raise ImportError("the teacher's solution files are not available")
        if name.startswith("bgpoison.") and not _allowed(name, self.allowed):
            FORBIDDEN_CALLS.append(f"import {name}")
            raise ImportError(f"{self.task} forbids the library's {name}: your code must "
                              f"compute the result itself")
        return None


def block_library(task, allowed):
    """Every function of every loaded bgpoison module outside ``allowed`` raises from now on."""
    import bgpoison  # noqa: F401  (loads the package's core modules)
    seen = set()
    for module_name, module in sorted(sys.modules.items()):
        if not module_name.startswith("bgpoison") or module is None:
            continue
        if module_name == "bgpoison" or _allowed(module_name, allowed):
            continue
        module.__dict__["_note"] = FORBIDDEN_CALLS.append
        for qual, function in _functions(module, module_name):
            if function.__module__ != module_name or id(function) in seen:
                continue
            seen.add(id(function))
            function.__globals__["_note"] = FORBIDDEN_CALLS.append
            function.__code__ = _stub_code(
                function, f"{task} forbids the library's {qual}: your code must compute the "
                          f"result itself")
    sys.meta_path.insert(0, _Refuse(allowed, task))


# ---- the audit hook --------------------------------------------------------------------------

def audit(request):
    work = os.path.realpath(request["work"])
    hidden = [os.path.realpath(p) for p in request["hide"] + [request["lib"]]]

    def inside(path, folder):
        return path == folder or path.startswith(folder + os.sep)

    def resolve(path):
        if isinstance(path, int):
            return None
        try:
            return os.path.realpath(os.fsdecode(path))
        except (TypeError, ValueError):
            return None

    refused_events = ("os.fork", "os.forkpty", "os.system", "os.exec", "os.posix_spawn",
                      "os.spawn", "subprocess.Popen", "os.kill", "os.killpg", "pty.spawn",
                      "socket.connect", "socket.bind", "socket.sendto", "ctypes.dlopen",
                      "ctypes.dlsym", "ctypes.cdata", "os.setuid", "sys.addaudithook")
    changing = ("os.remove", "os.rmdir", "os.rename", "os.replace", "os.mkdir", "os.chmod",
                "os.chown", "os.symlink", "os.link", "os.truncate", "os.utime",
                "shutil.rmtree", "shutil.move", "shutil.copyfile")

    def hook(event, args):
        if event in refused_events:
            raise PermissionError(f"the grader does not allow {event} in a submission")
        if event == "open" and args:
            path = resolve(args[0])
            if path is None:
                return
            mode, flags = (args[1] or "r"), (args[2] if len(args) > 2 else 0) or 0
            writing = any(c in str(mode) for c in "wax+") or flags & (os.O_WRONLY | os.O_RDWR
                                                                    | os.O_CREAT)
            if any(inside(path, h) for h in hidden) and not inside(path, work):
                raise PermissionError(f"the grader does not let a submission read "
                                      f"{os.path.basename(path)} (outside its folder)")
            if writing and not (inside(path, work) or path == os.devnull):
                raise PermissionError(f"a submission may write only in its own folder, "
                                      f"not to {os.path.basename(path)}")
        elif event in changing and args:
            for path in map(resolve, args[:2]):
                if path is not None and not inside(path, work):
                    raise PermissionError(f"a submission may change files only in its own "
                                          f"folder, not {os.path.basename(path)}")
    sys.addaudithook(hook)


# ---- decoding the inputs, calling the student's code, encoding the outputs -------------------

def decode(value, env):
    """JSON -> Python: arrays, slices, library objects and the student's objects by name."""
    import numpy as np
    if isinstance(value, list):
        return [decode(v, env) for v in value]
    if not isinstance(value, dict):
        return value
    kind = value.get("$")
    if kind is None:
        return {k: decode(v, env) for k, v in value.items()}
    if kind == "array":
        return np.array(value["data"], dtype=value["dtype"]).reshape(value["shape"])
    if kind == "slice":
        return slice(*value["args"])
    if kind == "float":
        return float(value["repr"])
    if kind == "library":                          # e.g. bg.LogisticRegression(3, l2=0.1)
        return env["library"][value["id"]]
    if kind == "student":                          # the student's class, built like the library's
        cls = getattr(env["modules"].get(value["module"]), value["name"])
        return cls(*decode(value.get("args", []), env), **decode(value.get("kwargs", {}), env))
    if kind == "call":                             # a method of a decoded object
        owner = decode(value["of"], env)
        return getattr(owner, value["name"])(*decode(value["args"], env))
    raise ValueError(f"unknown input kind {kind!r}")


def encode(value):
    import numpy as np
    if isinstance(value, (tuple, list)):
        return [encode(v) for v in value]
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    if isinstance(value, (int, float, np.integer, np.floating)):
        return {"$": "float", "repr": repr(float(value))}
    array = np.asarray(value)
    if array.dtype == object:
        return {"$": "object", "repr": repr(value)[:200]}
    array = array.astype(float)
    return {"$": "array", "shape": list(array.shape), "dtype": "float64",
            "data": [repr(float(x)) for x in array.ravel()]}


def where(error, work):
    """The lines of the submission's own files that the error passed through."""
    lines = []
    for frame in traceback.extract_tb(error.__traceback__):
        if not frame.filename.startswith("<") and \
                os.path.dirname(os.path.realpath(frame.filename)) == os.path.realpath(work):
            lines.append(f"{os.path.basename(frame.filename)}:{frame.lineno} in {frame.name}: "
                         f"{(frame.line or '').strip()}")
    return lines


class Modules:
    """The student's files, each imported at its first use (so that a file that exits or
    fails at import costs only the tests that need it); a failure is kept and re-raised."""

    def __init__(self, work):
        self.work, self.loaded, self.failed = work, {}, {}

    def get(self, name):
        if name in self.loaded:
            return self.loaded[name]
        if name in self.failed:
            raise ImportError(self.failed[name])
        try:
            self.loaded[name] = load(name, self.work)
        except BaseException as error:             # noqa: BLE001 (SystemExit at import too)
            lines = where(error, self.work)
            self.failed[name] = (f"importing {name}.py failed: " + "".join(
                f"{line}; " for line in lines) + f"{type(error).__name__}: {error}")[:2000]
            raise ImportError(self.failed[name]) from None
        return self.loaded[name]


def load(name, work):
    """The module NAME.py (NAME_solution.py in the teacher's folder) from ``work``."""
    import importlib.util
    for stem in (name, f"{name}_solution"):
        path = os.path.join(work, f"{stem}.py")
        if os.path.isfile(path):
            module_name = f"submission_{stem}"
            spec = importlib.util.spec_from_file_location(module_name, path)
            module = importlib.util.module_from_spec(spec)
            sys.modules[module_name] = module                 # dataclasses look it up
            spec.loader.exec_module(module)
            return module
    raise FileNotFoundError(f"no {name}.py in the submission")


DEFERRED = ("scipy.optimize", "scipy.sparse", "scipy.sparse.linalg")


def _deferred(name):
    """A stand-in for a module that bgpoison.implicit imports but no graded task uses: it
    imports the real module on first attribute access (saves about 0.4 s per child)."""
    import importlib
    import types

    class Deferred(types.ModuleType):
        def __getattr__(self, attr):
            if sys.modules.get(name) is self:
                del sys.modules[name]
            return getattr(importlib.import_module(name), attr)
    return Deferred(name)


def build_library(request):
    """The library objects the calls use (models, optimisers, objectives, attack values),
    built before anything is forbidden."""
    import numpy as np
    import bgpoison as bg
    env = {"library": {}, "modules": None}
    for key, spec in request["library"].items():
        args = decode(spec.get("args", []), env)
        kwargs = decode(spec.get("kwargs", {}), env)
        if spec["class"] == "value_of_poisoning":    # A(X_c) after training on D_tr and X_c
            model, gd, w0, X_tr, y_tr, y_c, objective = args

            def value(X_c, model=model, gd=gd, w0=w0, X_tr=X_tr, y_tr=y_tr, y_c=y_c,
                      objective=objective):
                X_c = np.asarray(X_c, dtype=float)
                w_T = gd.run(model, w0, np.vstack([X_tr, X_c]), np.concatenate([y_tr, y_c]))
                return objective.value(model, w_T)
            env["library"][key] = value
        else:
            env["library"][key] = getattr(bg, spec["class"])(*args, **kwargs)
    return env


def descent(model, w, X, y, lr, n_steps):
    """Plain gradient descent with the student's ``grad_w`` (the grader's own loop)."""
    for _ in range(int(n_steps)):
        w = w - lr * model.grad_w(w, X, y)
    return w


def run_call(call, env):
    import numpy as np
    target = call["target"]
    if target["kind"] == "method":
        owner = decode(target["of"], env)
        function = getattr(owner, target["name"])
    elif target["kind"] == "function":
        function = getattr(env["modules"].get(target["module"]), target["name"])
    else:                                          # the grader's descent loop
        function = descent
    args = decode(call["args"], env)
    before = [a.copy() if isinstance(a, np.ndarray) else None for a in args]
    result = function(*args)
    changed = [i for i, (a, b) in enumerate(zip(args, before))
               if b is not None and not (a.shape == b.shape and np.array_equal(a, b,
                                                                                 equal_nan=True))]
    return {"value": encode(result), "changed": changed}


def main():
    request_path, answer_fd = sys.argv[1], int(sys.argv[2])
    with open(request_path) as f:
        request = json.load(f)
    answers = os.fdopen(answer_fd, "w", buffering=1)
    if request["namespace"]:
        hide_folders(request)
    limit(request)
    os.chdir(request["work"])
    sys.path[:0] = [request["work"], request["lib"]] + request["site"]
    import numpy as np  # noqa: F401
    stand_ins = {name: _deferred(name) for name in DEFERRED if name not in sys.modules}
    sys.modules.update(stand_ins)
    env = build_library(request)
    for name, module in stand_ins.items():         # later imports get the real modules
        if sys.modules.get(name) is module:
            del sys.modules[name]
    block_library("this task", request["allowed"])
    audit(request)
    sys.stdout.flush()
    log = os.open(os.path.join(request["work"], ".grader_output.txt"),
                  os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.dup2(log, 1)                                # the student's prints go to a file
    os.dup2(log, 2)

    def answer(record):
        answers.write(json.dumps(record) + "\n")
        answers.flush()

    env["modules"] = Modules(request["work"])
    answer({"ready": True})
    for index, call in enumerate(request["calls"]):
        tried = len(FORBIDDEN_CALLS)
        try:
            record = run_call(call, env)
        except BaseException as error:             # noqa: BLE001 (a student's error is data)
            record = {"error": f"{type(error).__name__}: {error}"[:2000],
                      "where": where(error, request["work"])}
        record["index"] = index
        record["forbidden"] = FORBIDDEN_CALLS[tried:tried + 5]
        try:
            answer(record)
        except (TypeError, ValueError) as error:
            answer({"index": index, "error": f"the result cannot be sent: {error}",
                    "forbidden": record["forbidden"]})
    answer({"done": True})
    os._exit(0)


if __name__ == "__main__":
    main()
