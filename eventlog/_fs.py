"""Operating-system adapters: atomic file replacement, directory fsync, flock, fork guard.

Invariants: a file written with `atomic_write` is either its old content or its new content
after any crash (temp file in the same directory, fsync, rename, fsync of the directory);
lock files are created once and never deleted.

fork(): this module is the one place that handles it (`os.register_at_fork`). In every child
made by fork(), first thing, `fork_generation()` changes, so objects made before the fork
see that they are in a child and refuse to be used there (ForkedProcessError naming the
public class and saying to open the log in the child); and every object registered with
`release_in_forked_child` has its `_after_fork_in_child()` called, which closes the child's
copies of the descriptors that carry flocks (member, ownership, leader and group locks, a
partition's append lock). A flock belongs to the open file, which a forked child shares:
without this a child would keep its parent's locks after the parent died (its partitions
would not move, a writer would wait forever). The hooks run while only the forking thread
exists in the child, so they take no thread locks (another thread may have held one at the
fork) and only close descriptors and mark the object forked.
"""
import fcntl
import json
import os
import secrets
import time
import weakref

_fork_gen = [0]
_release_at_fork = weakref.WeakSet()


def release_in_forked_child(obj):
    """Call `obj._after_fork_in_child()` in the child after any later fork() (see the
    module docstring). Held weakly: a collected object needs nothing."""
    _release_at_fork.add(obj)


def _after_fork_in_child():
    _fork_gen[0] += 1
    objs = list(_release_at_fork)
    _release_at_fork.clear()      # a grandchild has nothing more to release from these
    for obj in objs:
        try:
            obj._after_fork_in_child()
        except Exception:
            pass


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

    __slots__ = ("path", "fd", "__weakref__")

    def __init__(self, path):
        self.path = path
        self.fd = -1

    def _open(self):
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        release_in_forked_child(self)

    def _after_fork_in_child(self):
        fd, self.fd = self.fd, -1
        if fd >= 0:
            os.close(fd)    # the parent's lock (if held) stays the parent's alone

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
