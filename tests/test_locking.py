"""Tests of syneg/locking.py."""

from __future__ import annotations


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
