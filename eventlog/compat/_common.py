"""What both client facades share: where `bootstrap_servers` points, one shared `Log` per
directory, and config checking. (Record hand-out is in _fetcher, Kafka topic configs in
_topic_configs, group facts in _groups.)

Where a client's records go (first match wins):

1. a server entry ``eventlog:///abs/path`` (or ``eventlog:relative/path``) in
   `bootstrap_servers` / ``bootstrap.servers``; query parameters set the "cluster"
   defaults: ``?num_partitions=3&auto_create_topics=false``;
2. the log set with `eventlog.compat.use_log(...)` (the pytest plugin's fixtures set it);
3. the ``EVENTLOG_BOOTSTRAP_DIR`` environment variable.

Any other server list (``localhost:9092``, ``kafka:29092``...) is redirected to 2 or 3, so
an application configured for a real broker runs unchanged; with neither set, creating a
client fails with the client's "no brokers" error, saying how to point it at a log.

Invariants: one `Log` object per (process, directory), shared by every facade client in that
process and closed when the last client that opened it closes (a log handed to `use_log` as a
`Log` object is never closed here); a child process after fork opens its own.
"""
from __future__ import annotations

import contextlib
import os
import threading
import time
import urllib.parse

from eventlog import log as _logmod
from eventlog.storage.topic import validate_topic_name
from eventlog.errors import EventLogError, InvalidTopicError, UnknownTopicError

ENV_DIR = "EVENTLOG_BOOTSTRAP_DIR"
ENV_PARTITIONS = "EVENTLOG_NUM_PARTITIONS"
ENV_AUTO_CREATE = "EVENTLOG_AUTO_CREATE_TOPICS"
SCHEME = "eventlog:"

_lock = threading.RLock()
_defaults = []              # stack of _Target set by use_log()
_shared = {}                # (pid, path) -> [Log, refcount]


class NoLogConfigured(EventLogError):
    """No log directory for a client (each facade raises its own client's error type)."""


class _Target:
    """A resolved destination: a directory (opened and shared on demand) or a Log object."""

    __slots__ = ("path", "log", "num_partitions", "auto_create")

    def __init__(self, path=None, log=None, num_partitions=1, auto_create=True):
        self.path = os.path.abspath(path) if path is not None else log.path
        self.log = log
        self.num_partitions = num_partitions
        self.auto_create = auto_create


def _truthy(v, what):
    s = str(v).strip().lower()
    if s in ("1", "true", "yes", "on"):
        return True
    if s in ("0", "false", "no", "off"):
        return False
    raise NoLogConfigured(f"{what} must be true or false, got {v!r}")


def _partitions(v, what):
    try:
        n = int(v)
    except (TypeError, ValueError):
        n = 0
    if n < 1:
        raise NoLogConfigured(f"{what} must be an int >= 1, got {v!r}")
    return n


def _env_settings():
    n = os.environ.get(ENV_PARTITIONS)
    a = os.environ.get(ENV_AUTO_CREATE)
    return (_partitions(n, ENV_PARTITIONS) if n else 1,
            _truthy(a, ENV_AUTO_CREATE) if a else True)


def parse_url(url):
    """``eventlog:///abs/path?num_partitions=3`` -> _Target, or None if not an eventlog URL."""
    if not isinstance(url, str) or not url.strip().lower().startswith(SCHEME):
        return None
    url = url.strip()
    rest = url[len(SCHEME):]
    rest, _, query = rest.partition("?")
    if rest.startswith("//"):
        rest = rest[2:]
        host, slash, path = rest.partition("/")
        if host not in ("", "localhost"):
            raise NoLogConfigured(
                f"{url!r}: an eventlog URL names a local directory, eventlog:///abs/path "
                f"(three slashes) or eventlog:relative/path; got host {host!r}")
        path = "/" + path
    else:
        path = rest
    path = urllib.parse.unquote(path)
    if not path:
        raise NoLogConfigured(f"{url!r} names no directory: use eventlog:///abs/path")
    n, auto = _env_settings()
    for k, v in urllib.parse.parse_qsl(query, keep_blank_values=True):
        if k in ("num_partitions", "partitions"):
            n = _partitions(v, f"{url!r}: {k}")
        elif k in ("auto_create_topics", "auto_create"):
            auto = _truthy(v, f"{url!r}: {k}")
        else:
            raise NoLogConfigured(f"{url!r}: unknown parameter {k!r} (known: num_partitions, "
                                  f"auto_create_topics)")
    return _Target(path=os.path.expanduser(path), num_partitions=n, auto_create=auto)


def _servers(bootstrap):
    if bootstrap is None:
        return []
    if isinstance(bootstrap, str):
        return [s for s in (x.strip() for x in bootstrap.split(",")) if s] if not \
            bootstrap.strip().lower().startswith(SCHEME) else [bootstrap.strip()]
    out = []
    for s in bootstrap:
        out += _servers(s)
    return out


def resolve(bootstrap):
    """The _Target for a client configured with `bootstrap` (see the module docstring)."""
    for s in _servers(bootstrap):
        t = parse_url(s)
        if t is not None:
            return t
    with _lock:
        if _defaults:
            return _defaults[-1]
    d = os.environ.get(ENV_DIR)
    if d:
        t = parse_url(d)
        if t is not None:
            return t
        n, auto = _env_settings()
        return _Target(path=os.path.expanduser(d), num_partitions=n, auto_create=auto)
    raise NoLogConfigured(
        f"bootstrap servers {bootstrap!r} do not name an eventlog directory: use "
        f"'eventlog:///abs/path', set {ENV_DIR}=/abs/path, call "
        f"eventlog.compat.use_log(path), or use the pytest plugin's eventlog_log fixture")


@contextlib.contextmanager
def _noop():
    yield


class use_log:
    """Send every facade client whose servers are not an ``eventlog:`` URL to this log.

    `log` is a directory path or an open `eventlog.Log`. Usable as a plain call (stays in
    force until `.close()`/`stop()`) or as a context manager. Nested uses stack.
    ``num_partitions`` is the partition count of automatically created topics and of
    ``NewTopic`` with no count (Kafka's broker default is 1); ``auto_create_topics=False``
    makes producing to an unknown topic fail as with ``auto.create.topics.enable=false``.
    """

    def __init__(self, log, *, num_partitions=None, auto_create_topics=None):
        n, auto = _env_settings()
        if num_partitions is not None:
            n = _partitions(num_partitions, "num_partitions")
        if auto_create_topics is not None:
            auto = bool(auto_create_topics)
        if isinstance(log, _logmod.Log):
            self.target = _Target(log=log, num_partitions=n, auto_create=auto)
        else:
            t = parse_url(os.fspath(log)) if isinstance(log, str) else None
            self.target = t if t is not None else _Target(path=os.fspath(log), num_partitions=n,
                                                          auto_create=auto)
        with _lock:
            _defaults.append(self.target)
        self._active = True

    @property
    def path(self):
        return self.target.path

    def stop(self):
        with _lock:
            if self._active:
                self._active = False
                try:
                    _defaults.remove(self.target)
                except ValueError:
                    pass

    close = stop

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.stop()


def current_target():
    """The log clients would use now when given no eventlog URL (or None)."""
    try:
        return resolve(None)
    except NoLogConfigured:
        return None


# -- one Log per directory per process ----------------------------------------------------------

class LogRef:
    """A client's hold on its Log; `release()` once (closes the shared Log at the last)."""

    __slots__ = ("log", "target", "_key", "_released")

    def __init__(self, target):
        self.target = target
        self._released = False
        if target.log is not None:
            self.log = target.log
            self._key = None
            return
        key = (os.getpid(), target.path)
        with _lock:
            entry = _shared.get(key)
            if entry is None or entry[0]._closed:
                entry = _shared[key] = [_logmod.Log(target.path), 0]
            entry[1] += 1
        self.log = entry[0]
        self._key = key

    def release(self):
        if self._released:
            return
        self._released = True
        if self._key is None or self._key[0] != os.getpid():
            return
        with _lock:
            entry = _shared.get(self._key)
            if entry is None or entry[0] is not self.log:
                return
            entry[1] -= 1
            if entry[1] <= 0:
                del _shared[self._key]
                try:
                    self.log.close()
                except Exception:
                    pass

    # topics, with the "broker's" auto-creation
    def topic(self, name, create=False):
        try:
            return self.log.topic(name)
        except UnknownTopicError:
            if not (create and self.target.auto_create):
                raise
        try:
            return self.log.create_topic(name, partitions=self.target.num_partitions)
        except EventLogError:
            return self.log.topic(name)  # created by someone else meanwhile


def open_log(bootstrap):
    return LogRef(resolve(bootstrap))


# -- configuration ------------------------------------------------------------------------------

def split_config(conf, known, network, refused, client):
    """Check `conf` keys: `known` are returned for the facade to use, `network` (only tune a
    network client) are accepted and ignored, `refused` {key: reason} raise, anything else
    raises too. Returns {key: value} of the known ones. Raises ValueError(message)."""
    used = {}
    for k, v in conf.items():
        if k in refused:
            why = refused[k]
            if callable(why):
                why = why(v)
            if why:
                raise ValueError(f"{client}: {k}={v!r} is not supported by eventlog: {why}")
            continue
        if k in known:
            used[k] = v
        elif k in network or any(k.startswith(p) for p in network if p.endswith((".", "_"))):
            continue
        else:
            raise ValueError(f"{client}: unknown configuration {k!r}; eventlog's facade accepts "
                             f"the settings listed in docs/testing.md")
    return used


def valid_topic(name):
    """True if `name` is a legal Kafka topic name (the core's rule, `validate_topic_name`)."""
    try:
        validate_topic_name(name)
    except InvalidTopicError:
        return False
    return True


def facade_modules(package, real_name):
    """{real module name: module} for a facade `package` (a module name) and every public
    submodule of it already imported, under the real library's names: what `patch()` puts in
    sys.modules. Private submodules (``_x``) are the facade's own and stay unlisted."""
    import sys
    out = {}
    prefix = package + "."
    for name, mod in list(sys.modules.items()):
        if name == package or (name.startswith(prefix) and
                               not any(p.startswith("_") for p in name[len(prefix):].split("."))):
            out[real_name + name[len(package):]] = mod
    return out


def deadline_after(timeout_s):
    return None if timeout_s is None else time.monotonic() + timeout_s


def left(deadline):
    return None if deadline is None else max(0.0, deadline - time.monotonic())


__all__ = ["use_log", "resolve", "parse_url", "open_log", "LogRef", "NoLogConfigured",
           "ENV_DIR", "current_target", "split_config"]
