"""Bounded, tolerant readers of one run directory's own files: every reader in ``syneg.report`` goes here.

Only regular files inside the folder are read. A link that leads out of it, a hard link (a file with
more than one name), a device, a FIFO or a folder in a file's place is skipped, and so is a file over the size limit; each such file gets one warning line
on stderr and one note on the page. A missing or broken file is simply absent. Whatever is read is
bounded: ``MAX_FILE_BYTES`` per file (``MAX_IMAGE_BYTES`` per inlined image), ``MAX_ROWS`` rows of a
JSON-lines file (the rest is not read, with a note); a stage output over ``MAX_DIGEST_BYTES`` is not
hashed to check its statistics (they are shown as not verified).
"""

from __future__ import annotations

import contextlib
import errno
import json
import os
import stat
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import IO, Any

from syneg import layout
from syneg.io import stream_digest

MAX_FILE_BYTES = 64 << 20  # bytes read from one file
MAX_IMAGE_BYTES = 8 << 20  # a larger image is not inlined
MAX_ROWS = 100_000  # rows read from one JSON-lines file
MAX_DIGEST_BYTES = 1 << 30  # a larger stage output is not hashed to check its statistics


class RunFiles:
    """The files of the folder ``root``, read within the bounds above; ``notes`` lists what was skipped."""

    def __init__(self, root: str | Path) -> None:
        self.root = Path(root)
        self._real = self.root.resolve()
        self.notes: list[str] = []

    def _note(self, path: Path, why: str) -> None:
        """Record (once) and print one warning line about ``path``, named relative to the folder."""
        name = path.relative_to(self.root) if path.is_relative_to(self.root) else path
        line = f"{name}: {why}"
        if line not in self.notes:
            self.notes.append(line)
            print(f"warning: {self.root}/{line}", file=sys.stderr)

    @contextlib.contextmanager
    def open(self, path: Path) -> Iterator[IO[bytes] | None]:
        """``path`` opened for binary reading, or None when it is missing or not one of the folder's regular files."""
        handle = self._open(path)
        if handle is None:
            yield None
            return
        with handle:
            yield handle

    def _open(self, path: Path) -> IO[bytes] | None:
        try:
            real = path.resolve(strict=True)
        except FileNotFoundError:
            return None
        except (OSError, RuntimeError) as exc:  # RuntimeError: a link loop, before Python 3.13
            loop = isinstance(exc, RuntimeError) or exc.errno == errno.ELOOP
            self._note(path, "skipped: a link loop" if loop else f"skipped: cannot be resolved ({exc.strerror})")
            return None
        if not real.is_relative_to(self._real):
            self._note(path, "skipped: a link that leads out of the run directory")
            return None
        try:  # O_NONBLOCK: opening a FIFO must not wait for a writer
            fd = os.open(real, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
        except FileNotFoundError:
            return None
        except OSError as exc:
            self._note(path, f"skipped: cannot be opened ({exc.strerror})")
            return None
        info = os.fstat(fd)
        why = ("not a regular file" if not stat.S_ISREG(info.st_mode) else
               "a hard link (the file has other names, which may be outside the run directory)"
               if info.st_nlink > 1 else "")
        if why:
            os.close(fd)
            self._note(path, f"skipped: {why}")
            return None
        return os.fdopen(fd, "rb")

    def read_bytes(self, path: Path, limit: int = MAX_FILE_BYTES) -> bytes | None:
        """The file's bytes, or None when it cannot be read here or is larger than ``limit``."""
        with self.open(path) as handle:
            data = None if handle is None else handle.read(limit + 1)
        if data is not None and len(data) > limit:
            self._note(path, f"skipped: larger than the report's limit of {limit:,} bytes")
            return None
        return data

    def read_text(self, path: Path) -> str | None:
        """The file as text (undecodable bytes replaced), or None."""
        data = self.read_bytes(path)
        return None if data is None else data.decode("utf-8", errors="replace")

    def read_json(self, path: Path) -> Any:
        """The parsed file, or None when it is missing, unreadable or not JSON."""
        text = self.read_text(path)
        try:
            return None if text is None else json.loads(text)
        except (ValueError, RecursionError):  # not JSON, an integer past 4300 digits, nested too deeply
            return None

    def read_stats(self, output: Path) -> tuple[dict[str, Any] | None, str]:
        """A stage output's statistics and, when they could not be checked against the output, why not.

        None when missing or stale (the output's digest differs from the one they were written with, or
        the output is not one of the folder's regular files). An output over ``MAX_DIGEST_BYTES`` is not
        read: its statistics come back unverified.
        """
        stats = self.read_json(layout.stats_path(output))
        if not isinstance(stats, dict):
            return None, ""
        if layout.OUTPUT_FINGERPRINT not in stats:
            return stats, ""
        with self.open(output) as handle:
            if handle is None:
                return None, ""
            if os.fstat(handle.fileno()).st_size > MAX_DIGEST_BYTES:
                return stats, f"not verified: {output.name} is larger than {MAX_DIGEST_BYTES:,} bytes"
            return (stats, "") if stream_digest(handle) == stats[layout.OUTPUT_FINGERPRINT] else (None, "")

    def iter_jsonl(self, path: Path) -> Iterator[dict[str, Any]]:
        """The JSON objects of a JSONL file (none when missing); broken lines are skipped.

        Reading stops after ``MAX_ROWS`` objects or ``MAX_FILE_BYTES`` bytes, with a note.
        """
        with self.open(path) as handle:
            if handle is None:
                return
            budget, rows = MAX_FILE_BYTES, 0
            while line := handle.readline(budget + 1):
                budget -= len(line)
                if budget < 0 or rows == MAX_ROWS:
                    self._note(path, f"read only its first {rows:,} rows (the report reads at most "
                                     f"{MAX_ROWS:,} rows or {MAX_FILE_BYTES:,} bytes of a file)")
                    return
                row = _json_line(line)
                if isinstance(row, dict):
                    rows += 1
                    yield row


def _json_line(line: bytes) -> Any:
    try:
        return json.loads(line.decode("utf-8", errors="replace"))
    except (json.JSONDecodeError, RecursionError):
        return None
