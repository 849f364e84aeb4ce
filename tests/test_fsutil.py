"""Session files under a writer that can be killed at any moment: whole lines, whole files."""

from __future__ import annotations

import json

import pytest

from workbench.fsutil import append_jsonl, read_jsonl, write_json_atomic


def test_append_writes_whole_lines_that_read_back(tmp_path):
    path = tmp_path / "m.jsonl"
    for step in range(3):
        append_jsonl(path, {"step": step, "note": "é"})
    assert read_jsonl(path) == [{"step": s, "note": "é"} for s in range(3)]
    assert path.read_text(encoding="utf-8").count("\n") == 3


@pytest.mark.parametrize("before", [
    "",  # the torn line is the whole file
    '{"step":1}\n',
    '{"step":1}\n' + json.dumps({"pad": "x" * 9000}) + "\n",  # the cut searches back in chunks
], ids=["only-line", "after-a-line", "after-a-long-line"])
def test_a_torn_last_line_is_skipped_then_cut_by_the_next_append(tmp_path, before):
    path = tmp_path / "m.jsonl"
    path.write_text(before + '{"step":69,"epo', encoding="utf-8")  # a writer killed mid-line
    whole = [json.loads(line) for line in before.splitlines()]
    assert read_jsonl(path) == whole
    append_jsonl(path, {"step": 70})
    assert path.read_text(encoding="utf-8") == before + '{"step":70}\n'
    assert read_jsonl(path) == [*whole, {"step": 70}]


def test_atomic_json_replaces_the_whole_file(tmp_path):
    path = tmp_path / "status.json"
    write_json_atomic(path, {"state": "running"})
    write_json_atomic(path, {"state": "stopped", "step": 3})
    assert json.loads(path.read_text()) == {"state": "stopped", "step": 3}
    assert [p.name for p in tmp_path.iterdir()] == ["status.json"]  # no temp file left
