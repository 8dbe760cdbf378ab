"""Atomic writes, records, config overrides, run directories and the CLI surface."""

from __future__ import annotations

import pytest

from conftest import run_cli
from syneg.config import load_config
from syneg.errors import DataError, SynegError
from syneg.io import atomic_open, read_records, write_jsonl
from syneg.records import Negative, TrainingInstance
from syneg.rng import instance_rng
from syneg.rundir import RunDir


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


def test_negative_source_is_checked():
    with pytest.raises(ValueError):
        Negative(text="x", source="gpt")


def test_config_yaml_and_overrides(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text("seed: 3\ntrain:\n  epochs: 2\n")
    config = load_config(path, ["train.lr=1e-4", "mix.strategy=direct", "data.dev_fraction=null"])
    assert (config.seed, config.train.epochs, config.train.lr) == (3, 2, 1e-4)
    assert config.mix.strategy == "direct" and config.data.dev_fraction is None


def test_config_errors(tmp_path):
    with pytest.raises(SynegError, match="key=value"):
        load_config(None, ["train.epochs"])
    with pytest.raises(DataError, match="mix.strategy"):
        load_config(None, ["mix.strategy=bogus"])
    bad = tmp_path / "bad.yaml"
    bad.write_text("train:\n  epochs: [1\n")
    with pytest.raises(DataError, match=r"bad.yaml:\d+: invalid YAML"):
        load_config(bad)
    result = run_cli("config", "show", bad)
    assert result.returncode == 2 and "bad.yaml" in result.stderr


def test_unknown_config_key_is_an_error():
    with pytest.raises(DataError, match="train.epoch"):
        load_config(None, ["train.epoch=2"])


def test_rundir_done_marker_tracks_output(tmp_path):
    run = RunDir(tmp_path / "run")
    output = run.file("mined.jsonl")
    assert not run.is_done("mine", output)
    write_jsonl(output, [{"a": 1}])
    run.mark_done("mine", output, key="k1")
    assert run.is_done("mine", output) and run.is_done("mine", output, "k1") and not run.is_done("mine", output, "k2")
    output.write_text('{"a": 2}\n')
    assert not run.is_done("mine", output)


def test_instance_rng_is_per_instance():
    a = [instance_rng(0, "q1").random() for _ in range(2)]
    assert a[0] == a[1]
    assert instance_rng(0, "q1").random() != instance_rng(0, "q2").random()
    assert instance_rng(0, "q1").random() != instance_rng(1, "q1").random()


def test_help_lists_commands():
    result = run_cli("--help")
    assert result.returncode == 0
    for command in ("data", "config", "retrieve", "evaluate", "mine", "synthesize", "prompt", "mix", "train",
                    "run", "experiment", "report"):
        assert command in result.stdout


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


def test_lock_files_get_the_umask_mode(tmp_path):
    import os

    from syneg.locking import acquire

    mask = os.umask(0o002)
    try:
        with acquire(tmp_path / "x.lock", "x", "wait"):
            pass
    finally:
        os.umask(mask)
    assert (tmp_path / "x.lock").stat().st_mode & 0o777 == 0o664


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
