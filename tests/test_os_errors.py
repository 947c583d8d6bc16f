"""OS failures leave eventlog only as StorageError subclasses (issue 11, item 7): permission
(a real chmod), disk full and short writes (a wrapper around the partition writer's one
write call, `eventlog._os.fs._pwritev`: a full disk cannot be made on demand), too many open
files (a real, lowered RLIMIT_NOFILE in a child process). Each names the operation and the
path and says what to do; the CLI prints it in one line with exit status 1; a failed append
leaves the partition appendable, with nothing of the failed batch visible.

Permission as root: root ignores file modes (CAP_DAC_OVERRIDE), so the operations run in a
child process whose capability bounding set lacks CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH and
CAP_FOWNER: it is still uid 0, the owner of the files, and the chmod binds it like anyone.
"""
import ctypes
import errno
import json
import os
import stat
import subprocess
import sys
import textwrap

import pytest

import eventlog
from eventlog._os import fs as _fs
from eventlog.errors import (DiskFullError, EventLogError, ReadOnlyStorageError, StorageError,
                             StoragePermissionError, TooManyOpenFilesError)

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_PR_CAPBSET_DROP = 24
_DAC_CAPS = (1, 2, 3)  # CAP_DAC_OVERRIDE, CAP_DAC_READ_SEARCH, CAP_FOWNER


def _drop_dac_caps():
    """preexec_fn: drop the capabilities that let root ignore file modes (the exec that follows
    recomputes root's capabilities from the bounding set)."""
    libc = ctypes.CDLL(None, use_errno=True)
    for cap in _DAC_CAPS:
        if libc.prctl(_PR_CAPBSET_DROP, cap, 0, 0, 0) != 0:
            os._exit(97)


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("EVENTLOG_DIR", None)
    return env


def _run_restricted(args, **kw):
    """Run `args` so that file modes bind it (as root: without the DAC capabilities)."""
    pre = _drop_dac_caps if os.geteuid() == 0 else None
    return subprocess.run(args, capture_output=True, text=True, timeout=120, env=_env(),
                          preexec_fn=pre, **kw)


def _chmod_tree(path, dir_mode, file_mode):
    for root, dirs, files in os.walk(path):
        for n in files:
            os.chmod(os.path.join(root, n), file_mode)
        for n in dirs:
            os.chmod(os.path.join(root, n), dir_mode)
    os.chmod(path, dir_mode)


@pytest.fixture
def read_only_log(tmp_path):
    """A log with topic "t" (2 partitions, 10 records) and group "g", then made read-only
    with chmod (dirs 0555, files 0444). Modes are restored afterwards."""
    d = tmp_path / "log"
    with eventlog.open(d) as log:
        log.create_topic("t", partitions=2)
        with log.producer() as p:
            for i in range(10):
                p.send("t", b"v%d" % i, partition=i % 2)
        log.consumer(group_id="g", enable_auto_commit=False).commit(
            {eventlog.TopicPartition("t", 0): 1})
    _chmod_tree(d, 0o555, 0o444)
    # the chmod must really bind a restricted child, or this test proves nothing
    probe = _run_restricted([sys.executable, "-c", f"open({str(d / 'probe')!r}, 'w')"])
    if probe.returncode == 97:
        pytest.skip("cannot drop CAP_DAC_OVERRIDE here (no CAP_SETPCAP), so a chmod does not bind root")
    assert probe.returncode != 0 and "PermissionError" in probe.stderr, probe
    yield d
    _chmod_tree(d, 0o755, 0o644)


_OPS = textwrap.dedent("""
    import json, sys
    import eventlog
    log = eventlog.open(sys.argv[1])
    out = {"read": [r.value.decode() for r in log.topic("t").partition(0).read(0)],
           "topics": log.topics()}
    def consume():
        c = log.consumer(group_id="g2")
        c.subscribe(["t"])
        c.poll(1.0)
    def produce():
        p = log.producer()
        try:
            return p.send("t", b"x", partition=1).result(10)
        finally:
            p.close()
    cases = {
        "create_topic": lambda: log.create_topic("u"),
        "maintain": lambda: log.maintain(),
        "subscribe": consume,
        "append": lambda: log.topic("t").partition(0).append(b"x"),
        "produce": produce,
        "alter": lambda: log.topic("t").alter(retention_ms=5),
        "delete_topic": lambda: log.delete_topic("t"),
        "commit": lambda: log.consumer(group_id="g").commit({eventlog.TopicPartition("t", 0): 2}),
        "open_new": lambda: eventlog.open(sys.argv[1] + "/new"),
    }
    for name, fn in cases.items():
        try:
            fn()
            out[name] = None
        except Exception as e:
            out[name] = {"type": type(e).__name__, "msg": str(e),
                         "eventlog": isinstance(e, eventlog.EventLogError),
                         "permission": isinstance(e, PermissionError),
                         "classes": [c.__name__ for c in type(e).__mro__]}
    print(json.dumps(out))
""")


def test_read_only_log_raises_storage_permission_errors(read_only_log):
    r = _run_restricted([sys.executable, "-c", _OPS, str(read_only_log)])
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out["read"] == ["v0", "v2", "v4", "v6", "v8"]  # reading a read-only log works
    assert out["topics"] == ["t"]
    expected_op = {"create_topic": "Log.create_topic()", "maintain": "Log.maintain()",
                   "subscribe": "Consumer.subscribe()", "append": "Partition.append()",
                   "produce": "append to t[1]", "alter": "Topic.alter()",
                   "delete_topic": "Log.delete_topic()", "commit": "Consumer.commit()",
                   "open_new": "eventlog.open()"}
    for name, op in expected_op.items():
        got = out[name]
        assert got is not None, f"{name} succeeded on a read-only log"
        assert got["type"] == "StoragePermissionError", (name, got)
        assert got["eventlog"] and got["permission"], (name, got)
        msg = got["msg"]
        assert msg.startswith(f"{op} failed: permission denied: {read_only_log}"), (name, msg)
        assert "(EACCES)" in msg and "check the owner and mode" in msg, (name, msg)
        assert "[Errno" not in msg
    # nothing changed
    with eventlog.open(read_only_log) as log:
        assert log.topics() == ["t"]
        assert [p.end_offset for p in log.topic("t").partitions] == [5, 5]


@pytest.mark.parametrize("args,op", [(["topics", "create", "x"], "Log.create_topic()"),
                                     (["maintain"], "Log.maintain()"),
                                     (["consume", "t", "-b", "--group", "g3", "--timeout", "5"],
                                      "Consumer.subscribe()"),
                                     (["produce", "t"], "append to t[")])
def test_cli_on_a_read_only_log_prints_one_line_with_advice(read_only_log, args, op):
    r = _run_restricted([sys.executable, "-m", "eventlog", "--dir", str(read_only_log), *args],
                        input="hello\n")
    assert r.returncode == 1, r
    lines = r.stderr.strip().splitlines()
    assert len(lines) == 1, r.stderr
    assert lines[0].startswith("eventlog: error: "), r.stderr
    assert op in lines[0] and "permission denied" in lines[0] and "check the owner and mode" in lines[0]
    assert "Traceback" not in r.stderr and "[Errno" not in r.stderr


# -- disk full and short writes, injected at the writer's one write call -------------------------

@pytest.fixture
def log(tmp_path):
    lg = eventlog.open(tmp_path / "log")
    yield lg
    lg.close()


class _Faulty:
    """Wraps the real pwritev: `plan` is a list of actions for the next calls ("ok",
    "enospc", ("short", n) = write only the first n bytes for real); afterwards "ok"."""

    def __init__(self, real, plan):
        self.real = real
        self.plan = list(plan)
        self.calls = 0

    def __call__(self, fd, buffers, pos):
        self.calls += 1
        action = self.plan.pop(0) if self.plan else "ok"
        if action == "ok":
            return self.real(fd, buffers, pos)
        if action == "enospc":
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
        if action == "zero":
            return 0
        kind, n = action
        assert kind == "short"
        data = b"".join(bytes(b) for b in buffers)[:n]
        return self.real(fd, [data], pos)


def _seg_size(part):
    return sum(os.path.getsize(os.path.join(part.dir, n)) for n in os.listdir(part.dir) if n.endswith(".log"))


def _values(part):
    return [r.value for r in part.read(part.start_offset, max_records=100_000)]


@pytest.mark.parametrize("plan", [["enospc"], [("short", 40), "enospc"], [("short", 1), "zero"]],
                         ids=["enospc", "short-then-enospc", "short-then-no-progress"])
def test_disk_full_append_fails_whole_and_the_partition_stays_appendable(log, monkeypatch, plan):
    part = log.create_topic("t").partition(0)
    assert part.append_batch([(None, b"a"), (None, b"b")]) == range(0, 2)
    size = _seg_size(part)
    fault = _Faulty(_fs._pwritev, plan)
    monkeypatch.setattr(_fs, "_pwritev", fault)
    with pytest.raises(DiskFullError) as ei:
        part.append_batch([(b"k", b"c" * 100), (b"k", b"d" * 100)])
    e = ei.value
    assert isinstance(e, EventLogError) and isinstance(e, OSError) and e.errno == errno.ENOSPC
    msg = str(e)
    assert msg.startswith("Partition.append_batch() failed: no space left on device: ")
    assert part.dir in msg and "free space" in msg and "retention" in msg
    # nothing of the failed batch is on disk or visible, to this or any other reader
    assert _seg_size(part) == size
    assert part.end_offset == 2 and _values(part) == [b"a", b"b"]
    with eventlog.open(log.path) as other:
        assert _values(other.topic("t").partition(0)) == [b"a", b"b"]
    # the disk has room again: the next append gets the next offset, and all reads are whole
    monkeypatch.setattr(_fs, "_pwritev", fault.real)
    assert part.append(b"e") == 2
    assert _values(part) == [b"a", b"b", b"e"]
    with eventlog.open(log.path) as other:
        p2 = other.topic("t").partition(0)
        assert _values(p2) == [b"a", b"b", b"e"] and p2.end_offset == 3
        assert p2.append(b"f") == 3


@pytest.mark.parametrize("plan", [["enospc"], [("short", 40), "enospc"], [("short", 1), "zero"]],
                         ids=["enospc", "short-then-enospc", "short-then-no-progress"])
def test_disk_full_single_append_fails_whole(log, monkeypatch, plan):
    # Partition.append writes its one record's batch as one bytes object (fs._pwrite; a
    # continued short write goes through fs._pwritev)
    part = log.create_topic("t").partition(0)
    assert part.append(b"a") == 0
    size = _seg_size(part)
    plan = list(plan)

    def faulty(real):
        def call(fd, data, pos):
            action = plan.pop(0) if plan else "ok"
            if action == "ok":
                return real(fd, data, pos)
            if action == "enospc":
                raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))
            if action == "zero":
                return 0
            return real(fd, bytes(data)[:action[1]] if type(data) is bytes else
                        b"".join(bytes(b) for b in data)[:action[1]], pos)
        return call
    monkeypatch.setattr(_fs, "_pwrite", faulty(_fs._pwrite))
    monkeypatch.setattr(_fs, "_pwritev", faulty(_fs._pwritev))
    with pytest.raises(DiskFullError) as ei:
        part.append(b"c" * 100, key=b"k")
    assert str(ei.value).startswith("Partition.append() failed: no space left on device: ")
    assert _seg_size(part) == size and part.end_offset == 1
    # a record with headers takes append_batch's road: still worded for the call made
    plan[:] = ["enospc"]
    with pytest.raises(DiskFullError, match=r"^Partition\.append\(\) failed: no space left"):
        part.append(b"h", headers=[("h", b"1")])
    assert _seg_size(part) == size and part.end_offset == 1
    monkeypatch.undo()
    assert part.append(b"e") == 1
    with eventlog.open(log.path) as other:
        assert _values(other.topic("t").partition(0)) == [b"a", b"e"]


def test_a_short_single_append_write_is_continued(log, monkeypatch):
    part = log.create_topic("t").partition(0)
    real = _fs._pwrite
    calls = []

    def short(fd, data, pos):
        calls.append(len(data))
        return real(fd, data[:10], pos)
    monkeypatch.setattr(_fs, "_pwrite", short)
    assert part.append(b"v" * 100, key=b"k") == 0
    assert calls == [56 + 8 + 1 + 100]  # one pwrite of the whole batch, continued by pwritev
    assert part.append(b"w") == 1
    monkeypatch.undo()
    with eventlog.open(log.path) as other:
        assert _values(other.topic("t").partition(0)) == [b"v" * 100, b"w"]


def test_a_short_write_is_continued_not_reported_as_success(log, monkeypatch):
    part = log.create_topic("t").partition(0)
    fault = _Faulty(_fs._pwritev, [("short", 10), ("short", 30)])
    monkeypatch.setattr(_fs, "_pwritev", fault)
    assert part.append_batch([(b"k%d" % i, b"v%d" % i) for i in range(50)]) == range(0, 50)
    assert fault.calls >= 3
    monkeypatch.setattr(_fs, "_pwritev", fault.real)
    with eventlog.open(log.path) as other:
        assert _values(other.topic("t").partition(0)) == [b"v%d" % i for i in range(50)]
    assert part.append(b"next") == 50


def test_producer_future_gets_disk_full_and_later_sends_succeed(log, monkeypatch):
    log.create_topic("t")
    fault = _Faulty(_fs._pwritev, ["enospc"])
    monkeypatch.setattr(_fs, "_pwritev", fault)
    with log.producer(linger_ms=0) as p:
        with pytest.raises(DiskFullError, match=r"append to t\[0\] failed: no space left on device"):
            p.send("t", b"lost").result(10)
        assert p.send("t", b"kept").result(10).offset == 0
    assert _values(log.topic("t").partition(0)) == [b"kept"]


def test_too_many_open_files_is_reported_with_advice(tmp_path):
    """A real EMFILE: the child lowers its own descriptor limit, then opens partitions."""
    code = textwrap.dedent("""
        import json, resource, sys
        import eventlog
        log = eventlog.open(sys.argv[1], max_open_partitions=100_000)
        t = log.create_topic("t", partitions=200)
        soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
        import os
        used = len(os.listdir("/proc/self/fd"))
        resource.setrlimit(resource.RLIMIT_NOFILE, (used + 40, hard))
        try:
            for i in range(200):
                t.partition(i).append(b"x")
            print(json.dumps(None))
        except Exception as e:
            print(json.dumps({"type": type(e).__name__, "msg": str(e),
                              "eventlog": isinstance(e, eventlog.EventLogError)}))
    """)
    r = subprocess.run([sys.executable, "-c", code, str(tmp_path / "log")], capture_output=True,
                       text=True, timeout=120, env=_env())
    assert r.returncode == 0, r.stderr
    out = json.loads(r.stdout)
    assert out is not None, "200 partitions fitted in 40 descriptors?"
    assert out["type"] == "TooManyOpenFilesError" and out["eventlog"], out
    assert "too many open files" in out["msg"] and "ulimit -n" in out["msg"]
    assert "max_open_partitions" in out["msg"] and "Partition.append() failed" in out["msg"]
    # and what did get written is whole
    with eventlog.open(tmp_path / "log") as log:
        ends = [p.end_offset for p in log.topic("t").partitions]
        assert set(ends) <= {0, 1} and 0 < sum(ends) < 200


@pytest.mark.parametrize("code,cls,words", [
    (errno.EACCES, StoragePermissionError, "permission denied"),
    (errno.EPERM, StoragePermissionError, "operation not permitted"),
    (errno.EROFS, ReadOnlyStorageError, "read-only file system"),
    (errno.ENOSPC, DiskFullError, "no space left"),
    (errno.EDQUOT, DiskFullError, "disk quota exceeded"),
    (errno.EMFILE, TooManyOpenFilesError, "too many open files"),
    (errno.ENFILE, TooManyOpenFilesError, "too many open files in the system"),
    (errno.EIO, StorageError, "input/output error"),
])
def test_each_os_failure_maps_to_its_class(code, cls, words):
    e = _fs.storage_error(OSError(code, os.strerror(code), "/data/log/x"), "Log.maintain()")
    assert type(e) is cls and isinstance(e, EventLogError) and isinstance(e, OSError)
    assert e.errno == code and e.filename == "/data/log/x" and e.operation == "Log.maintain()"
    assert str(e).startswith(f"Log.maintain() failed: {words}") and "/data/log/x" in str(e)


def test_other_os_errors_are_left_alone():
    assert _fs.storage_error(FileNotFoundError(errno.ENOENT, "gone", "/x"), "op") is None
    assert _fs.storage_error(ValueError("x"), "op") is None


def test_nested_public_calls_name_the_outer_call(tmp_path):
    """The user sees the call they made, not the library's inner one."""
    class Inner:
        path = "/inner"

        @_fs.storage_errors()
        def work(self):
            raise OSError(errno.ENOSPC, "full", "/inner/file")

    class Outer:
        path = "/outer"

        @_fs.storage_errors()
        def run(self):
            Inner().work()

    with pytest.raises(DiskFullError) as ei:
        Outer().run()
    assert str(ei.value).startswith("Outer.run() failed: no space left on device: /inner/file")
    assert isinstance(ei.value.__cause__, OSError) and not isinstance(ei.value.__cause__, StorageError)
