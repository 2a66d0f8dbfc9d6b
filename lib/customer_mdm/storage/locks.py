"""Lake locks: one writer at a time per part of the lake (a source's ingest, its hop 1, gold's hop 2).

Delta's optimistic commits keep each table consistent, but a hop's watermark
logic assumes nobody else applies the same increment at the same moment: two
batch jobs started together would both read "nothing applied yet". A lock
file under ``<lake>/_locks/`` held with ``flock`` makes the second wait until
the first is done; it then finds the work committed and skips it. The kernel
releases the lock of a killed process, so a crash never leaves it stuck.
Locks are re-entrant within a process and also serialize its threads.

``flock`` needs a local or NFS-like lake folder; on an object store, run one
writer per part of the lake (README, Limits).
"""
from __future__ import annotations

import fcntl
import logging
import os
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from customer_mdm.errors import StorageError

log = logging.getLogger(__name__)

_guard = threading.Lock()
_thread_locks: dict[str, threading.RLock] = {}
_held: dict[str, tuple[int, int]] = {}  # lock path -> (file descriptor, re-entry depth)


class LockTimeout(StorageError):
    """Another job held a lake lock for longer than this job was willing to wait."""


@contextmanager
def lake_lock(lake_root: Path, name: str, *, wait_seconds: float, poll_seconds: float = 0.5) -> Iterator[None]:
    """Holds ``<lake_root>/_locks/<name>.lock`` for the block, waiting up to ``wait_seconds`` for it."""
    path = str(lake_root / "_locks" / f"{name}.lock")
    with _guard:
        in_process = _thread_locks.setdefault(path, threading.RLock())
    with in_process:
        fd, depth = _held.get(path, (-1, 0))
        if depth == 0:
            fd = _acquire(path, name, wait_seconds=wait_seconds, poll_seconds=poll_seconds)
        _held[path] = (fd, depth + 1)
        try:
            yield
        finally:
            if depth == 0:
                del _held[path]
                fcntl.flock(fd, fcntl.LOCK_UN)
                os.close(fd)
            else:
                _held[path] = (fd, depth)


def _acquire(path: str, name: str, *, wait_seconds: float, poll_seconds: float) -> int:
    os.makedirs(os.path.dirname(path), exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    started = time.monotonic()
    told = False
    while True:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = _holder(fd)
            waited = time.monotonic() - started
            if waited >= wait_seconds:
                os.close(fd)
                raise LockTimeout(f"lake lock {name} is held by {holder} for more than {wait_seconds:.0f} s; "
                                  f"stopped before writing (lock file {path})") from None
            if not told:
                log.info("waiting for lake lock %s, held by %s", name, holder)
                told = True
            time.sleep(poll_seconds)
            continue
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}\n".encode(), 0)
        if told:
            log.info("lake lock %s taken after %.1fs", name, time.monotonic() - started)
        return fd


def _holder(fd: int) -> str:
    text = os.pread(fd, 64, 0).decode(errors="replace").strip()
    return text or "another process"
