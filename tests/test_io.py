"""Tests of syneg/io.py."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import run_cli

from syneg.errors import DataError
from syneg.io import atomic_open, read_records, write_jsonl, write_text
from syneg.records import Negative, TrainingInstance


def test_atomic_write_keeps_old_file_on_crash(tmp_path):
    target = tmp_path / "out.jsonl"
    target.write_text("old\n")
    with pytest.raises(RuntimeError):
        with atomic_open(target) as handle:
            handle.write("partial")
            raise RuntimeError("crash")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.jsonl"]


def test_records_round_trip_and_bad_row_is_located(tmp_path):
    row = TrainingInstance(query_id="1", query="q", positive_id="p", positive="pos",
                           negatives=[Negative(text="n", source="bm25", doc_id="d", score=1.5, rank=1)])
    path = tmp_path / "train.jsonl"
    write_jsonl(path, [row, row])
    assert read_records(path, TrainingInstance) == [row, row]
    path.write_text(row.model_dump_json() + "\n" + '{"query_id": "2"}\n')
    with pytest.raises(DataError, match=r"train.jsonl:2: invalid TrainingInstance"):
        read_records(path, TrainingInstance)


def test_atomic_write_uses_normal_file_permissions(tmp_path):
    import os

    from syneg.io import write_text

    mask = os.umask(0o022)
    try:
        write_text(tmp_path / "a.txt", "x")
    finally:
        os.umask(mask)
    assert (tmp_path / "a.txt").stat().st_mode & 0o777 == 0o644


def test_staged_folders_get_normal_permissions_whoever_wrote_the_files(tmp_path):
    import os
    import tempfile

    from syneg.io import staged_dir

    mask = os.umask(0o022)
    try:
        with staged_dir(tmp_path / "model") as work:
            fd, tmp = tempfile.mkstemp(dir=work)  # how transformers writes model.safetensors: 0600
            os.close(fd)
            os.replace(tmp, work / "model.safetensors")
            (work / "1_Pooling").mkdir(mode=0o700)
            (work / "1_Pooling" / "config.json").write_text("{}")
            os.chmod(work / "1_Pooling" / "config.json", 0o600)
    finally:
        os.umask(mask)
    modes = {str(p.relative_to(tmp_path)): p.stat().st_mode & 0o777 for p in [tmp_path / "model",
                                                                             *(tmp_path / "model").rglob("*")]}
    assert modes == {"model": 0o755, "model/model.safetensors": 0o644, "model/1_Pooling": 0o755,
                     "model/1_Pooling/config.json": 0o644}


@pytest.mark.slow
def test_temp_files_of_a_reused_pid_are_swept_and_a_live_writers_are_kept(tmp_path):
    import os
    import subprocess
    import time

    from syneg.io import write_text

    reused = subprocess.Popen(["sleep", "60"])  # alive, but started long after the temp file was written
    try:
        stale = tmp_path / f".m.jsonl.{reused.pid}.abcdefgh.tmp"
        stale.write_text("partial")
        os.utime(stale, (time.time() - 3600, time.time() - 3600))
        live = tmp_path / f".m.jsonl.{os.getpid()}.ijklmnop.tmp"  # this process, writing it now: kept
        live.write_text("in progress")
        write_text(tmp_path / "m.jsonl", "x")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted(["m.jsonl", live.name])
    finally:
        reused.kill()
        reused.wait()


_KILLED_WRITER = """
import sys, time
from pathlib import Path
from syneg.io import staged_dir
with staged_dir(Path(sys.argv[1])) as work:
    (work / "model.safetensors").write_bytes(bytes(1 << 20))
    print(work.name, flush=True)
    time.sleep(120)
"""


def _start_writer(out):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER, str(out)], stdout=subprocess.PIPE, text=True)
    return proc, proc.stdout.readline().strip()


@pytest.mark.slow
def test_a_folder_write_killed_midway_is_swept_by_the_next_write(tmp_path):
    import signal

    from syneg.io import staged_dir

    out = tmp_path / "model"
    killed, killed_tmp = _start_writer(out)
    killed.send_signal(signal.SIGKILL)
    killed.wait()
    assert killed_tmp == f".model.{killed.pid}.{killed_tmp.split('.')[3]}.tmp" and (tmp_path / killed_tmp).is_dir()
    alive, alive_tmp = _start_writer(out)  # sweeps the killed writer's folder; keeps its own while at work
    try:
        assert sorted(p.name for p in tmp_path.iterdir()) == [alive_tmp]
        with staged_dir(out) as work:
            (work / "weights").write_text("new")
        leftovers = sorted(p.name for p in tmp_path.iterdir())
        assert leftovers == sorted([alive_tmp, "model"]) and (out / "weights").read_text() == "new"
        with staged_dir(out) as work:  # replacing a finished folder leaves no old copy behind either
            (work / "weights").write_text("newer")
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([alive_tmp, "model"])
    finally:
        alive.kill()
        alive.wait()


@pytest.mark.slow
def test_a_line_longer_than_the_bound_is_an_error_naming_file_and_line(tmp_path):
    import gzip

    from conftest import write_beir

    from syneg.limits import MAX_LINE_BYTES

    data = write_beir(tmp_path / "data", split="test")
    (tmp_path / "r.trec").write_text("q1 Q0 d1 1 1.0 run\n")
    with (data / "corpus.jsonl").open("ab") as handle:  # sparse: a 20 GB line 4, no disk used
        handle.truncate(20 << 30)
    result = run_cli("evaluate", "--data", data, "--split", "test", "--run", tmp_path / "r.trec", timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"corpus.jsonl:4: line longer than {MAX_LINE_BYTES:,} bytes" in result.stderr
    (data / "corpus.jsonl").unlink()  # a gzip bomb: a few kB that inflate to one line past the bound
    with gzip.open(data / "corpus.jsonl.gz", "wb", compresslevel=1) as packed:
        for _ in range(MAX_LINE_BYTES // (1 << 20) + 1):
            packed.write(b"\0" * (1 << 20))
    result = run_cli("evaluate", "--data", data, "--split", "test", "--run", tmp_path / "r.trec", timeout=120)
    assert result.returncode == 2 and "Traceback" not in result.stderr
    assert f"corpus.jsonl.gz:1: line longer than {MAX_LINE_BYTES:,} bytes" in result.stderr


def test_atomic_open_refuses_a_directory_without_writing(tmp_path):
    target = tmp_path / "out.jsonl"
    target.mkdir()
    with pytest.raises(DataError, match="is a directory"):
        with atomic_open(target) as handle:
            handle.write("x")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["out.jsonl"]


# --- 7. temp files of killed writers ------------------------------------------------------------

@pytest.mark.slow
def test_stale_temp_files_of_dead_writers_are_removed(tmp_path):
    done = subprocess.Popen([sys.executable, "-c", "pass"])
    done.wait()
    alive = subprocess.Popen(["sleep", "60"])
    try:
        target = tmp_path / "mined.jsonl"
        stale = tmp_path / f".mined.jsonl.{done.pid}.abc123xy.tmp"
        live = tmp_path / f".mined.jsonl.{alive.pid}.zyx321ab.tmp"
        other = tmp_path / f".other.jsonl.{done.pid}.abc123xy.tmp"
        for path in (stale, live, other):
            path.write_text("partial")
        write_text(target, "done\n")
        assert target.read_text() == "done\n"
        assert not stale.exists() and live.exists() and other.exists()
        assert sorted(p.name for p in tmp_path.iterdir()) == sorted([target.name, live.name, other.name])
    finally:
        alive.kill()
        alive.wait()
