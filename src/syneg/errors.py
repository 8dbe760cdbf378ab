"""Error types that reach the user as one clear line and a non-zero exit."""

from __future__ import annotations

from pathlib import Path


class SynegError(Exception):
    """An error the user can fix; the CLI prints it without a traceback and exits ``exit_code``."""

    exit_code = 2


class DataError(SynegError):
    """Bad input data, located by file and (when known) line number."""

    def __init__(self, path: str | Path, message: str, line: int | None = None) -> None:
        self.path = str(path)
        self.line = line
        self.message = message
        where = f"{self.path}:{line}" if line is not None else self.path
        super().__init__(f"{where}: {message}")


class MissingExtraError(SynegError):
    """An optional dependency is not installed."""


class RunFailed(SynegError):
    """A stage finished but some of its work failed (e.g. LLM calls); its outputs are written (exit 3)."""

    exit_code = 3
