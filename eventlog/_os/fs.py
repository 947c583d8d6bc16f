"""Operating-system adapters: atomic file replacement, directory fsync, flock, fork guard,
positioned writes, and turning the OS's refusals into eventlog errors.

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

`write_at` writes all of its bytes or raises (a short write is continued, never left as
success).

OS failures a user can act on (permission, read-only file system, disk full, too many open
files, I/O error) leave eventlog's public calls only as `StorageError` subclasses naming the
operation, the path and what to do: `storage_errors` (a decorator) and `wrap_public_methods`
(for a whole class) are the one place that translation happens. Other OSErrors (a file
that vanished, say) pass unchanged: callers inside eventlog handle those.
"""
import errno
import fcntl
import functools
import inspect
import json
import os
import resource
import secrets
import weakref

from eventlog._os.clock import now_ms  # noqa: F401  (re-exported: the clock module owns it)
from eventlog.errors import (DiskFullError, ReadOnlyStorageError, StorageError, StoragePermissionError,
                     TooManyOpenFilesError)

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


def fork_generation():
    """A number that changes in every child made by fork() (see the module docstring)."""
    return _fork_gen[0]


def check_usable(closed, fork, closed_error, forked_error):
    """The one "not closed, not forked" guard of eventlog's handles (Log, Partition, Producer,
    Consumer): raise `closed_error()` if `closed`, else `forked_error()` if `fork` (the
    `fork_generation()` when the object was made) is not the current generation. The
    error factories (usually bound methods) word the message for the object."""
    if closed:
        raise closed_error()
    if fork != _fork_gen[0]:
        raise forked_error()


def fsync_dir(path, *, strict=False):
    """fsync the directory `path` (so entries created or renamed in it survive a power cut).
    `strict=False` ignores a failure (best effort); `strict=True` raises it."""
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0) | os.O_CLOEXEC)
    except OSError:
        if strict:
            raise
        return
    try:
        os.fsync(fd)
    except OSError:
        if strict:
            raise
    finally:
        os.close(fd)


def atomic_write(path, data, fsync=True):
    """Replace `path` with `data` (bytes) so that a crash leaves the old or the new content.

    The data goes to a temp file `.<name>.<pid>.<12 hex>.tmp` beside `path`, flocked by its
    writer until it is renamed into place (so a cleaner can tell a live writer's temp file
    from an abandoned one: `remove_abandoned_temp`); with `fsync` the file is fsynced before
    the rename and the directory after it, and a failure of either raises. On any failure the
    temp file is removed and `path` keeps its old content."""
    d = os.path.dirname(path) or "."
    tmp = os.path.join(d, f".{os.path.basename(path)}.{os.getpid()}.{secrets.token_hex(6)}.tmp")
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_CLOEXEC, 0o644)
    try:
        # held until we are done: tells cleaners that this temp file's writer is alive
        fcntl.flock(fd, fcntl.LOCK_EX)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view):]
        if fsync:
            os.fsync(fd)
        os.replace(tmp, path)
    except BaseException:
        try:
            os.unlink(tmp)
        except OSError:
            pass
        raise
    finally:
        os.close(fd)
    if fsync:
        fsync_dir(d, strict=True)


def remove_abandoned_temp(path):
    """Delete a temp file of `atomic_write` whose writer is gone; True if it is gone, False
    if still in use (its writer holds its flock)."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        return True
    except IsADirectoryError:
        return False
    try:
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False        # its writer is alive
        try:
            same = os.path.samestat(os.stat(path), os.fstat(fd))
        except FileNotFoundError:
            return True         # renamed into place (or removed) meanwhile
        if same:
            try:
                os.unlink(path)
            except FileNotFoundError:
                pass
        return same
    finally:
        os.close(fd)


def atomic_write_json(path, obj, fsync=True):
    """`atomic_write` of `obj` as JSON (indented, keys sorted, UTF-8)."""
    atomic_write(path, (json.dumps(obj, indent=1, sort_keys=True) + "\n").encode("utf-8"), fsync)


def read_json(path):
    """The JSON document at `path`. Raises FileNotFoundError if it is missing and ValueError
    if it is not valid JSON (for files whose damage must be reported)."""
    with open(path, "rb") as f:
        return json.loads(f.read().decode("utf-8"))


def read_json_or_none(path):
    """The JSON document at `path`, or None if it is missing or not valid JSON (for files
    that are replaced atomically and rebuilt when lost, so invalid means damaged: treated
    as absent)."""
    try:
        with open(path, "rb") as f:
            data = f.read()
    except (FileNotFoundError, NotADirectoryError, IsADirectoryError):
        return None
    try:
        return json.loads(data)
    except ValueError:
        return None


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


# -- writes ------------------------------------------------------------------------------------------

_pwritev = os.pwritev  # the positioned writes of log data (tests wrap them to inject faults)
_pwrite = os.pwrite


def write_at(fd, buffers, pos, length):
    """Write `buffers` (`length` bytes in all) at `pos` of `fd`: a list of buffers, written
    back to back, or one bytes object.

    One `pwritev` (`pwrite` for one bytes object) in the normal case; a short write (the
    kernel may write less, e.g. just before the disk fills) is continued from where it
    stopped, so this returns only when all `length` bytes are written, and otherwise raises
    the OSError of the call that failed."""
    if buffers.__class__ is bytes:
        n = _pwrite(fd, buffers, pos)
        if n == length:
            return
        data = memoryview(buffers)
    else:
        n = _pwritev(fd, buffers, pos)
        if n == length:
            return
        data = memoryview(b"".join(buffers))
    done = n
    while done < length:
        n = _pwritev(fd, (data[done:],), pos + done)
        if n <= 0:  # no progress and no error: do not loop forever
            raise OSError(errno.ENOSPC, f"wrote nothing of the last {length - done} bytes "
                                        "(the file system is probably full)")
        done += n


# -- OS errors -> eventlog errors ---------------------------------------------------------------------

def _limit_nofile():
    try:
        return resource.getrlimit(resource.RLIMIT_NOFILE)[0]
    except (OSError, ValueError):
        return "?"


def _advice_permission(path):
    return (f"check the owner and mode of that path and its parent directories (ls -ld); this "
            f"process runs as uid {os.geteuid()}: use the log as a user who may write there")


_KINDS = {
    errno.EACCES: (StoragePermissionError, "permission denied", _advice_permission),
    errno.EPERM: (StoragePermissionError, "operation not permitted", _advice_permission),
    errno.EROFS: (ReadOnlyStorageError, "read-only file system",
                  lambda p: "the file system holding the log is mounted read-only: remount it "
                            "read-write, or copy the log to a writable place"),
    errno.ENOSPC: (DiskFullError, "no space left on device",
                   lambda p: "free space on that file system, or lower the topics' retention "
                             "(retention_ms, retention_bytes) and run log.maintain() / "
                             "'eventlog maintain'"),
    errno.EDQUOT: (DiskFullError, "disk quota exceeded",
                   lambda p: "free space within your quota or ask for a larger one"),
    errno.EMFILE: (TooManyOpenFilesError, "too many open files in this process",
                   lambda p: f"raise the limit (ulimit -n; now {_limit_nofile()}) or open the log "
                             "with a smaller max_open_partitions"),
    errno.ENFILE: (TooManyOpenFilesError, "too many open files in the system",
                   lambda p: "the whole system is out of file descriptors: close other programs' "
                             "files or raise fs.file-max"),
    errno.EIO: (StorageError, "input/output error",
                lambda p: "the storage device reported an error: check the system log (dmesg) "
                          "and the disk; then run 'eventlog verify'"),
}


def storage_error(exc, operation, path=None):
    """The `StorageError` for OSError `exc` raised while doing `operation` (a phrase such as
    "Log.create_topic()" or "append to orders[0]") on `path`; None if `exc` is not a storage
    failure the user must act on (it is then left as it is). `exc.filename`, when the OS
    gave one, wins over `path`. A `StorageError` from a call nested inside `operation` is
    worded again for `operation` (the call the user made), from the OSError it came from."""
    if isinstance(exc, StorageError):
        if exc.operation == operation or not isinstance(exc.__cause__, OSError):
            return None
        exc, path = exc.__cause__, exc.path
    if not isinstance(exc, OSError):
        return None
    kind = _KINDS.get(exc.errno)
    if kind is None:
        return None
    cls, what, advice = kind
    where = exc.filename if exc.filename is not None else path
    if isinstance(where, bytes):
        where = os.fsdecode(where)
    detail = f"{what}: {where}" if where is not None else what
    if exc.filename2 is not None:
        detail += f" -> {os.fsdecode(exc.filename2)}"
    err = cls(f"{operation} failed: {detail} ({errno.errorcode.get(exc.errno, exc.errno)}); "
              f"{advice(where)}")
    err.errno = exc.errno
    err.strerror = exc.strerror or what
    err.filename = where
    err.operation = operation
    err.path = where
    return err


def _where(obj):
    for name in ("path", "dir"):
        p = getattr(obj, name, None)
        if isinstance(p, (str, bytes)):
            return p
    return None


def storage_errors(operation=None, where=_where):
    """Decorator for a method: an OSError it raises that `storage_error` recognises leaves as
    that `StorageError`, naming `operation` (a phrase, or a function of `self` returning
    one; default "Class.method()") and the path (the OS's, else `where(self)`: by default the
    object's `path` or `dir`)."""
    def deco(fn):
        def name(self):
            if operation is None:
                return f"{type(self).__name__}.{fn.__name__}()"
            return operation(self) if callable(operation) else operation

        if inspect.isgeneratorfunction(fn):
            @functools.wraps(fn)
            def gen_wrapper(self, *args, **kwargs):
                try:
                    return (yield from fn(self, *args, **kwargs))
                except OSError as e:
                    err = storage_error(e, name(self), where(self))
                    if err is None:
                        raise
                    raise err from (e.__cause__ if isinstance(e, StorageError) else e)
            return gen_wrapper

        @functools.wraps(fn)
        def wrapper(self, *args, **kwargs):
            try:
                return fn(self, *args, **kwargs)
            except OSError as e:
                raise_storage_error(e, name(self), where(self))
        return wrapper
    return deco


def raise_storage_error(exc, operation, path=None):
    """Raise the `StorageError` that `storage_error` makes of OSError `exc` (chained to the
    OSError), or `exc` itself if it is not one: what `storage_errors` does, for a hot method
    that catches OSError in its own body (a try block costs nothing until it catches; a
    wrapper costs a call on every call)."""
    err = storage_error(exc, operation, path)
    if err is None:
        raise exc
    raise err from (exc.__cause__ if isinstance(exc, StorageError) else exc)


_PUBLIC_DUNDERS = ("__init__", "__iter__", "__next__", "__exit__")


def wrap_public_methods(cls=None, *, where=_where, exclude=(), names=None):
    """Class decorator: apply `storage_errors` to every public method and property of `cls`
    (names without a leading underscore, plus __init__, __iter__, __next__ and __exit__)
    defined on it, except those named in `exclude` (hot paths that do no I/O). `names` may
    give the operation's wording for some methods (e.g. {"__init__": "eventlog.open()"})."""
    def deco(cls):
        said = {"__init__": f"{cls.__name__}()", **(names or {})}
        for name, attr in list(vars(cls).items()):
            if name in exclude or (name.startswith("_") and name not in _PUBLIC_DUNDERS):
                continue
            if isinstance(attr, property):
                op = said.get(name, f"{cls.__name__}.{name}")
                setattr(cls, name, property(
                    storage_errors(op, where)(attr.fget) if attr.fget else None,
                    storage_errors(op, where)(attr.fset) if attr.fset else None,
                    attr.fdel, attr.__doc__))
            elif isinstance(attr, (staticmethod, classmethod)):
                continue  # no instance to name a path from; none of them does I/O today
            elif inspect.isfunction(attr):
                setattr(cls, name, storage_errors(said.get(name), where)(attr))
        return cls
    return deco if cls is None else deco(cls)
