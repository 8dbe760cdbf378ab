"""One process at a time: an exclusive ``flock`` on a lock file that records who holds it.

The kernel drops the lock when its process dies, so a killed process (even ``kill -9``) leaves none behind.
The lock file itself stays after release: removing it would race with a process about to lock it.
"""

from __future__ import annotations

import fcntl
import json
import os
import shlex
import socket
import stat
import sys
from pathlib import Path
from typing import Any, BinaryIO

from syneg.errors import SynegError
from syneg.redact import redact


class Lock:
    """A held lock; ``release()`` (or leaving the ``with`` block) lets the next process in."""

    def __init__(self, path: Path, handle: BinaryIO) -> None:
        self.path = path
        self._handle = handle

    def release(self) -> None:
        """Clear the holder record and drop the lock (idempotent)."""
        if not self._handle.closed:
            self._handle.truncate(0)
            self._handle.close()

    def __enter__(self) -> Lock:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def holder() -> dict[str, Any]:
    """What a lock file records about this process: PID, host and command line (credentials masked)."""
    return {"pid": os.getpid(), "host": socket.gethostname(), "command": redact(shlex.join(sys.argv))[:300]}


def in_use_message(what: str, record: dict[str, Any], hint: str) -> str:
    """The error for ``what`` locked by the process in ``record`` (a lock file's content; may be empty)."""
    if record.get("pid") == os.getpid() and record.get("host") == socket.gethostname():
        return f"{what} is already in use in this process; {hint}"
    if "pid" not in record:
        return f"{what} is in use by another process; {hint}"
    running = f" on {record.get('host')}, running: {record['command']}" if record.get("command") else ""
    return f"{what} is in use by process {record['pid']}{running}; {hint}"


def acquire(lock_file: str | Path, what: str, hint: str, wait: bool = False) -> Lock:
    """Lock ``lock_file`` (created if missing, with the umask's file mode) for this process.

    When another process (or another open of this process) holds it, wait for it with ``wait``; else raise
    :class:`SynegError` naming ``what``, the holder's PID and command, then ``hint`` (what to do), and leave
    the file unchanged.
    """
    path = Path(lock_file)
    try:  # never through a link: the file is truncated and rewritten below
        handle = os.fdopen(os.open(path, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW, 0o666), "r+b")
    except OSError as exc:
        raise SynegError(f"cannot open the lock file of {what} ({path}): {exc.strerror}") from None
    if not stat.S_ISREG(os.fstat(handle.fileno()).st_mode):
        handle.close()
        raise SynegError(f"the lock file of {what} ({path}) is not a regular file; remove it")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX if wait else fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        record = _record(handle)
        handle.close()
        raise SynegError(in_use_message(what, record, hint)) from None
    except OSError as exc:
        handle.close()
        raise SynegError(f"cannot lock {what} ({path}): {exc.strerror}") from None
    handle.truncate(0)
    handle.write(json.dumps(holder()).encode("utf-8"))
    handle.flush()
    return Lock(path, handle)


def check_free(lock_file: str | Path, what: str, hint: str) -> None:
    """Raise as :func:`acquire` would when another process holds ``lock_file``; create, change and keep nothing.

    For failing at once, before slow checks that come before :func:`acquire`.
    """
    try:
        handle = os.fdopen(os.open(lock_file, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK), "rb")
    except OSError:
        return  # missing (free), or unusable: acquire() reports it
    with handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_SH | fcntl.LOCK_NB)  # shared: probes never block one another
        except BlockingIOError:
            raise SynegError(in_use_message(what, _record(handle), hint)) from None
        except OSError:
            return


def _record(handle: BinaryIO) -> dict[str, Any]:
    """The holder record in a lock file (empty when unreadable, e.g. being written right now)."""
    try:
        record = json.loads(handle.read(4096) or b"{}")
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}
