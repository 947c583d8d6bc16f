"""pytest plugin: eventlog as the Kafka broker of a test suite (registered as ``eventlog`` through
the ``pytest11`` entry point when eventlog is installed).

Fixtures
- ``eventlog_dir``: a fresh, empty directory for the test's log (a ``pathlib.Path``).
- ``eventlog_log``: an open `eventlog.Log` in ``eventlog_dir``. While the test runs, every
  facade client (``eventlog.compat.kafka`` / ``eventlog.compat.confluent_kafka``) whose
  ``bootstrap_servers`` is not an ``eventlog:`` URL writes to this log, and
  ``EVENTLOG_BOOTSTRAP_DIR`` names it for child processes.
- ``eventlog_bootstrap``: ``"eventlog:///<eventlog_dir>"``, for code that wants a server string.
- ``eventlog_kafka`` / ``eventlog_confluent_kafka``: ``import kafka`` / ``import confluent_kafka``
  give the facade during the test (the facade module is the fixture's value).
- ``eventlog_workers``: start consumer worker processes (`Workers`) and wait for their group to
  be balanced; every worker still running is killed at the end of the test.

Marker: ``@pytest.mark.eventlog_patch("kafka", "confluent_kafka")`` patches those imports and
routes clients to a fresh log for the marked test (no fixture needed).

ini option ``eventlog_patch = kafka confluent_kafka`` (or ``--eventlog-patch=kafka``): patch the
imports for the whole session, at start-up (`pytest_load_initial_conftests`), before the
initial conftest.py files, test modules and the application they import are imported, and give every test a fresh log. This is the one line that switches an
application's test suite from a broker to eventlog; see docs/testing.md.

Helpers usable without pytest: `wait_for_group(log, group_id, ...)`, `Workers`.
"""
from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import types
import warnings

import pytest

import eventlog
from eventlog import compat as _compat
from eventlog.compat import _common

__all__ = ["wait_for_group", "Workers", "Worker", "GroupNotBalanced", "EventlogPatchWarning"]


class EventlogPatchWarning(pytest.PytestWarning):
    """A per-test patch came too late: a module imported the real client library before it."""


_WARNED = set()     # (module, library) pairs already warned about in this session
_IGNORED_ROOTS = {"eventlog", "_pytest", "pytest", "pluggy", "builtins", "sys", "importlib"}


def _early_imports(patch):
    """[(module name, attribute, library)]: modules outside the real libraries that hold the
    real library (or one of its public objects) that `patch` replaced, i.e. that imported it
    before the patch and keep using it."""
    real = {}
    for name, mod in patch.replaced.items():
        if str(getattr(mod, "__name__", "")).startswith("eventlog."):
            continue    # the facade already (a session patch): nothing real to warn about
        root = name.split(".")[0]
        real[id(mod)] = root
        for attr, val in list(vars(mod).items()):
            if attr.startswith("_") or not isinstance(val, (type, types.FunctionType, types.BuiltinFunctionType)):
                continue
            if str(getattr(val, "__module__", "") or "").split(".")[0] in (root, "cimpl"):
                real[id(val)] = root
    if not real:
        return []
    roots = set(real.values())
    found = []
    for mod_name, mod in list(sys.modules.items()):
        top = mod_name.split(".")[0]
        if mod is None or top in roots or top in _IGNORED_ROOTS:
            continue
        try:
            items = list(vars(mod).items())
        except TypeError:
            continue
        for attr, val in items:
            lib = real.get(id(val))
            if lib is not None:
                found.append((mod_name, attr, lib))
                break
    return found


def _warn_early_imports(patch, how):
    """Warn, naming the module and the fix, when a per-test patch cannot reach code that
    imported the real client library earlier (its clients would try a real broker)."""
    for mod_name, attr, lib in _early_imports(patch):
        if (mod_name, lib) in _WARNED:
            continue
        _WARNED.add((mod_name, lib))
        warnings.warn(EventlogPatchWarning(
            f"module {mod_name!r} imported the real {lib} before {how} patched it "
            f"({mod_name}.{attr} is the real client's, not eventlog's facade): its clients will try "
            f"to reach a real broker (librdkafka: \"Failed to resolve ...\"; kafka-python: "
            f"NoBrokersAvailable). Patch for the whole session instead, before conftest.py files "
            f"and the application are imported: `eventlog_patch = [\"{lib}\"]` under "
            f"[tool.pytest.ini_options] (pytest.ini: `eventlog_patch = {lib}`, or "
            f"--eventlog-patch={lib}); or import {mod_name!r} inside the test."), stacklevel=2)


# -- helpers ------------------------------------------------------------------------------------

class GroupNotBalanced(AssertionError):
    """The group did not settle in time; the message describes what it looked like."""


def _group_snapshot(log, group_id, topics):
    g = log.group(group_id)
    members = g.members()
    assignment = g.assignment()
    want = set()
    subscribed = set(topics) if topics is not None else {t for m in members for t in m.topics}
    for t in subscribed:
        try:
            n = log.topic(t).config.partitions
        except eventlog.errors.UnknownTopicError:
            continue
        want |= {eventlog.TopicPartition(t, i) for i in range(n)}
    return g, members, assignment, want


def _balanced(members, assignment, want, n_members):
    if n_members is not None and len(members) != n_members:
        return f"{len(members)} live member(s), waiting for {n_members}"
    if not members:
        return "no live members"
    live = {m.member_id for m in members}
    if set(assignment) - live or live - set(assignment):
        return f"assignment names {sorted(assignment)} but live members are {sorted(live)}"
    seen = {}
    for m in members:
        if set(m.assignment) != set(m.owned):
            return (f"member {m.member_id} is assigned {sorted(m.assignment)} but owns "
                    f"{sorted(m.owned)} (rebalance in progress)")
        for tp in m.assignment:
            if tp in seen:
                return f"{tp} is assigned to both {seen[tp]} and {m.member_id}"
            seen[tp] = m.member_id
    missing = want - set(seen)
    if missing:
        return f"partitions not assigned: {sorted(missing)}"
    return None


def wait_for_group(log, group_id, members=None, topics=None, timeout=30.0, stable_for=0.1):
    """Wait until group `group_id` of `log` (a Log or a directory) is balanced: `members`
    live members (if given), every partition of `topics` (default: the members' subscribed
    topics) assigned to exactly one member, and every member holding (owning) exactly what it
    is assigned, unchanged for `stable_for` seconds. Returns {member_id: sorted partitions}.
    Raises GroupNotBalanced, describing the group, after `timeout` seconds."""
    own = not isinstance(log, eventlog.Log)
    if own:
        log = eventlog.open(os.fspath(log))
    try:
        deadline = time.monotonic() + timeout
        since, last = None, None
        why = "never looked"
        while True:
            _g, ms, assignment, want = _group_snapshot(log, group_id, topics)
            why = _balanced(ms, assignment, want, members)
            state = {m.member_id: tuple(sorted(m.assignment)) for m in ms} if why is None else None
            now = time.monotonic()
            if why is None:
                if state != last:
                    since, last = now, state
                if now - since >= stable_for:
                    return {k: list(v) for k, v in state.items()}
            else:
                since, last = None, None
            if now >= deadline:
                raise GroupNotBalanced(f"group {group_id!r} not balanced after {timeout} s: {why}")
            time.sleep(0.02)
    finally:
        if own:
            log.close()


class Worker:
    """One worker process (see `Workers.start`)."""

    def __init__(self, proc, target, out_path):
        self.proc = proc
        self.target = target
        self.out_path = out_path

    @property
    def pid(self):
        return self.proc.pid

    def alive(self):
        return self.proc.poll() is None

    @property
    def returncode(self):
        return self.proc.poll()

    def wait(self, timeout=None):
        """Wait for the worker to exit; returns its exit code (TimeoutExpired if it does not)."""
        return self.proc.wait(timeout)

    def stop(self, timeout=10.0):
        """SIGTERM (the worker's `finally:` blocks run: consumers close and leave the group),
        then SIGKILL if it is still running after `timeout`. Returns the exit code."""
        if self.alive():
            self.proc.send_signal(signal.SIGTERM)
            try:
                return self.proc.wait(timeout)
            except subprocess.TimeoutExpired:
                pass
        return self.kill()

    def kill(self):
        """SIGKILL: the process dies at once (its flocks, and so its partitions, are released)."""
        if self.alive():
            self.proc.kill()
        return self.proc.wait()

    def output(self):
        try:
            with open(self.out_path, "r", errors="replace") as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def __repr__(self):
        return f"<Worker {self.target} pid={self.pid} {'running' if self.alive() else f'exit {self.returncode}'}>"


class Workers:
    """Starts worker processes that share one log directory.

    ``start("myapp.worker:main", *args, n=3)`` runs ``myapp.worker.main(*args)`` in `n` new
    Python processes (args must be JSON values). In each, ``EVENTLOG_BOOTSTRAP_DIR`` names the
    log, the client libraries in `patch` (default: the ones this test patched, else none) are
    patched before the target is imported, and ``sys.path`` is the test process's, so test
    modules and the application import as they do here. Output goes to a file per worker
    (`Worker.output()`). Returns the `Worker` (n=1) or a list of them.
    """

    def __init__(self, log_dir, out_dir, patch=()):
        self.log_dir = os.fspath(log_dir)
        self.out_dir = os.fspath(out_dir)
        self.patch = list(patch)
        self.workers = []

    def start(self, target, *args, n=1, patch=None, env=None, kwargs=None):
        if callable(target):
            target = f"{target.__module__}:{target.__qualname__}"
        if ":" not in target:
            raise ValueError(f"target must be 'module:function' or a module-level function, got {target!r}")
        spec = json.dumps({"target": target, "args": list(args), "kwargs": kwargs or {},
                           "patch": self.patch if patch is None else list(patch)})
        e = dict(os.environ)
        e[_common.ENV_DIR] = self.log_dir
        paths = [p for p in sys.path if p and os.path.isdir(p)]
        if os.getcwd() not in paths:
            paths.insert(0, os.getcwd())
        e["PYTHONPATH"] = os.pathsep.join(paths)
        if env:
            e.update(env)
        os.makedirs(self.out_dir, exist_ok=True)
        started = []
        for _ in range(n):
            out = os.path.join(self.out_dir, f"worker-{len(self.workers)}.log")
            with open(out, "wb") as f:
                proc = subprocess.Popen([sys.executable, "-m", "eventlog.compat._worker", spec],
                                        stdout=f, stderr=subprocess.STDOUT, env=e,
                                        stdin=subprocess.DEVNULL)
            w = Worker(proc, target, out)
            self.workers.append(w)
            started.append(w)
        return started if n != 1 else started[0]

    def wait_balanced(self, group_id, members=None, topics=None, timeout=30.0):
        """`wait_for_group` on this log; `members` defaults to the number of live workers.
        If a worker died meanwhile, raises with its output."""
        if members is None:
            members = sum(1 for w in self.workers if w.alive())
        try:
            return wait_for_group(self.log_dir, group_id, members=members, topics=topics, timeout=timeout)
        except GroupNotBalanced as e:
            dead = [w for w in self.workers if not w.alive() and w.returncode not in (0, -9, -15)]
            if dead:
                details = "\n".join(f"--- {w!r}:\n{w.output()[-4000:]}" for w in dead)
                raise GroupNotBalanced(f"{e}\nworkers that failed:\n{details}") from None
            raise

    def stop_all(self, timeout=10.0):
        for w in self.workers:
            if w.alive():
                w.proc.send_signal(signal.SIGTERM)
        deadline = time.monotonic() + timeout
        for w in self.workers:
            try:
                w.proc.wait(max(0.0, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                w.kill()

    def kill_all(self):
        for w in self.workers:
            w.kill()

    def __iter__(self):
        return iter(self.workers)

    def __len__(self):
        return len(self.workers)


# -- pytest hooks -------------------------------------------------------------------------------

_SESSION_PATCH = None


def pytest_addoption(parser):
    parser.addini("eventlog_patch", "client libraries whose imports eventlog's facade replaces for "
                                    "the whole session (kafka, confluent_kafka)", type="args", default=[])
    group = parser.getgroup("eventlog")
    group.addoption("--eventlog-patch", action="append", default=[], metavar="LIB",
                    help="replace `import LIB` (kafka, confluent_kafka) with eventlog's facade "
                         "for the whole session")


def _session_names(config):
    names = list(config.getini("eventlog_patch") or [])
    cli = getattr(getattr(config, "known_args_namespace", None), "eventlog_patch", None)
    if cli is None:
        cli = config.getoption("eventlog_patch", default=[])
    for v in cli or []:
        names += [x for x in v.replace(",", " ").split() if x]
    return [n for i, n in enumerate(names) if n not in names[:i]]


def _start_session_patch(config):
    global _SESSION_PATCH
    names = _session_names(config)
    if names and _SESSION_PATCH is None:
        _SESSION_PATCH = _compat.patch(*names)
    config._eventlog_session_names = names


@pytest.hookimpl(tryfirst=True)
def pytest_load_initial_conftests(early_config, parser, args):
    """Patch for the session before pytest imports the initial conftest.py files, so a conftest
    that imports kafka / confluent_kafka (or the application) at its top gets the facade."""
    _start_session_patch(early_config)


def pytest_configure(config):
    config.addinivalue_line(
        "markers", "eventlog_patch(*libs): replace `import kafka` / `import confluent_kafka` with "
                   "eventlog's facade for this test and route clients to a fresh log")
    _start_session_patch(config)   # no-op when pytest_load_initial_conftests already patched


def pytest_unconfigure(config):
    global _SESSION_PATCH
    if _SESSION_PATCH is not None and getattr(config, "_eventlog_session_names", None):
        _SESSION_PATCH.undo()
        _SESSION_PATCH = None


@pytest.fixture
def eventlog_dir(tmp_path):
    """A fresh directory for this test's log."""
    d = tmp_path / "eventlog"
    d.mkdir()
    return d


@pytest.fixture
def eventlog_bootstrap(eventlog_dir):
    """``eventlog:///<eventlog_dir>``: bootstrap servers that name this test's log."""
    return f"eventlog://{eventlog_dir}" if str(eventlog_dir).startswith("/") else f"eventlog:{eventlog_dir}"


@pytest.fixture
def eventlog_log(eventlog_dir, monkeypatch):
    """A fresh `eventlog.Log` for this test; facade clients and child processes use it."""
    log = eventlog.open(eventlog_dir)
    route = _compat.use_log(log)
    monkeypatch.setenv(_common.ENV_DIR, str(eventlog_dir))
    try:
        yield log
    finally:
        route.stop()
        log.close()


def _patch_fixture(name):
    @pytest.fixture
    def fixture(eventlog_log):
        p = _compat.patch(name)
        _warn_early_imports(p, f"the eventlog_{name} fixture")
        try:
            yield _compat.facade(name)
        finally:
            p.undo()
    fixture.__doc__ = f"`import {name}` gives eventlog's facade during the test (routed to eventlog_log)."
    return fixture


eventlog_kafka = _patch_fixture("kafka")
eventlog_confluent_kafka = _patch_fixture("confluent_kafka")


@pytest.fixture(autouse=True)
def _eventlog_auto(request):
    """For a test marked eventlog_patch, or a session with the eventlog_patch option: patch
    and give the test a fresh log when it did not ask for eventlog_log itself."""
    marker = request.node.get_closest_marker("eventlog_patch")
    session = getattr(request.config, "_eventlog_session_names", None)
    if marker is None and not session:
        yield
        return
    patch = None
    if marker is not None:
        names = marker.args or ("kafka", "confluent_kafka")
        patch = _compat.patch(*names)
        _warn_early_imports(patch, "the eventlog_patch marker")
    route = None
    if "eventlog_log" not in request.fixturenames:
        d = request.getfixturevalue("tmp_path_factory").mktemp("eventlog")
        route = _compat.use_log(str(d))
        request.getfixturevalue("monkeypatch").setenv(_common.ENV_DIR, str(d))
    try:
        yield
    finally:
        if route is not None:
            route.stop()
        if patch is not None:
            patch.undo()


@pytest.fixture
def eventlog_workers(request, tmp_path, eventlog_log):
    """A `Workers` pool on this test's log; workers still running at the end are killed."""
    names = []
    marker = request.node.get_closest_marker("eventlog_patch")
    if marker is not None:
        names = list(marker.args or ("kafka", "confluent_kafka"))
    names += [n for n in (getattr(request.config, "_eventlog_session_names", None) or []) if n not in names]
    for fixture, lib in (("eventlog_kafka", "kafka"), ("eventlog_confluent_kafka", "confluent_kafka")):
        if fixture in request.fixturenames and lib not in names:
            names.append(lib)
    pool = Workers(eventlog_log.path, tmp_path / "workers", patch=names)
    try:
        yield pool
    finally:
        pool.kill_all()
