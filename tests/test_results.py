"""The results store: one appended line per case, torn lines, duplicates, a full disk, stale
temporary files, and rows the report cannot use."""
import errno
import json
import os

import pytest

from bgpoison.experiments import report, results
from bgpoison.experiments.results import RESULTS, ResultStore, load, summarise


def _row(case, fraction=0.1, seed=0, error=0.2, **extra):
    return {"case": case, "setting_id": "s", "label": "softmax generic", "fraction": fraction,
            "seed": seed, "n_points": 3, "attack_error": error, **extra}


def test_add_appends_one_line_and_leaves_the_earlier_bytes_alone(tmp_path):
    store = ResultStore(tmp_path)
    store.add(_row("a"))
    before = (tmp_path / RESULTS).read_bytes()
    store.add(_row("b"))
    after = (tmp_path / RESULTS).read_bytes()
    assert after.startswith(before) and after[len(before):].count(b"\n") == 1
    assert json.loads(after[len(before):]) == _row("b")


def test_a_case_stored_twice_counts_once_and_the_last_line_wins(tmp_path):
    lines = [_row("a", error=0.1), _row("b", seed=1, error=0.3), _row("a", error=0.5)]
    (tmp_path / RESULTS).write_text("".join(json.dumps(r) + "\n" for r in lines))
    rows = load(tmp_path / RESULTS)
    assert [r["attack_error"] for r in rows] == [0.3, 0.5]
    [entry] = summarise(lines)
    assert entry["n_seeds"] == 2 and entry["attack_error_mean"] == pytest.approx(0.4)


def test_a_torn_last_line_is_dropped_and_reported_and_appends_stay_whole(tmp_path):
    good = json.dumps(_row("a")) + "\n"
    (tmp_path / RESULTS).write_text(good + json.dumps(_row("b"))[:30])
    assert [r["case"] for r in load(tmp_path / RESULTS)] == ["a"]
    store = ResultStore(tmp_path)
    assert store.torn.startswith('{"case": "b"') and store.done() == {"a"}
    store.add(_row("c"))
    assert [r["case"] for r in load(tmp_path / RESULTS)] == ["a", "c"]


def test_a_malformed_line_before_the_end_is_named(tmp_path):
    (tmp_path / RESULTS).write_text(json.dumps(_row("a")) + "\nnot json\n" +
                                    json.dumps(_row("b")) + "\n")
    with pytest.raises(ValueError, match=r"results.jsonl, line 2: not a JSON results line"):
        load(tmp_path / RESULTS)


def test_a_full_disk_leaves_no_half_line(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)
    store.add(_row("a"))
    before = (tmp_path / RESULTS).read_bytes()
    real_write = os.write

    def half_then_full(fd, data):
        real_write(fd, data[:len(data) // 2])
        raise OSError(errno.ENOSPC, "No space left on device")
    monkeypatch.setattr(results.os, "write", half_then_full)
    with pytest.raises(OSError, match="No space left"):
        store.add(_row("b"))
    assert (tmp_path / RESULTS).read_bytes() == before


def test_stale_temporary_files_are_removed_when_the_store_opens(tmp_path):
    stale = [tmp_path / ".results.jsonl.x1.tmp", tmp_path / ".summary.csv.x2.tmp"]
    for path in stale:
        path.write_text("left by a kill")
    ResultStore(tmp_path)
    assert not any(path.exists() for path in stale)


def test_rows_missing_a_field_or_no_rows_give_a_clear_error(tmp_path):
    (tmp_path / RESULTS).write_text(json.dumps({"case": "a", "fraction": 0.1}) + "\n")
    with pytest.raises(ValueError, match="case 'a' lacks the field.*setting_id"):
        report.draw_figures(tmp_path)
    row = _row("a", n_points=3)                 # summary fields, but no figure fields
    (tmp_path / RESULTS).write_text(json.dumps(row) + "\n")
    with pytest.raises(ValueError, match="lacks or garbles a field the figures need"):
        report.draw_figures(tmp_path)
    (tmp_path / RESULTS).write_text("")
    with pytest.raises(ValueError, match="holds no finished cases"):
        report.draw_figures(tmp_path)


def test_an_interrupt_after_a_whole_line_was_written_keeps_it(tmp_path, monkeypatch):
    store = ResultStore(tmp_path)

    def interrupted(fd):
        raise KeyboardInterrupt                 # Ctrl-C or SIGTERM while syncing
    monkeypatch.setattr(results.os, "fsync", interrupted)
    with pytest.raises(KeyboardInterrupt):
        store.add(_row("a"))
    assert [r["case"] for r in load(tmp_path / RESULTS)] == ["a"]


def test_a_line_torn_by_another_writer_killed_meanwhile_is_cut_before_appending(tmp_path):
    store = ResultStore(tmp_path)
    store.add(_row("a"))
    with open(tmp_path / RESULTS, "a") as f:           # another run, killed mid-line
        f.write(json.dumps(_row("b"))[:25])
    store.add(_row("c"))
    assert [r["case"] for r in load(tmp_path / RESULTS)] == ["a", "c"]
    assert store.torn.startswith('{"case": "b"')
