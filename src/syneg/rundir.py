"""One folder per run: the resolved config, each stage's outputs, logs and metrics."""

from __future__ import annotations

import hashlib
import json
import logging
import time
from pathlib import Path
from typing import Any

from syneg import layout
from syneg.errors import SynegError
from syneg.io import file_digest, write_json, write_text
from syneg.locking import Lock, acquire, check_free

_LOCK_HINT = "wait for it to finish or use another run directory"


class RunDir:
    """Paths and bookkeeping of a run directory (file names: ``syneg.layout``).

    Every stage writes its output atomically, then a ``stages/<stage>.done.json`` marker
    with the output's fingerprint and the stage's input key (a hash of its settings and of
    its inputs' fingerprints); a stage is complete when both still match.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)  # made by lock(), when a writer takes it

    def file(self, name: str) -> Path:
        """Path of ``name`` (a ``syneg.layout`` name) inside the run directory."""
        return self.path / name

    def lock(self, what: str = "run directory") -> Lock:
        """Make the folder and hold its ``run.lock``: one writing process per run directory (``syneg.locking``).

        Raises SynegError naming the holder's PID when another process (or another lock of this one) holds it.
        """
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise SynegError(f"cannot make the {what} {self.path}: {exc.strerror}") from None
        return acquire(self.file(layout.RUN_LOCK), f"{what} {self.path}", _LOCK_HINT)

    def check_unlocked(self, what: str = "run directory") -> None:
        """Fail as :meth:`lock` would when another process holds the folder; writes nothing."""
        check_free(self.file(layout.RUN_LOCK), f"{what} {self.path}", _LOCK_HINT)

    def save_config(self, yaml_text: str) -> None:
        write_text(self.file(layout.CONFIG), yaml_text)

    def mark_done(self, stage: str, output: Path, key: str | None = None, info: dict[str, Any] | None = None) -> None:
        """Record that ``stage`` finished from inputs ``key``, with a fingerprint of its ``output``."""
        marker = {"stage": stage, "finished": time.strftime("%Y-%m-%dT%H:%M:%S"), "key": key,
                  "fingerprint": fingerprint(output), **(info or {})}
        write_json(self._marker(stage), marker)

    def marker(self, stage: str) -> dict[str, Any] | None:
        """The stage's done marker, or None."""
        try:
            marker = json.loads(self._marker(stage).read_text(encoding="utf-8"))
        except (ValueError, RecursionError, OSError):  # not JSON, an integer past 4300 digits, nested too deeply
            return None
        return marker if isinstance(marker, dict) else None

    def is_done(self, stage: str, output: Path, key: str | None = None) -> bool:
        """True when the stage finished from inputs ``key`` and its ``output`` is unchanged since."""
        marker = self.marker(stage)
        if marker is None or not output.exists():
            return False
        if key is not None and marker.get("key") != key:
            return False
        return marker.get("fingerprint") == fingerprint(output)

    def invalidate(self, stage: str) -> None:
        """Forget that ``stage`` finished (its output stays for inspection)."""
        self._marker(stage).unlink(missing_ok=True)

    def _marker(self, stage: str) -> Path:
        return layout.marker_path(self.path, stage)

    def logger(self, name: str = "syneg") -> logging.Logger:
        """A logger that also appends to ``logs/<name>.log`` in the run directory."""
        log = logging.getLogger(f"syneg.run.{self.path.resolve()}.{name}")
        if not log.handlers:
            (self.path / layout.LOGS_DIR).mkdir(exist_ok=True)
            path = self.path / layout.LOGS_DIR / f"{name}.log"
            if path.is_symlink() or (path.exists() and not path.is_file()):  # never append through a link
                raise SynegError(f"{path} is a link or not a regular file; remove it (the run log is the run's own)")
            handler = logging.FileHandler(path, encoding="utf-8")
            handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
            log.addHandler(handler)
            log.setLevel(logging.INFO)
        return log


def fingerprint(path: Path) -> str:
    """Content hash of a file, or of every file below a folder (names and bytes)."""
    digest = hashlib.blake2b(digest_size=16)
    files = [path] if path.is_file() else sorted(p for p in path.rglob("*") if p.is_file())
    for item in files:
        digest.update(str(item.relative_to(path) if item != path else item.name).encode())
        digest.update(file_digest(item).encode())
    return digest.hexdigest()
