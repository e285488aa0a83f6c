"""Results on disk: one JSON line per finished case, written atomically, plus a summary CSV.

``ResultStore(folder)`` keeps ``results.jsonl``. Every ``add`` rewrites the file through a
temporary file and ``os.replace``, so an interruption (Ctrl-C, a crash, a full disk) leaves
either the old file or the new one, never half a line. Rerunning an experiment skips the cases
whose ``case`` id is already stored.
"""
import json
import os
import tempfile
from pathlib import Path

import numpy as np

RESULTS = "results.jsonl"
SUMMARY = "summary.csv"


class ResultStore:
    """The finished cases of one output folder."""

    def __init__(self, folder):
        self.folder = Path(folder)
        self.folder.mkdir(parents=True, exist_ok=True)
        self.path = self.folder / RESULTS
        self.rows = load(self.path) if self.path.exists() else []

    def done(self):
        """Set of stored case ids."""
        return {row["case"] for row in self.rows}

    def add(self, row):
        """Store one finished case (atomically, replacing any earlier row of that case)."""
        self.rows = [r for r in self.rows if r["case"] != row["case"]] + [row]
        text = "".join(json.dumps(r, sort_keys=True) + "\n" for r in self.rows)
        atomic_write(self.path, text)


def load(path):
    """The rows of a results.jsonl file; ValueError naming the path and line if malformed."""
    path = Path(path)
    rows = []
    for number, line in enumerate(path.read_text().splitlines(), start=1):
        if line.strip():
            try:
                row = json.loads(line)
            except json.JSONDecodeError as err:
                raise ValueError(f"{path}, line {number}: not a JSON results line ({err})")
            if not isinstance(row, dict) or "case" not in row:
                raise ValueError(f"{path}, line {number}: expected an object with a 'case' id")
            rows.append(row)
    return rows


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


def summarise(rows):
    """Mean and std over seeds of each (setting, fraction): a list of dicts, in the order the
    settings first appear, fractions ascending."""
    groups, order = {}, {}
    for row in rows:
        order.setdefault(row["setting_id"], len(order))
        groups.setdefault((row["setting_id"], row["fraction"]), []).append(row)
    out = []
    for (setting, fraction), group in sorted(groups.items(), key=lambda kv: (order[kv[0][0]],
                                                                             kv[0][1])):
        entry = {"setting": group[0]["label"], "fraction": fraction,
                 "n_points": group[0]["n_points"],
                 "n_seeds": len(group)}
        for key in ("attack_error", "flip_error", "clean_error", "attack_target_rate",
                    "flip_target_rate", "clean_target_rate"):
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

