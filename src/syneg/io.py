"""Atomic file writes and JSON-lines helpers: a crash never leaves a truncated file."""

from __future__ import annotations

import codecs
import contextlib
import glob
import gzip
import hashlib
import json
import os
import shutil
import tempfile
import zlib
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any, TypeVar

from pydantic import BaseModel, ValidationError

from syneg.errors import DataError
from syneg.limits import MAX_LINE_BYTES

M = TypeVar("M", bound=BaseModel)


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


_FILE_MODE = 0o666 & ~_umask()
_DIR_MODE = 0o777 & ~_umask()


@contextlib.contextmanager
def atomic_open(path: str | Path, mode: str = "w", encoding: str | None = "utf-8") -> Iterator[IO[Any]]:
    """Write to a temporary file beside ``path`` and rename it into place on success.

    The temporary file is ``.{name}.{pid}.XXXXXXXX.tmp``; leftovers of killed writers are removed.
    """
    path = Path(path)
    if path.is_dir():
        raise DataError(path, "is a directory; expected a file path")
    path.parent.mkdir(parents=True, exist_ok=True)
    if "b" in mode:
        encoding = None
    remove_stale_temps(path)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.{os.getpid()}.", suffix=".tmp", dir=path.parent)
    os.fchmod(fd, _FILE_MODE)  # mkstemp's 0600 would make outputs private to their writer
    try:
        with os.fdopen(fd, mode, encoding=encoding) as handle:
            yield handle
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def remove_stale_temps(path: Path) -> None:
    """Delete the temporary files and folders of ``path`` (``.{name}.{pid}.*.tmp``) whose writer is gone.

    The writer is gone when its PID is not running, or runs a process started after the temp file was last
    written (the PID was reused). Checked on this machine: writers on other hosts sharing the folder are not seen.
    """
    prefix = f".{path.name}."
    for tmp in path.parent.glob(f"{glob.escape(prefix)}*.tmp"):
        parts = tmp.name[len(prefix):-len(".tmp")].split(".")
        if len(parts) == 2 and parts[0].isdigit() and _writer_gone(int(parts[0]), tmp):
            discard(tmp)


def discard(path: Path) -> None:
    """Remove ``path`` whatever it is, never following a link: a link is unlinked, a folder removed with its
    content, a missing path ignored."""
    if path.is_dir() and not path.is_symlink():
        shutil.rmtree(path, ignore_errors=True)
    else:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()


def _writer_gone(pid: int, tmp: Path) -> bool:
    if not _pid_alive(pid):
        return True
    started = _process_start(pid)
    try:
        return started is not None and started > tmp.lstat().st_mtime + 2  # /proc's boot time is whole seconds
    except FileNotFoundError:
        return False


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OverflowError):
        return True  # another user's process (or not a PID we can check): keep its file
    return True


def _process_start(pid: int) -> float | None:
    """When process ``pid`` started (epoch seconds), from ``/proc``; None where that cannot be read."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text(encoding="ascii", errors="replace")
        boot = next(line for line in Path("/proc/stat").read_text(encoding="ascii").splitlines()
                    if line.startswith("btime "))
        ticks = int(stat.rsplit(")", 1)[1].split()[19])  # field 22, starttime, in clock ticks since boot
        return int(boot.split()[1]) + ticks / os.sysconf("SC_CLK_TCK")
    except (OSError, ValueError, IndexError, StopIteration):
        return None


def file_digest(path: str | Path) -> str:
    """blake2b-128 of a file's bytes (its name plays no part), as hex."""
    with Path(path).open("rb") as handle:
        return stream_digest(handle)


def stream_digest(handle: IO[bytes]) -> str:
    """:func:`file_digest` of an open binary file, read from its current position to the end."""
    digest = hashlib.blake2b(digest_size=16)
    for chunk in iter(lambda: handle.read(1 << 20), b""):
        digest.update(chunk)
    return digest.hexdigest()


@contextlib.contextmanager
def staged_dir(out: str | Path) -> Iterator[Path]:
    """A hidden folder beside ``out`` to fill; renamed to ``out`` on success, removed on failure.

    The folder is ``.{name}.{pid}.XXXXXXXX.tmp``; leftovers of killed writers are removed first, as for
    files. Before the rename everything in it gets the umask's modes (0644 files, 0755 folders under umask
    022), as ``open`` and ``mkdir`` give: ``mkdtemp`` makes the folder 0700, and libraries that write
    through ``mkstemp`` (transformers' ``model.safetensors``) leave files 0600.
    """
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    remove_stale_temps(out)
    tmp = _temp_dir(out)
    try:
        yield tmp
        _normal_modes(tmp)
        replace_dir(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def _normal_modes(root: Path) -> None:
    """Give ``root`` and everything under it (links aside) the umask's folder and file modes."""
    for path in (root, *root.rglob("*")):
        if not path.is_symlink():
            path.chmod(_DIR_MODE if path.is_dir() else _FILE_MODE)


def _temp_dir(out: Path) -> Path:
    """A new empty hidden folder ``.{name}.{pid}.XXXXXXXX.tmp`` beside ``out``."""
    return Path(tempfile.mkdtemp(prefix=f".{out.name}.{os.getpid()}.", suffix=".tmp", dir=out.parent))


def replace_dir(src: Path, dst: Path) -> None:
    """Move folder ``src`` to ``dst``, replacing an existing ``dst`` only after ``src`` is complete."""
    if dst.exists() or dst.is_symlink():
        old = _temp_dir(dst)  # swept like any temp folder when a kill leaves it behind
        os.replace(dst, old / dst.name)
        os.replace(src, dst)
        shutil.rmtree(old, ignore_errors=True)
    else:
        os.replace(src, dst)


def write_text(path: str | Path, text: str) -> None:
    """Atomically write ``text`` to ``path``."""
    with atomic_open(path) as handle:
        handle.write(text)


def write_json(path: str | Path, obj: Any) -> None:
    """Atomically write ``obj`` as indented JSON."""
    write_text(path, json.dumps(obj, indent=2, ensure_ascii=False, default=str) + "\n")


def write_jsonl(path: str | Path, rows: Iterable[BaseModel | dict[str, Any]]) -> int:
    """Atomically write one JSON object per line; returns the number of rows."""
    count = 0
    with atomic_open(path) as handle:
        for row in rows:
            line = row.model_dump_json() if isinstance(row, BaseModel) else json.dumps(row, ensure_ascii=False)
            handle.write(line + "\n")
            count += 1
    return count


def resolve_input(path: str | Path, missing: str = "file not found") -> Path:
    """``path``, or ``path.gz`` when only the compressed file exists; a clear error otherwise."""
    path = Path(path)
    if path.is_dir():
        raise DataError(path, "is a directory, expected a file")
    if path.is_file():
        return path
    packed = path.with_name(f"{path.name}.gz")
    if path.suffix != ".gz" and packed.is_file():
        return packed
    also = "" if path.suffix == ".gz" else f" (looked for {path.name} and {packed.name})"
    raise DataError(path, f"{missing}{also}")


def _raw_lines(path: Path, max_line: int = MAX_LINE_BYTES) -> Iterator[tuple[int, bytes]]:
    """The numbered byte lines of ``path`` (decompressed when it ends in .gz), each at most ``max_line``
    bytes long (a longer one is an error, found without reading it whole); errors name the file."""
    try:
        with gzip.open(path, "rb") if path.suffix == ".gz" else path.open("rb") as handle:
            number = 0
            while line := handle.readline(max_line + 1):
                number += 1
                if len(line) > max_line and not line.endswith(b"\n"):
                    raise DataError(path, f"line longer than {max_line:,} bytes (the limit of one line)", number)
                yield number, line
    except (OSError, EOFError, zlib.error) as exc:
        kind = "not a valid gzip file" if path.suffix == ".gz" else "cannot read the file"
        raise DataError(path, f"{kind} ({getattr(exc, 'strerror', None) or exc})") from None


def iter_lines(path: str | Path, missing: str = "file not found",
               max_line: int = MAX_LINE_BYTES) -> Iterator[tuple[int, str]]:
    """Yield ``(line_number, text)`` for each non-blank UTF-8 line; errors name file and line.

    A leading UTF-8 byte-order mark is dropped, and ``X.gz`` is read when only it exists. A line is at
    most ``max_line`` bytes long.
    """
    path = resolve_input(path, missing)
    for number, raw in _raw_lines(path, max_line):
        if number == 1:
            raw = raw.removeprefix(codecs.BOM_UTF8)
        try:
            text = raw.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(path, f"not valid UTF-8 ({exc.reason} at byte {exc.start})", number) from None
        if text.strip():
            yield number, text


def iter_jsonl(path: str | Path, max_line: int = MAX_LINE_BYTES) -> Iterator[tuple[int, dict[str, Any]]]:
    """Yield ``(line_number, object)`` for each non-blank line of at most ``max_line`` bytes; errors name
    file and line."""
    path = resolve_input(path)
    for number, text in iter_lines(path, max_line=max_line):
        try:
            obj = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(path, f"malformed JSON: {exc.msg} (column {exc.colno})", number) from None
        except ValueError:  # an integer past Python's 4300-digit conversion limit
            raise DataError(path, "malformed JSON: an integer with more than 4300 digits", number) from None
        except RecursionError:
            raise DataError(path, "malformed JSON: nested too deeply", number) from None
        if not isinstance(obj, dict):
            raise DataError(path, f"expected a JSON object, got {type(obj).__name__}", number)
        yield number, obj


def iter_records(path: str | Path, model: type[M]) -> Iterator[M]:
    """Yield the pydantic records of a JSON-lines file one at a time, naming file and line on a bad row."""
    path = resolve_input(path)
    for number, obj in iter_jsonl(path):
        try:
            yield model.model_validate(obj)
        except ValidationError as exc:
            first = exc.errors()[0]
            field = ".".join(str(p) for p in first["loc"]) or "<row>"
            raise DataError(path, f"invalid {model.__name__}: {field}: {first['msg']}", number) from None


def read_records(path: str | Path, model: type[M]) -> list[M]:
    """Read a JSON-lines file into pydantic records, naming file and line on a bad row."""
    return list(iter_records(path, model))


class RecordFile(Iterable[M]):
    """A JSON-lines file of records, read anew (line by line) each time it is iterated.

    A missing file is an error now, not at the first iteration.
    """

    def __init__(self, path: str | Path, model: type[M]) -> None:
        self.path, self.model = resolve_input(path), model

    def __iter__(self) -> Iterator[M]:
        return iter_records(self.path, self.model)
