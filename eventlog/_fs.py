"""Operating-system adapters: atomic file replacement, directory fsync, flock, fork guard.

Invariants: a file written with `atomic_write` is either its old content or its new content
after any crash (temp file in the same directory, fsync, rename, fsync of the directory);
lock files are created once and never deleted; `fork_generation()` changes in every child
made by fork(), so objects that hold locks can refuse to be used there.
"""
import fcntl
import json
import os
import secrets
import time

_fork_gen = [0]


def _after_fork_in_child():
    _fork_gen[0] += 1


if hasattr(os, "register_at_fork"):
    os.register_at_fork(after_in_child=_after_fork_in_child)


def now_ms():
    """Wall-clock milliseconds since the epoch (the unit of record timestamps)."""
    return time.time_ns() // 1_000_000


def fork_generation():
    return _fork_gen[0]


def fsync_dir(path):
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path, data, fsync=True):
    """Replace `path` with `data` (bytes) so that a crash leaves the old or the new content."""
    d = os.path.dirname(path) or "."
    tmp = os.path.join(d, f".{os.path.basename(path)}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view:
            n = os.write(fd, view)
            view = view[n:]
        if fsync:
            os.fsync(fd)
    except BaseException:
        os.close(fd)
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    os.close(fd)
    try:
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    if fsync:
        fsync_dir(d)


def atomic_write_json(path, obj, fsync=True):
    atomic_write(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode("utf-8"), fsync)


def read_json(path):
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


class FileLock:
    """An exclusive flock on a lock file that is never deleted. Re-entrant per object is NOT
    provided: callers pair acquire/release. The descriptor is opened lazily and may be closed
    while unlocked (`close`) so idle partitions hold no descriptors."""

    __slots__ = ("path", "fd")

    def __init__(self, path):
        self.path = path
        self.fd = -1

    def _open(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)

    def acquire(self, blocking=True):
        if self.fd < 0:
            self._open()
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX if blocking else fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        return True

    def release(self):
        fcntl.flock(self.fd, fcntl.LOCK_UN)

    def close(self):
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1
