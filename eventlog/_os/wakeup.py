"""Cross-process wake-ups: sleep until a file in a watched directory changes.

This module owns `DirWatcher`, the only way a reader learns, without spinning, that another
process appended to (or created, renamed in, closed or deleted) a file in a partition
directory. Writers do nothing special: a plain `write`/`pwrite`, `open(O_CREAT)`, `rename` or
`unlink` in a watched directory is the signal, so the two processes share nothing but the file
system.

Backends (chosen once, in `DirWatcher.__init__`):

* ``"inotify"`` (Linux): one inotify instance per watcher, opened with
  ``inotify_init1(IN_NONBLOCK | IN_CLOEXEC)`` through ctypes, one kernel watch per directory
  for IN_MODIFY, IN_CREATE, IN_MOVED_TO, IN_CLOSE_WRITE and IN_DELETE (plus the "self" events
  that say the directory itself went away). `wait` blocks in ``epoll_wait`` on the inotify fd,
  so idling costs no CPU and a wake-up is one scheduler hop after the writer's syscall.
* ``"poll"`` (other systems, inotify unavailable, or ``EVENTLOG_WAKEUP=poll``): `wait`
  compares a signature of each watched directory — its own and every entry's
  ``(st_mtime_ns, st_size)`` — with the one taken when the previous `wait`/`drain` returned,
  sleeping between checks with a backoff from 0.5 ms to 50 ms.

Choice order: the ``backend`` argument, then the ``EVENTLOG_WAKEUP`` environment variable
(``auto``, ``inotify`` or ``poll``), then auto (inotify if it can be set up, else polling with
a `RuntimeWarning` on Linux). If the kernel refuses a watch because
``fs.inotify.max_user_watches`` is exhausted, that one directory is polled instead (with a
warning) while the others keep their kernel watches.

Invariants:

* Level-triggered and lossless: a change made after `wait` or `drain` last returned makes the
  next `wait` return True at once, however long the caller took in between. inotify events
  queue in the kernel until read (an overflow is itself an event); the polling baseline is
  only advanced by `wait`/`drain`. A caller that re-checks its files after every True can
  therefore never sleep through data. Spurious True returns are allowed (for example, the
  caller's own reads of data that arrived before it called `wait` are already covered).
* `wait` and `drain` consume everything pending: after they return, only new changes wake.
  `drain` reads the inotify fd in 64 KiB `readv` calls into one preallocated buffer and does
  not parse events in Python unless the buffer holds an IN_IGNORED event (found with one C
  substring search), which happens only when a watch is removed.
* A watched directory that is deleted (IN_DELETE_SELF / IN_IGNORED, or gone when polled)
  wakes the watcher once and silently stops being watched; `watch` it again after
  re-creating it. Removing a watch ourselves (`unwatch`) is not reported as a change.
* `close` may be called from any thread (or a signal handler) while another thread is in
  `wait`: the waiter returns False promptly (an eventfd / `threading.Event` interrupts it),
  and file descriptors are closed only when the last in-flight call has left, so a closed
  descriptor number is never polled or read. Any call after `close` except `close` raises
  `LogClosedError`. Use from a child created by fork raises `ForkedProcessError` (the kernel
  queue would be shared with the parent); fork is detected by `_fs.fork_generation`.
* Events are shared by all threads waiting on one watcher: whichever `wait`/`drain` reads
  them consumes them. Use one waiting thread per watcher.

Limits: inotify sees only changes made through this host's kernel (not writes by other hosts
on a network file system) and not stores into a shared `mmap` of the file; watches are not
recursive (a change inside a subdirectory is not reported). The polling backend sees a change
only when it moves a size or an mtime; an in-place rewrite of the same length within one
timestamp tick of the file system is missed, which cannot happen to an append-only log.
"""
from __future__ import annotations

import ctypes
import errno
import io
import math
import os
import select
import struct
import sys
import threading
import time
import warnings

from eventlog._os.fs import fork_generation
from eventlog.errors import (ForkedProcessError, InvalidArgumentError, InvalidTypeError,
                             LogClosedError)

__all__ = ["DirWatcher"]

# <sys/inotify.h>
IN_MODIFY = 0x00000002
IN_CLOSE_WRITE = 0x00000008
IN_MOVED_TO = 0x00000080
IN_CREATE = 0x00000100
IN_DELETE = 0x00000200
IN_DELETE_SELF = 0x00000400
IN_MOVE_SELF = 0x00000800
IN_Q_OVERFLOW = 0x00004000
IN_IGNORED = 0x00008000
IN_ONLYDIR = 0x01000000
IN_EXCL_UNLINK = 0x04000000
IN_NONBLOCK = os.O_NONBLOCK   # defined equal to these by the kernel on every architecture
IN_CLOEXEC = os.O_CLOEXEC

_WATCH_MASK = (IN_MODIFY | IN_CREATE | IN_MOVED_TO | IN_CLOSE_WRITE | IN_DELETE
               | IN_DELETE_SELF | IN_MOVE_SELF | IN_ONLYDIR | IN_EXCL_UNLINK)

_EVENT = struct.Struct("=iIII")          # struct inotify_event: wd, mask, cookie, len; name
_MAX_EVENT = _EVENT.size + 255 + 1       # header + NAME_MAX + NUL
_READ_SIZE = 64 * 1024
# The mask field of an IN_IGNORED event, as it sits in the buffer: if these 4 bytes are absent
# no event in the buffer is IN_IGNORED, and the buffer need not be parsed.
_IGNORED_BYTES = struct.pack("=I", IN_IGNORED)

_POLL_MIN_S = 0.0005
_POLL_MAX_S = 0.05

_BACKENDS = ("auto", "inotify", "poll")


# --------------------------------------------------------------------------- inotify syscalls


_closer_lock = threading.Lock()
_closer_queue = []
_closer_event = threading.Event()


def _closer_loop():
    while True:
        _closer_event.wait()
        with _closer_lock:
            fds = _closer_queue[:]
            del _closer_queue[:]
            _closer_event.clear()
        for fd in fds:
            try:
                os.close(fd)
            except OSError:
                pass


_closer_thread = None


def _close_later(fd):
    """Close an inotify descriptor on a background thread: the kernel waits for an RCU grace
    period when the last watch of an instance goes (8-16 ms measured here), which would
    otherwise stall every consumer.close().

    While the interpreter shuts down (a watcher never closed, collected by `__del__` during
    finalisation) the descriptor is closed here and now: a thread started then never runs,
    and `Thread.start` would wait for it forever (the process would hang at exit)."""
    global _closer_thread
    if sys.is_finalizing():
        try:
            os.close(fd)
        except OSError:
            pass
        return
    with _closer_lock:
        _closer_queue.append(fd)
        if _closer_thread is None or not _closer_thread.is_alive():
            _closer_thread = threading.Thread(target=_closer_loop, name="eventlog-fd-closer", daemon=True)
            _closer_thread.start()
    _closer_event.set()

class _Libc:
    __slots__ = ("init1", "add_watch", "rm_watch")


_libc: _Libc | None = None
_libc_lock = threading.Lock()


def _load_libc() -> _Libc:
    """The three inotify functions of the C library; OSError(ENOSYS) if there are none."""
    global _libc
    if _libc is not None:
        return _libc
    with _libc_lock:
        if _libc is None:
            if not sys.platform.startswith("linux"):
                raise OSError(errno.ENOSYS, f"inotify is Linux-only (platform {sys.platform!r})")
            try:
                cdll = ctypes.CDLL(None, use_errno=True)
                lib = _Libc()
                lib.init1 = cdll.inotify_init1
                lib.add_watch = cdll.inotify_add_watch
                lib.rm_watch = cdll.inotify_rm_watch
            except (OSError, AttributeError) as exc:
                raise OSError(errno.ENOSYS, f"inotify functions not found in libc: {exc}") from exc
            lib.init1.argtypes = [ctypes.c_int]
            lib.init1.restype = ctypes.c_int
            lib.add_watch.argtypes = [ctypes.c_int, ctypes.c_char_p, ctypes.c_uint32]
            lib.add_watch.restype = ctypes.c_int
            lib.rm_watch.argtypes = [ctypes.c_int, ctypes.c_int]
            lib.rm_watch.restype = ctypes.c_int
            _libc = lib
    return _libc


def _inotify_init() -> int:
    lib = _load_libc()
    while True:
        fd = lib.init1(IN_NONBLOCK | IN_CLOEXEC)
        if fd >= 0:
            return fd
        err = ctypes.get_errno()
        if err != errno.EINTR:
            hint = ""
            if err == errno.EMFILE:
                hint = " (per-user limit fs.inotify.max_user_instances reached?)"
            raise OSError(err, f"inotify_init1: {os.strerror(err)}{hint}")


def _inotify_add_watch(fd: int, path: str, mask: int) -> int:
    """Kernel watch descriptor for `path` (the same one again for an already-watched inode)."""
    lib = _load_libc()
    bpath = os.fsencode(path)
    while True:
        wd = lib.add_watch(fd, bpath, mask)
        if wd >= 0:
            return wd
        err = ctypes.get_errno()
        if err != errno.EINTR:
            raise OSError(err, os.strerror(err), path)


def _inotify_rm_watch(fd: int, wd: int) -> bool:
    """Remove a watch; False if the kernel had already dropped it (EINVAL)."""
    lib = _load_libc()
    while True:
        if lib.rm_watch(fd, wd) == 0:
            return True
        err = ctypes.get_errno()
        if err == errno.EINVAL:
            return False
        if err != errno.EINTR:
            raise OSError(err, f"inotify_rm_watch: {os.strerror(err)}")


# --------------------------------------------------------------------------- polling support

def _dir_signature(path: str):
    """What polling compares: the directory's and each entry's (st_mtime_ns, st_size).

    Raises FileNotFoundError / NotADirectoryError if `path` is not (or no longer) a directory.
    """
    st = os.stat(path)
    entries = {}
    with os.scandir(path) as it:
        for entry in it:
            try:
                est = entry.stat()
            except FileNotFoundError:  # deleted between readdir and stat
                continue
            entries[entry.name] = (est.st_mtime_ns, est.st_size)
    return (st.st_ino, st.st_mtime_ns, st.st_size), entries


class _Signatures:
    """Baseline signatures of polled directories; `check` reports and absorbs changes."""

    def __init__(self):
        self._base: dict[str, object] = {}
        self._lock = threading.Lock()

    def __bool__(self):
        return bool(self._base)

    def __contains__(self, path):
        return path in self._base

    def paths(self):
        return set(self._base)

    def add(self, path: str) -> None:
        with self._lock:
            if path not in self._base:  # re-adding must not move the baseline (would lose news)
                self._base[path] = _dir_signature(path)

    def discard(self, path: str) -> None:
        with self._lock:
            self._base.pop(path, None)

    def check(self) -> bool:
        """True if any directory changed since the last check (and take that as the baseline)."""
        changed = False
        with self._lock:
            for path, old in list(self._base.items()):
                try:
                    new = _dir_signature(path)
                except (FileNotFoundError, NotADirectoryError):
                    del self._base[path]  # gone: report once, stop watching
                    changed = True
                    continue
                if new != old:
                    self._base[path] = new
                    changed = True
        return changed


# --------------------------------------------------------------------------- backends
# A backend does the mechanics; DirWatcher owns the life cycle (closed flag, in-flight calls,
# fork check), so a backend's `release` is never called while one of its methods runs.

class _InotifyBackend:
    name = "inotify"

    def __init__(self):
        self._fd = _inotify_init()
        try:
            if hasattr(os, "eventfd"):
                self._wake_r = self._wake_w = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)
            else:
                self._wake_r, self._wake_w = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)
            try:
                self._ep = select.epoll(2)  # one object: epoll_wait may run in several threads
                self._ep.register(self._fd, select.EPOLLIN)
                self._ep.register(self._wake_r, select.EPOLLIN)
            except BaseException:
                self._close_wake()
                raise
        except BaseException:
            os.close(self._fd)
            raise
        self._buf = bytearray(_READ_SIZE)
        self._read_lock = threading.Lock()    # guards _buf
        self._table_lock = threading.RLock()  # guards the tables below
        self._wd_by_path: dict[str, int] = {}
        self._paths_by_wd: dict[int, set[str]] = {}
        self._dropped: set[int] = set()  # wds we removed: their IN_IGNORED is not news
        self._polled = _Signatures()     # directories the kernel would not watch (ENOSPC)
        self._interrupted = False

    # -- watches

    def watch(self, path: str) -> None:
        # Always ask the kernel (cheap): it returns the existing wd for a watched inode, and a
        # new one if the directory was deleted and re-created under the same name.
        try:
            wd = _inotify_add_watch(self._fd, path, _WATCH_MASK)
        except OSError as exc:
            if exc.errno != errno.ENOSPC:
                raise
            if path not in self._polled:
                warnings.warn(
                    f"inotify watch limit reached (fs.inotify.max_user_watches); polling "
                    f"{path!r} instead, its wake-ups will be slower", RuntimeWarning,
                    stacklevel=3)
                self._polled.add(path)
            return
        with self._table_lock:
            self._polled.discard(path)
            old = self._wd_by_path.get(path)
            if old == wd:
                return
            if old is not None:
                self._detach(path, old)
            self._wd_by_path[path] = wd
            self._paths_by_wd.setdefault(wd, set()).add(path)

    def unwatch(self, path: str) -> None:
        self._polled.discard(path)
        with self._table_lock:
            wd = self._wd_by_path.get(path)
            if wd is not None:
                self._detach(path, wd)

    def _detach(self, path: str, wd: int) -> None:
        """Forget path -> wd; remove the kernel watch when no other path shares it."""
        del self._wd_by_path[path]
        paths = self._paths_by_wd.get(wd)
        if paths is not None:
            paths.discard(path)
            if not paths:
                del self._paths_by_wd[wd]
                if _inotify_rm_watch(self._fd, wd):
                    self._dropped.add(wd)

    def watched(self) -> set[str]:
        with self._table_lock:
            return set(self._wd_by_path) | self._polled.paths()

    # -- events

    def _read_events(self) -> bool:
        """Consume every queued event; True if any of them is news for the caller."""
        news = False
        buf = self._buf
        with self._read_lock:
            while True:
                try:
                    n = os.readv(self._fd, [buf])
                except BlockingIOError:
                    break
                if n <= 0:
                    break
                if buf.find(_IGNORED_BYTES, 0, n) >= 0:
                    news = self._parse_ignored(n) or news
                else:
                    news = True
                if n < _READ_SIZE - _MAX_EVENT:  # the kernel had no more whole events for us
                    break
        return news

    def _parse_ignored(self, n: int) -> bool:
        """Slow path: drop watches the kernel removed; ignore IN_IGNORED for our own removals."""
        news = False
        buf = self._buf
        off = 0
        with self._table_lock:
            while off + _EVENT.size <= n:
                wd, mask, _cookie, length = _EVENT.unpack_from(buf, off)
                off += _EVENT.size + length
                if not mask & IN_IGNORED:
                    news = True
                    continue
                if wd in self._dropped:
                    self._dropped.discard(wd)
                    continue
                news = True  # deleted directory (or unmounted file system)
                for path in self._paths_by_wd.pop(wd, ()):
                    if self._wd_by_path.get(path) == wd:
                        del self._wd_by_path[path]
        return news

    def wait(self, deadline: float | None) -> bool:
        delay = _POLL_MIN_S
        while True:
            if deadline is None:
                timeout = None
            else:
                timeout = max(0.0, deadline - time.monotonic())
            if self._polled:
                timeout = delay if timeout is None else min(timeout, delay)
            if self._interrupted:
                return False
            ready = self._ep.poll(timeout, 2)  # retried on EINTR by Python (PEP 475)
            if self._interrupted:
                return False
            if ready and self._read_events():
                return True
            if self._polled:
                if self._polled.check():
                    return True
                delay = min(delay * 2, _POLL_MAX_S)
            if deadline is not None and time.monotonic() >= deadline:
                return False

    def drain(self) -> bool:
        news = self._read_events()
        if self._polled and self._polled.check():
            news = True
        return news

    def fileno(self) -> int:
        return self._fd

    # -- life cycle

    def interrupt(self) -> None:
        self._interrupted = True
        try:
            if self._wake_w == self._wake_r:
                os.eventfd_write(self._wake_w, 1)
            else:
                os.write(self._wake_w, b"\0")
        except (BlockingIOError, OSError):
            pass  # already signalled (full) or closed: either way the waiter sees the flag

    def _close_wake(self) -> None:
        os.close(self._wake_r)
        if self._wake_w != self._wake_r:
            os.close(self._wake_w)

    def release(self) -> None:
        self._interrupted = True
        self._ep.close()
        self._close_wake()
        _close_later(self._fd)


class _PollingBackend:
    name = "poll"

    def __init__(self):
        self._sigs = _Signatures()
        self._stop = threading.Event()

    def watch(self, path: str) -> None:
        self._sigs.add(path)

    def unwatch(self, path: str) -> None:
        self._sigs.discard(path)

    def watched(self) -> set[str]:
        return self._sigs.paths()

    def wait(self, deadline: float | None) -> bool:
        delay = _POLL_MIN_S
        while True:
            if self._sigs.check():
                return True
            if deadline is None:
                sleep = delay
            else:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                sleep = min(delay, remaining)
            if self._stop.wait(sleep):
                return False
            delay = min(delay * 2, _POLL_MAX_S)

    def drain(self) -> bool:
        return self._sigs.check()

    def fileno(self) -> int:
        raise io.UnsupportedOperation("the polling DirWatcher backend has no file descriptor")

    def interrupt(self) -> None:
        self._stop.set()

    def release(self) -> None:
        self._stop.set()


# --------------------------------------------------------------------------- public class

class DirWatcher:
    """Sleep until something changes in any of a set of directories (see the module docstring).

    `backend` is ``"inotify"``, ``"poll"`` or ``"auto"``/None (then ``EVENTLOG_WAKEUP``, then
    inotify if available). Typical use::

        with DirWatcher() as w:
            w.watch(partition_dir)
            while True:
                data = read_what_is_new()
                if not data:
                    w.wait(timeout)  # changes after the previous wait are never missed
    """

    def __init__(self, backend: str | None = None):
        choice = backend if backend is not None else (
            os.environ.get("EVENTLOG_WAKEUP", "").strip().lower() or "auto")
        if choice not in _BACKENDS:
            source = "backend" if backend is not None else "EVENTLOG_WAKEUP"
            raise InvalidArgumentError(
                f"{source}={choice!r} is not a wake-up backend; use one of {', '.join(_BACKENDS)}")
        impl = None
        if choice in ("auto", "inotify"):
            try:
                impl = _InotifyBackend()
            except OSError as exc:
                if choice == "inotify":
                    raise
                if sys.platform.startswith("linux"):
                    warnings.warn(f"inotify unavailable ({exc}); DirWatcher falls back to "
                                  f"polling, wake-ups will be slower", RuntimeWarning,
                                  stacklevel=2)
        if impl is None:
            impl = _PollingBackend()
        self._impl = impl
        self._pid = os.getpid()
        self._fork = fork_generation()
        self._lock = threading.RLock()  # reentrant: close() may run in a signal handler
        self._users = 0                 # calls in flight; fds are closed only when it is 0
        self._closed = False
        self._released = False

    # -- life cycle

    def _enter(self) -> None:
        with self._lock:
            self._users += 1
        if self._closed:
            self._exit()
            raise LogClosedError("DirWatcher was used after close()")
        if self._fork != fork_generation():
            self._exit()
            raise ForkedProcessError(
                f"a wake-up watcher (of a Consumer) created in process {self._pid} was used in "
                f"forked child {os.getpid()}; open the log in the child (eventlog.open) and "
                f"create the Consumer there")

    def _exit(self) -> None:
        with self._lock:
            self._users -= 1
            release = self._closed and self._users == 0 and not self._released
            if release:
                self._released = True
        if release:
            self._impl.release()

    def close(self) -> None:
        """Stop watching and free the descriptors; a concurrent `wait` returns False. Idempotent."""
        with self._lock:
            if self._closed:
                return
            self._closed = True
            release = self._users == 0 and not self._released
            if release:
                self._released = True
        if release:
            self._impl.release()
        else:
            self._impl.interrupt()

    @property
    def closed(self) -> bool:
        return self._closed

    @property
    def backend(self) -> str:
        """``"inotify"`` or ``"poll"``: the mechanism in use."""
        return self._impl.name

    def __enter__(self):
        return self

    def __exit__(self, *exc_info):
        self.close()

    def __del__(self):
        try:
            if not self._closed and self._fork == fork_generation():
                self.close()
        except Exception:  # interpreter shutdown or a half-built object
            pass

    def __repr__(self):
        state = "closed" if self._closed else f"{len(self._impl.watched())} dirs"
        return f"<DirWatcher {self._impl.name} {state}>"

    # -- watches

    @staticmethod
    def _key(path) -> str:
        try:
            p = os.fspath(path)
        except TypeError:
            raise InvalidTypeError(
                f"path must be str, bytes or os.PathLike, not {type(path).__name__}") from None
        return os.path.abspath(os.fsdecode(p))

    def watch(self, path) -> None:
        """Watch directory `path` (resolved to an absolute path now). Idempotent.

        Raises FileNotFoundError / NotADirectoryError / PermissionError for a bad path.
        Watching again after the directory was deleted and re-created watches the new one.
        """
        key = self._key(path)
        self._enter()
        try:
            self._impl.watch(key)
        finally:
            self._exit()

    def unwatch(self, path) -> None:
        """Stop watching `path`; a no-op if it is not watched."""
        key = self._key(path)
        self._enter()
        try:
            self._impl.unwatch(key)
        finally:
            self._exit()

    @property
    def watched(self) -> frozenset[str]:
        """Absolute paths being watched (a deleted directory leaves after the next wait/drain)."""
        self._enter()
        try:
            return frozenset(self._impl.watched())
        finally:
            self._exit()

    # -- waiting

    def wait(self, timeout: float | None = None) -> bool:
        """Block until a watched directory changes or `timeout` seconds pass (None: forever).

        Returns True if woken by a change made since the previous `wait`/`drain` returned (at
        once if one is already pending), False on timeout or if `close` was called meanwhile.
        Pending changes are consumed. A timeout <= 0 only checks.
        """
        if timeout is None:
            deadline = None
        else:
            try:
                if isinstance(timeout, (bool, str, bytes)):
                    raise TypeError
                timeout = float(timeout)
            except TypeError:
                raise InvalidTypeError(
                    f"timeout must be a number of seconds or None, not {type(timeout).__name__}"
                ) from None
            if math.isnan(timeout):
                raise InvalidArgumentError("timeout must be a number of seconds, not NaN")
            deadline = None if math.isinf(timeout) and timeout > 0 else (
                time.monotonic() + max(0.0, timeout))
        self._enter()
        try:
            return self._impl.wait(deadline)
        finally:
            self._exit()

    def drain(self) -> bool:
        """Consume pending changes without blocking; True if there were any."""
        self._enter()
        try:
            return self._impl.drain()
        finally:
            self._exit()

    def fileno(self) -> int:
        """The inotify descriptor (readable while changes are pending; call `drain` then).

        Raises io.UnsupportedOperation for the polling backend.
        """
        self._enter()
        try:
            return self._impl.fileno()
        finally:
            self._exit()
