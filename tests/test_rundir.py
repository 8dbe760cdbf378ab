"""Tests of syneg/rundir.py."""

from __future__ import annotations

from syneg.io import write_jsonl
from syneg.rundir import RunDir


def test_rundir_done_marker_tracks_output(tmp_path):
    run = RunDir(tmp_path / "run")
    output = run.file("mined.jsonl")
    assert not run.is_done("mine", output)
    write_jsonl(output, [{"a": 1}])
    run.mark_done("mine", output, key="k1")
    assert run.is_done("mine", output) and run.is_done("mine", output, "k1") and not run.is_done("mine", output, "k2")
    output.write_text('{"a": 2}\n')
    assert not run.is_done("mine", output)
