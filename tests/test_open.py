"""Opening the wrong path (issue 11, item 6): `eventlog.open` makes a log only of a missing or
empty directory, reopens an existing log, and refuses everything else with an EventLogError
that says what it found, writing nothing: an empty path (it would be the current
directory), a file, a non-empty directory that is not a log, a URL such as kafka://...
The CLI says the same in one line.

Real files in tmp_path; the concurrent-initialisation case uses real processes."""
import json
import multiprocessing
import os
import subprocess
import sys

import pytest

import eventlog
from eventlog.errors import EventLogError, InvalidArgumentError, NotALogDirectoryError

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SPAWN = multiprocessing.get_context("spawn")


def _tree(path):
    """Every path under `path` (relative), to prove nothing was written."""
    out = []
    for root, dirs, files in os.walk(path):
        for n in dirs + files:
            out.append(os.path.relpath(os.path.join(root, n), path))
    return sorted(out)


def test_empty_path_is_refused_and_the_cwd_stays_untouched(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "notes.txt").write_text("mine")
    for p in ("", " "):
        with pytest.raises(InvalidArgumentError) as ei:
            eventlog.open(p)
        assert "empty log path" in str(ei.value) and "'.'" in str(ei.value)
    assert _tree(tmp_path) == ["notes.txt"]


def test_empty_cwd_is_refused_even_when_it_is_empty(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgumentError):
        eventlog.open("")
    assert _tree(tmp_path) == []
    with eventlog.open(".") as log:  # said explicitly: fine, it is empty
        log.create_topic("t")
    assert "eventlog.json" in os.listdir(tmp_path)


def test_non_empty_directory_that_is_not_a_log_is_refused(tmp_path):
    d = tmp_path / "photos"
    d.mkdir()
    (d / "cat.jpg").write_bytes(b"\xff\xd8")
    (d / "album").mkdir()
    before = _tree(d)
    with pytest.raises(NotALogDirectoryError) as ei:
        eventlog.open(d)
    msg = str(ei.value)
    assert str(d) in msg and "'cat.jpg'" in msg and "'album'" in msg and "not empty" in msg
    assert "eventlog.json" in msg
    assert isinstance(ei.value, EventLogError)
    assert _tree(d) == before  # no eventlog.json, groups/ or topics/ written into it


def test_many_entries_are_summarised(tmp_path):
    for i in range(12):
        (tmp_path / f"f{i:02d}").write_text("x")
    with pytest.raises(NotALogDirectoryError, match=r"\.\.\. \(12 entries\)"):
        eventlog.open(tmp_path)


def test_a_file_is_refused_with_an_eventlog_error(tmp_path):
    f = tmp_path / "data.log"
    f.write_text("not a log")
    with pytest.raises(NotALogDirectoryError) as ei:
        eventlog.open(f)
    assert "is a file, not a directory" in str(ei.value) and str(f) in str(ei.value)
    assert not isinstance(ei.value, NotADirectoryError)
    with pytest.raises(NotALogDirectoryError, match="a parent of it is a file"):
        eventlog.open(f / "sub")
    assert f.read_text() == "not a log"


@pytest.mark.parametrize("url", ["file:///tmp/x", "s3://bucket/log", "kafka+ssl://h:9093"])
def test_urls_are_refused_naming_what_is_supported(tmp_path, monkeypatch, url):
    monkeypatch.chdir(tmp_path)
    with pytest.raises(InvalidArgumentError) as ei:
        eventlog.open(url)
    msg = str(ei.value)
    assert repr(url) in msg and "it is a URL" in msg
    assert "directory path" in msg and "kafka://" in msg
    assert _tree(tmp_path) == []  # no directory named "kafka:" (or anything) created


@pytest.mark.parametrize("url", ["kafka://127.0.0.1:9", "KAFKA://127.0.0.1:9,127.0.0.1:10?client.id=app"])
def test_kafka_urls_open_the_kafka_back_end_without_touching_the_directory(tmp_path, monkeypatch, url):
    pytest.importorskip("confluent_kafka")
    from eventlog.backends.kafka.log import KafkaLog
    monkeypatch.chdir(tmp_path)
    log = eventlog.open(url)   # lazy: nothing connects until a call needs the cluster
    assert isinstance(log, KafkaLog) and log.config["bootstrap.servers"].startswith("127.0.0.1:9")
    log.close()
    assert _tree(tmp_path) == []


def test_a_directory_named_like_a_url_can_still_be_opened_explicitly(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    with eventlog.open("./kafka://h:9092") as log:
        log.create_topic("t")
    assert os.path.isfile(tmp_path / "kafka:" / "h:9092" / "eventlog.json")


def test_non_path_argument_is_a_type_error(tmp_path):
    with pytest.raises(InvalidArgumentError, match="directory path"):
        eventlog.open(42)


def test_missing_and_empty_directories_become_logs_and_logs_reopen(tmp_path):
    nested = tmp_path / "a" / "b" / "log"
    with eventlog.open(nested) as log:
        log.create_topic("t").partition(0).append(b"x")
    assert sorted(os.listdir(nested)) == ["eventlog.json", "groups", "topics"]
    empty = tmp_path / "empty"
    empty.mkdir()
    with eventlog.open(empty) as log:
        log.create_topic("u")
    with eventlog.open(nested) as log:  # an existing log: opened, not refused
        assert log.topics() == ["t"]
        assert log.topic("t").partition(0).read(0)[0].value == b"x"
    with eventlog.open(str(empty).encode()) as log:  # bytes paths work too
        assert log.topics() == ["u"]


def test_half_initialised_directory_is_completed(tmp_path):
    """What initialising leaves before the marker is written (empty topics/ and groups/, the
    marker's temp file) is not "somebody else's data"."""
    d = tmp_path / "log"
    (d / "topics").mkdir(parents=True)
    (d / "groups").mkdir()
    (d / ".eventlog.json.0123456789ab.tmp").write_text("")
    with eventlog.open(d) as log:
        log.create_topic("t")
    assert json.loads((d / "eventlog.json").read_text())["format"] == "eventlog"
    # a marker that is missing next to real data is not guessed at
    d2 = tmp_path / "log2"
    (d2 / "topics" / "t").mkdir(parents=True)
    with pytest.raises(NotALogDirectoryError, match="'topics'"):
        eventlog.open(d2)


@pytest.mark.parametrize("content,match", [(b"{not json", "not valid JSON"),
                                           (b'{"format": "other"}', "not an eventlog directory")])
def test_a_foreign_marker_is_refused(tmp_path, content, match):
    (tmp_path / "eventlog.json").write_bytes(content)
    with pytest.raises(NotALogDirectoryError, match=match):
        eventlog.open(tmp_path)
    assert _tree(tmp_path) == ["eventlog.json"]


def _open_and_create(path, name, barrier):
    barrier.wait(30)
    with eventlog.open(path) as log:
        log.create_topic(name)


def test_processes_initialising_one_empty_directory_at_once_all_succeed(tmp_path):
    for round_ in range(3):
        d = tmp_path / f"log{round_}"
        d.mkdir()
        barrier = SPAWN.Barrier(4)
        procs = [SPAWN.Process(target=_open_and_create, args=(str(d), f"t{i}", barrier)) for i in range(4)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(120)
        assert [p.exitcode for p in procs] == [0, 0, 0, 0]
        with eventlog.open(d) as log:
            assert log.topics() == ["t0", "t1", "t2", "t3"]


# -- the command line ------------------------------------------------------------------------------

def _cli(*args, cwd=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("EVENTLOG_DIR", None)
    return subprocess.run([sys.executable, "-m", "eventlog", *args], capture_output=True, text=True,
                          env=env, cwd=cwd, timeout=120)


def test_cli_dir_is_a_file(tmp_path):
    f = tmp_path / "somefile"
    f.write_text("x")
    r = _cli("--dir", str(f), "topics")
    assert r.returncode == 1, r
    assert "is a file, not a directory" in r.stderr and "does not exist" not in r.stderr
    r = _cli("--dir", str(f), "topics", "create", "t")
    assert r.returncode == 1, r
    assert "is a file, not a directory" in r.stderr
    assert "Traceback" not in r.stderr and len(r.stderr.strip().splitlines()) == 1
    assert f.read_text() == "x"


def test_cli_create_refuses_a_non_empty_directory_and_urls(tmp_path):
    d = tmp_path / "project"
    d.mkdir()
    (d / "README").write_text("hi")
    r = _cli("--dir", str(d), "topics", "create", "t")
    assert r.returncode == 1 and "not an eventlog directory" in r.stderr and "'README'" in r.stderr, r
    assert _tree(d) == ["README"]
    # a URL is never made a directory: kafka:// goes to the Kafka back end (tests/test_backends.py),
    # any other scheme is refused
    r = _cli("--dir", "ftp://127.0.0.1:9092", "topics", "create", "t", cwd=tmp_path)
    assert r.returncode != 0 and "ftp://" in r.stderr, r
    assert not (tmp_path / "ftp:").exists()
