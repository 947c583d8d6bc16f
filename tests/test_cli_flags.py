"""Native subcommand flags that agree with each other and with kcat, and the first-hour
fixes: consume's note on a terminal, maintain's topic filter and structured --json, the bound
on partitions per topic, and topic deletion progress. Real subprocesses, a real pty where a
terminal matters."""
import json
import os
import pty
import subprocess
import sys

import pytest

import eventlog

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("EVENTLOG_DIR", None)
    return env


def run(d, *args, input="", rc=0, stderr_tty=False):
    cmd = [sys.executable, "-m", "eventlog", "--dir", str(d)] + [str(a) for a in args]
    if not stderr_tty:
        p = subprocess.run(cmd, input=input, capture_output=True, text=True, env=_env(), timeout=60)
        assert p.returncode == rc, (cmd, p.returncode, p.stdout, p.stderr)
        return p.stdout, p.stderr
    master, slave = pty.openpty()
    try:
        p = subprocess.run(cmd, input=input, stdout=subprocess.PIPE, stderr=slave, text=True,
                           env=_env(), timeout=60)
        os.close(slave)
        slave = None
        err = b""
        while True:
            try:
                chunk = os.read(master, 65536)
            except OSError:  # EIO: the pty's other side is closed and drained
                break
            if not chunk:
                break
            err += chunk
    finally:
        if slave is not None:
            os.close(slave)
        os.close(master)
    assert p.returncode == rc, (cmd, p.returncode, p.stdout, err)
    return p.stdout, err.decode().replace("\r\n", "\n")


@pytest.fixture
def d(tmp_path):
    log = eventlog.open(tmp_path / "data")
    log.create_topic("t", partitions=2)
    log.close()
    return tmp_path / "data"


def test_produce_partition_is_p_and_old_P_still_works_with_a_warning(d):
    run(d, "produce", "t", "-p", "1", "-k", "key", input="a\nb\n")
    _, err = run(d, "produce", "t", "-P", "0", input="c\n")
    assert "-P is deprecated; use -p/--partition" in err
    log = eventlog.open(d)
    p0, p1 = log.topic("t").partitions
    assert [(r.key, r.value) for r in p1.read(0)] == [(b"key", b"a"), (b"key", b"b")]
    assert [r.value for r in p0.read(0)] == [b"c"]
    log.close()


def test_consume_takes_kcat_letters_where_they_mean_the_same(d):
    run(d, "produce", "t", "-p", "0", input="".join(f"v{i}\n" for i in range(5)))
    out, _ = run(d, "consume", "t", "-p", "0", "-o", "1", "-c", "2", "--format", "%o:%s")
    assert out == "1:v1\n2:v2\n"
    out, _ = run(d, "consume", "t", "-p", "0", "-o", "s@0", "-c", "1")
    assert out == "v0\n"


def test_consume_from_the_end_says_so_on_a_terminal(d):
    run(d, "produce", "t", "-p", "0", input="a\nb\n")
    out, err = run(d, "consume", "t", stderr_tty=True)
    assert out == ""
    assert "starting at the end of t (2 earlier records)" in err and "--from-beginning" in err
    # not when the start was chosen, and never when stderr is not a terminal
    out, err = run(d, "consume", "t", "--from-beginning", stderr_tty=True)
    assert out == "a\nb\n" and "starting at the end" not in err
    assert run(d, "consume", "t") == ("", "")


def test_maintain_topic_filter_and_structured_json(d):
    log = eventlog.open(d)
    log.create_topic("other", partitions=1)
    log.close()
    doc = json.loads(run(d, "maintain", "t", "--json")[0])
    assert set(doc) == {"seconds", "partitions"}
    assert [(r["topic"], r["partition"]) for r in doc["partitions"]] == [("t", 0), ("t", 1)]
    assert {"segments_deleted", "bytes_freed"} <= set(doc["partitions"][0])
    doc = json.loads(run(d, "maintain", "--json")[0])
    assert [(r["topic"], r["partition"]) for r in doc["partitions"]] == [("other", 0), ("t", 0), ("t", 1)]
    _, err = run(d, "maintain", "nosuch", rc=1)
    assert "unknown topic 'nosuch'" in err


def test_many_partitions_are_refused_with_the_cost_and_nothing_is_made(d):
    _, err = run(d, "topics", "create", "big", "--partitions", "100000", rc=2)
    assert "100,000 directories" in err and "--allow-many-partitions" in err
    assert not any("big" in n for n in os.listdir(os.path.join(d, "topics")))
    _, err = run(d, "topics", "alter", "t", "--partitions", "10001", rc=2)
    assert "9,999 directories" in err
    assert len(os.listdir(os.path.join(d, "topics", "t"))) == 3  # 0, 1, topic.json


def test_delete_topic_reports_progress_per_partition(d):
    log = eventlog.open(d)
    log.create_topic("wide", partitions=50)
    seen = []
    log.delete_topic("wide", progress=lambda done, total: seen.append((done, total)))
    assert seen == [(i, 50) for i in range(1, 51)]
    assert "wide" not in log.topics()
    assert not [n for n in os.listdir(os.path.join(d, "topics")) if "wide" in n]
    log.close()
    out, _ = run(d, "topics", "delete", "t", "--yes", stderr_tty=True)
    assert out.startswith("deleted topic 't'")


def test_dir_that_is_a_file_is_named_as_such(tmp_path):
    f = tmp_path / "somefile"
    f.write_text("x")
    _, err = run(f, "topics", rc=1)
    assert "it is a file, not a directory" in err
