"""Results on disk: one JSON line per finished case, appended as it finishes, plus a summary CSV.

``ResultStore(folder)`` keeps ``results.jsonl``. ``add`` appends one complete line with a single
``write`` and ``fsync``, holding an exclusive lock on ``folder/.lock``: two runs writing into the
same folder at once both keep every case, and a write costs one line, not the whole file.

An interruption in the middle of a write (kill -9, a full disk) can leave a torn last line, a
line without its newline. Opening the store, or the next ``add`` (a concurrent run killed while
writing), drops it and says so in ``torn`` (the case is simply run again); a full disk is undone at once (the file is cut back to its last whole line). A line
that is not JSON anywhere else is reported with its line number. When a case appears twice (two
runs finished it), the last line wins: ``rows`` holds each case once. Temporary files that a
killed ``atomic_write`` left behind (``.NAME.*.tmp``) are removed when the store is opened.
"""
import contextlib
import errno
import fcntl
import json
import os
import tempfile
from pathlib import Path

import numpy as np

RESULTS = "results.jsonl"
SUMMARY = "summary.csv"
LOCK = ".lock"


@contextlib.contextmanager
def folder_lock(folder):
    """Hold an exclusive advisory lock on ``folder/.lock`` (blocks until other writers let go)."""
    fd = os.open(Path(folder) / LOCK, os.O_RDWR | os.O_CREAT, 0o666)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)                                        # closing releases the lock


class ResultStore:
    """The finished cases of one output folder (each case once, the last line of it winning)."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / RESULTS
        self.torn = None                     # text of a torn last line that was dropped, if any
        with folder_lock(self.folder):
            for stale in self.folder.glob(".*.tmp"):       # left by a writer killed mid-write
                stale.unlink(missing_ok=True)
            self.torn = _drop_torn_tail(self.path)
            self.rows = load(self.path) if self.path.exists() else []

    @property
    def rows(self):
        return list(self._rows.values())

    @rows.setter
    def rows(self, rows):
        self._rows = {row["case"]: row for row in rows}

    def done(self):
        """Set of stored case ids whose rows are complete: a row that lacks a field this
        version needs (written by another version of bgpoison) is run again, and the new line
        wins; the old one stays in the file."""
        return {case for case, row in self._rows.items() if complete(row)}

    def incomplete(self):
        """The stored rows that lack a field this version needs."""
        return [row for row in self._rows.values() if not complete(row)]

    def reload(self):
        """Re-read the file (other runs may have appended to it); returns ``rows``."""
        with folder_lock(self.folder):
            self.rows = load(self.path) if self.path.exists() else []
        return self.rows

    def add(self, row):
        """Store one finished case: append its line (one write, then fsync) under the lock."""
        line = (json.dumps(row, sort_keys=True) + "\n").encode()
        with folder_lock(self.folder):
            fd = os.open(self.path, os.O_RDWR | os.O_APPEND | os.O_CREAT, 0o666)
            try:
                size = os.fstat(fd).st_size
                if size and os.pread(fd, 1, size - 1) != b"\n":   # a writer killed mid-line
                    self.torn = _drop_torn_tail(self.path)       # (we hold the lock: it is dead)
                    size = os.fstat(fd).st_size
                try:
                    if os.write(fd, line) != len(line):
                        raise OSError(errno.ENOSPC, "short write (is the disk full?)")
                    os.fsync(fd)
                except BaseException as err:
                    if os.fstat(fd).st_size != size + len(line):
                        os.ftruncate(fd, size)             # never leave half a line behind
                    if isinstance(err, OSError):           # e.g. a full disk
                        raise OSError(err.errno, f"cannot append to {self.path}: "
                                      f"{err.strerror}; the cases finished before are saved, "
                                      "rerun to continue") from err
                    raise                                  # Ctrl-C after a whole line: kept
            finally:
                os.close(fd)
        self._rows.pop(row["case"], None)
        self._rows[row["case"]] = row

    def write_summary(self, summary):
        """``summary.csv`` beside the results, under the same lock."""
        with folder_lock(self.folder):
            return write_summary(self.folder, summary)


def _drop_torn_tail(path):
    """Cut a last line that lacks its newline (an interrupted append); return its text."""
    try:
        with open(path, "rb+") as f:
            data = f.read()
            if not data or data.endswith(b"\n"):
                return None
            keep = data.rfind(b"\n") + 1
            f.truncate(keep)
            return data[keep:].decode(errors="replace")
    except FileNotFoundError:
        return None


def load(path):
    """The rows of a results.jsonl file, each case once (its last line wins); ValueError naming
    the path and line if a line is malformed. A torn last line (no newline) is skipped."""
    path = Path(path)
    try:
        text = path.read_bytes().decode()
    except UnicodeDecodeError as err:
        raise ValueError(f"{path} is not a results file: bytes that are not UTF-8 ({err.reason} "
                         f"at byte {err.start})")
    lines = text.split("\n")
    if lines and lines[-1].strip():
        lines = lines[:-1]                                  # torn: an interrupted last write
    rows = {}
    for number, line in enumerate(lines, start=1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}, line {number}: not a JSON results line ({err})")
            if not isinstance(row, dict) or "case" not in row:
                raise ValueError(f"{path}, line {number}: expected an object with a 'case' id")
            rows.pop(row["case"], None)
            rows[row["case"]] = row
    return list(rows.values())


def atomic_write(path, text):
    """Write ``text`` to ``path`` via a temporary file in the same folder and os.replace."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(tmp, 0o666 & ~umask)                       # mkstemp makes 0600; use the usual mode
    try:
        with os.fdopen(fd, "w") as f:
            f.write(text)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


SUMMARY_FIELDS = ("case", "setting_id", "label", "fraction", "n_points")


def complete(row):
    """True if a results row holds every field that summaries and figures need."""
    return all(k in row for k in SUMMARY_FIELDS)


def summarise(rows):
    """Mean and std over seeds of each (setting, fraction): a list of dicts, in the order the
    settings first appear, fractions ascending. A case stored twice counts once (the last).
    ValueError naming the case if a row lacks a field the summary needs."""
    unique = {}
    for row in rows:
        missing = [k for k in SUMMARY_FIELDS if k not in row]
        if missing:
            raise ValueError(f"results row of case {row.get('case', '?')!r} lacks the field(s) "
                             f"{', '.join(missing)}; was it written by bgpoison?")
        unique.pop(row["case"], None)
        unique[row["case"]] = row
    groups, order = {}, {}
    for row in unique.values():
        order.setdefault(row["setting_id"], len(order))
        groups.setdefault((row["setting_id"], row["fraction"]), []).append(row)
    out = []
    for (setting, fraction), group in sorted(groups.items(), key=lambda kv: (order[kv[0][0]],
                                                                             kv[0][1])):
        entry = {"setting": group[0]["label"], "fraction": fraction,
                 "n_points": group[0]["n_points"],
                 "n_seeds": len(group)}
        for key in ("attack_error", "flip_error", "clean_error", "attack_target_rate",
                    "flip_target_rate", "clean_target_rate", "attack_detection",
                    "flip_detection", "attack_false_positive", "flip_false_positive",
                    "clean_false_positive"):
            values = [r[key] for r in group if r.get(key) is not None]
            if values:
                entry[key + "_mean"] = float(np.mean(values))
                entry[key + "_std"] = float(np.std(values))
        out.append(entry)
    return out


def write_summary(folder, summary):
    """``summary.csv`` in ``folder`` (atomically); returns its path."""
    first = ["setting", "fraction", "n_points", "n_seeds"]
    columns = first + sorted({key for entry in summary for key in entry} - set(first))
    lines = [",".join(columns)]
    for entry in summary:
        lines.append(",".join(_cell(entry.get(c)) for c in columns))
    path = Path(folder) / SUMMARY
    atomic_write(path, "\n".join(lines) + "\n")
    return path


def _cell(value):
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.6g}"
    text = str(value)
    return f'"{text}"' if "," in text else text
