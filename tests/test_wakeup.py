"""DirWatcher: cross-process wake-ups through the file system, for both backends.

Writers are real child processes (`subprocess`) touching real files in `tmp_path`. Timing
assertions are deliberately loose (a wake must come well before a 10 s timeout); the only
quantitative check is that idle waiting does not burn CPU.
"""
import errno
import io
import os
import subprocess
import sys
import textwrap
import threading
import time

import pytest

from eventlog._os import wakeup as _wakeup
from eventlog._os.wakeup import DirWatcher
from eventlog.errors import InvalidArgumentError, InvalidTypeError, LogClosedError

LONG = 10.0   # a wait that must be woken; returning near this means the wake-up was missed
SHORT = 0.2   # a wait that must time out

BACKENDS = ["inotify", "poll"] if sys.platform.startswith("linux") else ["poll"]


@pytest.fixture(params=BACKENDS)
def watcher(request):
    w = DirWatcher(backend=request.param)
    assert w.backend == request.param
    yield w
    w.close()


def child(code: str, *args) -> subprocess.Popen:
    """Run `code` in a fresh Python process with `args` as sys.argv[1:]."""
    return subprocess.Popen([sys.executable, "-c", textwrap.dedent(code), *map(str, args)])


def finish(proc: subprocess.Popen) -> None:
    assert proc.wait(timeout=30) == 0


def timed_wait(w: DirWatcher, timeout: float):
    t0 = time.monotonic()
    woke = w.wait(timeout)
    return woke, time.monotonic() - t0


APPEND_LATER = """
    import os, sys, time
    time.sleep(float(sys.argv[2]))
    fd = os.open(sys.argv[1], os.O_WRONLY)
    os.pwrite(fd, b"x" * 16, os.fstat(fd).st_size)   # no close: IN_MODIFY alone must wake
    time.sleep(0.5)
    os.close(fd)
"""


def test_append_by_other_process_wakes(watcher, tmp_path):
    seg = tmp_path / f"{0:020d}.log"
    seg.write_bytes(b"")
    watcher.watch(tmp_path)
    proc = child(APPEND_LATER, seg, 0.3)
    try:
        woke, took = timed_wait(watcher, LONG)
        assert woke is True
        assert took < LONG / 2
        assert seg.stat().st_size == 16
    finally:
        finish(proc)


def test_timeout_without_events_returns_false(watcher, tmp_path):
    (tmp_path / "f").write_bytes(b"old")
    watcher.watch(tmp_path)
    woke, took = timed_wait(watcher, SHORT)
    assert woke is False
    assert took >= SHORT * 0.9
    assert watcher.wait(0) is False
    assert watcher.wait(-1) is False


def test_created_file_wakes(watcher, tmp_path):
    watcher.watch(tmp_path)
    proc = child("""
        import sys, time
        time.sleep(0.3)
        open(sys.argv[1], "xb").close()
    """, tmp_path / f"{100:020d}.log")
    try:
        woke, took = timed_wait(watcher, LONG)
        assert woke is True and took < LONG / 2
    finally:
        finish(proc)


def test_rename_into_dir_and_delete_wake(watcher, tmp_path):
    watched, other = tmp_path / "watched", tmp_path / "other"
    watched.mkdir()
    other.mkdir()
    (other / "tmp").write_bytes(b"abc")
    watcher.watch(watched)
    proc = child("""
        import os, sys, time
        time.sleep(0.2)
        os.rename(sys.argv[1], sys.argv[2])
    """, other / "tmp", watched / "moved")
    try:
        assert watcher.wait(LONG) is True
    finally:
        finish(proc)
    watcher.drain()
    proc = child("import os, sys, time; time.sleep(0.2); os.unlink(sys.argv[1])", watched / "moved")
    try:
        assert watcher.wait(LONG) is True
    finally:
        finish(proc)


def test_events_before_wait_are_not_lost(watcher, tmp_path):
    seg = tmp_path / "seg.log"
    seg.write_bytes(b"")
    watcher.watch(tmp_path)
    # The writer runs to completion before we wait: the change must still be reported.
    finish(child("""
        import os, sys
        fd = os.open(sys.argv[1], os.O_WRONLY | os.O_APPEND)
        os.write(fd, b"y" * 16)
        os.close(fd)
    """, seg))
    woke, took = timed_wait(watcher, LONG)
    assert woke is True and took < LONG / 2
    # ...and consumed: nothing new since.
    assert watcher.wait(SHORT) is False


def test_drain_then_wait_blocks(watcher, tmp_path):
    watcher.watch(tmp_path)
    assert watcher.drain() is False
    for i in range(50):
        with open(tmp_path / "seg.log", "ab") as f:
            f.write(b"z" * 16)
    assert watcher.drain() is True
    assert watcher.drain() is False
    assert watcher.wait(SHORT) is False


def test_many_events_drained_in_one_call(watcher, tmp_path):
    watcher.watch(tmp_path)
    for i in range(3000):  # distinct names defeat the kernel's coalescing of equal events
        (tmp_path / f"f{i}").write_bytes(b"")
    assert watcher.drain() is True
    assert watcher.wait(SHORT) is False


def test_consumer_loop_sees_every_record(watcher, tmp_path):
    """wait + read + wait ... never sleeps through data (no lost wake-ups)."""
    n = 300
    seg = tmp_path / "seg.log"
    seg.write_bytes(b"")
    watcher.watch(tmp_path)
    proc = child("""
        import os, sys, time
        fd = os.open(sys.argv[1], os.O_WRONLY)
        for i in range(int(sys.argv[2])):
            os.pwrite(fd, i.to_bytes(16, "little"), i * 16)
            if i % 7 == 0:
                time.sleep(0.002)
        os.close(fd)
    """, seg, n)
    try:
        seen, pos, deadline = [], 0, time.monotonic() + 60
        with open(seg, "rb") as f:
            while len(seen) < n:
                data = os.pread(f.fileno(), 1 << 20, pos)
                whole = len(data) - len(data) % 16
                for i in range(0, whole, 16):
                    seen.append(int.from_bytes(data[i:i + 16], "little"))
                pos += whole
                if whole == 0:
                    assert time.monotonic() < deadline, f"stuck after {len(seen)} records"
                    # Every wait must be woken by a change, since the writer is not done.
                    assert watcher.wait(LONG) is True, f"missed a wake after {len(seen)}"
        assert seen == list(range(n))
    finally:
        finish(proc)


def test_idle_wait_does_not_spin(watcher, tmp_path):
    for i in range(5):
        (tmp_path / f"{i:020d}.log").write_bytes(b"x" * 100)
    watcher.watch(tmp_path)
    cpu0, t0 = time.process_time(), time.monotonic()
    assert watcher.wait(0.5) is False
    cpu = time.process_time() - cpu0
    assert time.monotonic() - t0 >= 0.45
    assert cpu < 0.05, f"idle wait used {cpu:.3f} s of CPU in 0.5 s"


def test_multiple_dirs(watcher, tmp_path):
    dirs = [tmp_path / f"p{i}" for i in range(3)]
    for d in dirs:
        d.mkdir()
        watcher.watch(d)
        watcher.watch(d)  # idempotent
    assert watcher.watched == frozenset(str(d) for d in dirs)
    proc = child("import sys, time; time.sleep(0.2); open(sys.argv[1], 'ab').write(b'1')",
                 dirs[2] / "seg.log")
    try:
        assert watcher.wait(LONG) is True
    finally:
        finish(proc)


def test_unwatch_stops_wakeups(watcher, tmp_path):
    a, b = tmp_path / "a", tmp_path / "b"
    a.mkdir()
    b.mkdir()
    watcher.watch(a)
    watcher.watch(b)
    watcher.unwatch(a)
    watcher.unwatch(a)                  # a no-op now
    watcher.unwatch(tmp_path / "nope")  # never watched: a no-op
    assert watcher.watched == frozenset({str(b)})
    (a / "f").write_bytes(b"1")
    assert watcher.wait(SHORT) is False  # removing our own watch is not news either
    (b / "f").write_bytes(b"1")
    assert watcher.wait(LONG) is True


def test_watched_dir_deleted(watcher, tmp_path):
    d = tmp_path / "part"
    d.mkdir()
    (d / "seg.log").write_bytes(b"1")
    watcher.watch(d)
    proc = child("""
        import shutil, sys, time
        time.sleep(0.2)
        shutil.rmtree(sys.argv[1])
    """, d)
    try:
        assert watcher.wait(LONG) is True
    finally:
        finish(proc)
    watcher.drain()
    assert str(d) not in watcher.watched
    assert watcher.wait(SHORT) is False
    # Re-created under the same name: watching it again works.
    d.mkdir()
    watcher.watch(d)
    (d / "seg.log").write_bytes(b"2")
    assert watcher.wait(LONG) is True


def test_rewatch_after_recreate_without_wait(watcher, tmp_path):
    d = tmp_path / "part"
    d.mkdir()
    watcher.watch(d)
    os.rmdir(d)
    d.mkdir()
    watcher.watch(d)   # must attach to the new directory, not trust the stale entry
    watcher.drain()
    (d / "seg.log").write_bytes(b"1")
    assert watcher.wait(LONG) is True


def test_bad_paths(watcher, tmp_path):
    with pytest.raises(FileNotFoundError):
        watcher.watch(tmp_path / "missing")
    (tmp_path / "file").write_bytes(b"")
    with pytest.raises(NotADirectoryError):
        watcher.watch(tmp_path / "file")
    with pytest.raises(InvalidTypeError):
        watcher.watch(42)
    with pytest.raises(InvalidTypeError):
        watcher.wait("1")
    with pytest.raises(InvalidArgumentError):
        watcher.wait(float("nan"))


def test_close_from_other_thread_unblocks_wait(watcher, tmp_path):
    watcher.watch(tmp_path)
    result = []
    t = threading.Thread(target=lambda: result.append(watcher.wait(None)), daemon=True)
    t.start()
    time.sleep(0.2)
    watcher.close()
    t.join(LONG)
    assert not t.is_alive(), "wait() hung after close()"
    assert result == [False]
    with pytest.raises(LogClosedError):
        watcher.wait(0)
    with pytest.raises(LogClosedError):
        watcher.watch(tmp_path)
    watcher.close()  # idempotent


def test_context_manager_and_fileno(tmp_path):
    for backend in BACKENDS:
        with DirWatcher(backend) as w:
            w.watch(tmp_path)
            if backend == "inotify":
                import select
                fd = w.fileno()
                assert select.select([fd], [], [], 0)[0] == []
                (tmp_path / f"{backend}").write_bytes(b"")
                assert select.select([fd], [], [], LONG)[0] == [fd]
                assert w.drain() is True
            else:
                with pytest.raises(io.UnsupportedOperation):
                    w.fileno()
        assert w.closed
        with pytest.raises(LogClosedError):
            w.drain()


def test_backend_selection(monkeypatch):
    monkeypatch.setenv("EVENTLOG_WAKEUP", "poll")
    with DirWatcher() as w:
        assert w.backend == "poll"
    monkeypatch.setenv("EVENTLOG_WAKEUP", "bogus")
    with pytest.raises(InvalidArgumentError):
        DirWatcher()
    with pytest.raises(InvalidArgumentError):
        DirWatcher(backend="epoll")
    monkeypatch.delenv("EVENTLOG_WAKEUP")
    with DirWatcher() as w:
        assert w.backend == BACKENDS[0]


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux-only")
def test_inotify_unavailable_falls_back_to_polling(monkeypatch, tmp_path):
    def no_inotify():
        raise OSError(errno.EMFILE, "inotify_init1: Too many open files")
    monkeypatch.setattr(_wakeup, "_inotify_init", no_inotify)
    with pytest.warns(RuntimeWarning, match="falls back to polling"):
        w = DirWatcher()
    with w:
        assert w.backend == "poll"
        w.watch(tmp_path)
        (tmp_path / "f").write_bytes(b"1")
        assert w.wait(LONG) is True
    with pytest.raises(OSError):
        DirWatcher("inotify")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="inotify is Linux-only")
def test_watch_limit_falls_back_to_polling_that_dir(monkeypatch, tmp_path):
    real_add = _wakeup._inotify_add_watch
    full, ok = tmp_path / "full", tmp_path / "ok"
    full.mkdir()
    ok.mkdir()

    def add_watch(fd, path, mask):
        if path == str(full):
            raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), path)
        return real_add(fd, path, mask)

    monkeypatch.setattr(_wakeup, "_inotify_add_watch", add_watch)
    with DirWatcher("inotify") as w:
        with pytest.warns(RuntimeWarning, match="max_user_watches"):
            w.watch(full)
        w.watch(ok)
        assert w.watched == frozenset({str(full), str(ok)})
        # One atomic change (a rename), so a poll cannot see a half-made file and then its end.
        proc = child("import os, sys, time; time.sleep(0.2); open(sys.argv[1], 'wb').write(b'1');"
                     " os.rename(sys.argv[1], sys.argv[2])", tmp_path / "staging", full / "seg.log")
        try:
            assert w.wait(LONG) is True
        finally:
            finish(proc)
        assert w.wait(SHORT) is False
        (ok / "seg.log").write_bytes(b"1")
        assert w.wait(LONG) is True


@pytest.mark.skipif(not hasattr(__import__("signal"), "setitimer"), reason="needs setitimer")
def test_close_from_signal_handler_unblocks_wait(watcher, tmp_path):
    import signal
    watcher.watch(tmp_path)
    old = signal.signal(signal.SIGALRM, lambda *a: watcher.close())
    try:
        signal.setitimer(signal.ITIMER_REAL, 0.2)
        assert watcher.wait(LONG) is False
        assert watcher.closed
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
        signal.signal(signal.SIGALRM, old)


# --------------------------------------------------------------------------- exit without close

_LEFT_OPEN = {
    "log": """
        log.create_topic("t", partitions=1)
        log.topic("t").partition(0).append(b"x")
    """,
    "consumer": """
        log.create_topic("t", partitions=1)
        c = log.consumer(auto_offset_reset="earliest")
        c.assign([eventlog.TopicPartition("t", 0)])
        assert c.poll(timeout=0.2) == []
        log.topic("t").partition(0).append(b"x")
        assert len(c.poll(timeout=5)) == 1
    """,
    "producer": """
        log.create_topic("t", partitions=1)
        p = log.producer(linger_ms=50)
        p.send("t", b"x")
        c = log.consumer(auto_offset_reset="earliest")
        c.assign([eventlog.TopicPartition("t", 0)])
        c.poll(timeout=0.1)
    """,
    "group": """
        log.create_topic("t", partitions=2)
        c = log.consumer(group_id="g", auto_offset_reset="earliest")
        c.subscribe(["t"])
        deadline = time.monotonic() + 30
        while len(c.assignment()) < 2 and time.monotonic() < deadline:
            c.poll(timeout=0.05)
        assert len(c.assignment()) == 2
        c.poll(timeout=0.1)
    """,
}


EXIT_DEADLINE_S = 60    # generous: a healthy exit takes well under a second


@pytest.mark.parametrize("kind", sorted(_LEFT_OPEN))
def test_process_that_never_closes_exits_promptly(tmp_path, kind):
    """A script that forgets close() on a Log, Consumer, Producer or group member must still
    exit: a watcher collected during interpreter shutdown used to start its closing thread
    then, and Thread.start waited forever (Python 3.11)."""
    code = "import sys, time, eventlog\nlog = eventlog.open(sys.argv[1])\n" \
        + textwrap.dedent(_LEFT_OPEN[kind]) + "print('done', flush=True)\n"
    proc = subprocess.Popen([sys.executable, "-c", code, str(tmp_path / "log")],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        out, err = proc.communicate(timeout=EXIT_DEADLINE_S)
    except subprocess.TimeoutExpired:
        proc.kill()
        out, err = proc.communicate()
        pytest.fail(f"{kind}: the process did not exit within {EXIT_DEADLINE_S} s "
                    f"(printed {out!r}); stderr: {err.decode()[-2000:]}")
    assert proc.returncode == 0, err.decode()[-2000:]
    assert out == b"done\n"
