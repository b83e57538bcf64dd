"""One process per run: ``collab run`` holds a lock on its run for as long as it lives.

The lock is ``flock(2)`` on a small file next to the store (``runs.db-RUN.lock``, holding the
pid of its holder). The kernel drops a flock lock when its holder exits in any way, ``kill
-9`` included, so a crashed run never leaves a stale lock and ``--resume`` can take it over
at once. SQLite's own locks cannot serve: they last one transaction, and holding one for a
whole run would block every other writer of the store. The lock file is removed when the
run ends; a process that locked a file removed meanwhile tries again on the new one.
"""
from __future__ import annotations

import fcntl
import os
from pathlib import Path


class RunBusy(Exception):
    """Another process holds the run: one line naming the run and the process."""


def lock_path(store_path: str | Path, run_id: str) -> Path:
    p = Path(store_path)
    return p.with_name(f"{p.name}-{run_id}.lock")


class RunLock:
    def __init__(self, store_path: str | Path, run_id: str):
        self.path = lock_path(store_path, run_id)
        self.run_id = run_id
        self.fd: int | None = None

    def acquire(self) -> RunLock:
        """Take the lock or raise ``RunBusy``; never waits."""
        while True:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.read(fd, 32).decode(errors="replace").strip() or "?"
                os.close(fd)
                raise RunBusy(f"run {self.run_id} is busy: process {holder} is running it "
                              f"(lock {self.path})") from None
            try:
                same = os.fstat(fd).st_ino == os.stat(self.path).st_ino
            except FileNotFoundError:
                same = False
            if same:  # not a file its last holder removed after we opened it
                break
            os.close(fd)
        os.ftruncate(fd, 0)
        os.pwrite(fd, str(os.getpid()).encode(), 0)
        self.fd = fd
        return self

    def release(self) -> None:
        if self.fd is None:
            return
        try:
            os.unlink(self.path)
        except OSError:
            pass
        os.close(self.fd)  # closing drops the lock
        self.fd = None

    def __enter__(self) -> RunLock:
        return self.acquire()

    def __exit__(self, *exc) -> None:
        self.release()
