r"""`eventlog kcat`: kcat's flags over a log directory, run for real in subprocesses.

The expected outputs are kcat 1.7's documented formats (`kcat -h`: the -f tokens, the -J
envelope, the default `%s\n` and `%k<delim>%s\n` outputs, -L's layout) as real kcat printed
them against a real broker for the same input. When both a `kcat` binary and a Kafka broker
are available (the session broker fixture, or EVENTLOG_TEST_KAFKA_BOOTSTRAP), the same
commands also run through real kcat and the outputs are compared; otherwise that test skips.
"""
import json
import os
import shutil
import subprocess
import sys
import time
import uuid

import pytest

import eventlog
from eventlog.cli import kcat as kc

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _env():
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("EVENTLOG_DIR", None)
    return env


def kcat(*args, input=b"", rc=0, base=None):
    """Run `eventlog kcat ARGS` (or real kcat when base is given); returns (stdout, stderr) bytes."""
    cmd = (base or [sys.executable, "-m", "eventlog", "kcat"]) + [str(a) for a in args]
    p = subprocess.run(cmd, input=input, capture_output=True, env=_env(), timeout=60)
    assert p.returncode == rc, (cmd, p.returncode, p.stdout, p.stderr)
    return p.stdout, p.stderr


@pytest.fixture
def d(tmp_path):
    log = eventlog.open(tmp_path / "data")
    log.create_topic("demo", partitions=1)
    log.create_topic("multi", partitions=3)
    log.close()
    return str(tmp_path / "data")


INPUT = b"k1\thello\nk2\tworld\n\nnokey-line\n"


def _fill(d):
    kcat("-b", d, "-P", "-t", "demo", "-K", r"\t", "-H", "trace=1", "-H", "empty=", input=INPUT)


# -- pure parts -----------------------------------------------------------------------------------

def test_unescape_follows_kcat():
    assert kc.unescape(r"a\tb\nc\r") == b"a\tb\nc\r"
    assert kc.unescape(r"\x41\x4a!") == b"AJ!"
    assert kc.unescape(r"\65") == b"A"          # decimal, as strtoul(base 0)
    assert kc.unescape(r"\101") == b"e"         # 101 decimal
    assert kc.unescape(r"\0101") == b"A"        # 0-prefixed: octal
    assert kc.unescape(r"\q\\") == b"q\\"


def test_format_tokens_and_errors():
    r = eventlog.record.Record("t", 2, 7, 1234, b"key", b"val", (("a", b"1"), ("n", None)))
    f = kc.compile_format(r"%t|%p|%o|%T|%k|%K|%s|%S|%h|%%\n")
    assert f(r) == b"t|2|7|1234|key|3|val|3|a=1,n=NULL|%\n"
    null = eventlog.record.Record("t", 0, 0, 1, None, None, ())
    assert kc.compile_format("%k|%s|%K|%S|%h")(null) == b"||-1|-1|"
    assert kc.compile_format("%k|%s", null=True)(null) == b"NULL|NULL"
    with pytest.raises(Exception, match="unsupported formatter: %v"):
        kc.compile_format("%v")
    with pytest.raises(Exception, match="empty formatter"):
        kc.compile_format("x%")


def test_getopt_parsing_is_kcats():
    o = kc.parse_args(["-Ce", "-tdemo", "-o", "-5", "-b", "d", "-p1", "-c", "3"])
    assert (o.mode, o.exit_eof, o.topic, o.offset, o.partition, o.count) == ("C", True, "demo", ("tail", 5), 1, 3)
    o = kc.parse_args(["-b", "d", "-G", "g", "t1", "t2", "-e", "-o", "s@1000"])
    assert (o.mode, o.group, o.args, o.offset) == ("G", "g", ["t1", "t2"], ("time", 1000))
    assert kc.parse_args(["-o", "e@5"]).stop_ts == 5


# -- consume output against kcat's formats ------------------------------------------------------------

def test_produce_then_format_tokens(d):
    _fill(d)
    out, err = kcat("-b", d, "-C", "-t", "demo", "-e",
                    "-f", r"Topic %t [%p] at offset %o: key %k: %s (K=%K S=%S h=%h)\n")
    assert out == (b"Topic demo [0] at offset 0: key k1: hello (K=2 S=5 h=trace=1,empty=)\n"
                   b"Topic demo [0] at offset 1: key k2: world (K=2 S=5 h=trace=1,empty=)\n"
                   b"Topic demo [0] at offset 2: key : nokey-line (K=-1 S=10 h=trace=1,empty=)\n")
    assert err == b"% Reached end of topic demo [0] at offset 3: exiting\n"


def test_default_output_key_delimiter_and_quiet(d):
    _fill(d)
    out, err = kcat("-b", d, "-C", "-t", "demo", "-e", "-q")
    assert (out, err) == (b"hello\nworld\nnokey-line\n", b"")
    out, _ = kcat("-b", d, "-C", "-t", "demo", "-e", "-K:")
    assert out == b"k1:hello\nk2:world\n:nokey-line\n"
    out, _ = kcat("-b", d, "-C", "-t", "demo", "-e", "-D", "|", "-q")
    assert out == b"hello|world|nokey-line|"


def test_json_envelope(d):
    _fill(d)
    out, _ = kcat("-b", d, "-C", "-t", "demo", "-e", "-J", "-q")
    lines = out.decode().splitlines()
    docs = [json.loads(x) for x in lines]
    assert [list(x) for x in docs] == [["topic", "partition", "offset", "tstype", "ts", "broker",
                                        "headers", "key", "payload"]] * 3
    assert docs[0]["headers"] == ["trace", "1", "empty", ""]
    assert [(x["key"], x["payload"], x["offset"]) for x in docs] == [
        ("k1", "hello", 0), ("k2", "world", 1), (None, "nokey-line", 2)]
    assert lines[0].startswith('{"topic":"demo","partition":0,"offset":0,"tstype":"create","ts":')
    # no headers: no "headers" field (as kcat); binary bytes are written as they are
    kcat("-b", d, "-P", "-t", "multi", "-p", "1", input=b'\xff\x01"q\n')
    out, _ = kcat("-b", d, "-C", "-t", "multi", "-p", "1", "-e", "-J", "-q")
    assert b'"broker":0,"key":null,"payload":"\xff\\u0001\\"q"}\n' in out


def test_null_flag_and_fixed_key(d):
    kcat("-b", d, "-P", "-t", "demo", "-k", "kk", input=b"a\nb\n")
    kcat("-b", d, "-P", "-t", "demo", "-K:", "-Z", input=b"x:\n:y\n")
    out, _ = kcat("-b", d, "-C", "-t", "demo", "-e", "-Z", "-f", r"%k|%s|%K|%S\n", "-q")
    assert out == b"kk|a|2|1\nkk|b|2|1\nx|NULL|1|-1\nNULL|y|-1|1\n"


def test_offsets_count_and_partition(d):
    kcat("-b", d, "-P", "-t", "multi", "-p", "2", input=b"".join(b"m%d\n" % i for i in range(10)))
    q = ("-b", d, "-C", "-t", "multi", "-p", "2", "-e", "-q")
    assert kcat(*q, "-o", "beginning", "-c", "2")[0] == b"m0\nm1\n"
    assert kcat(*q, "-o", "7")[0] == b"m7\nm8\nm9\n"
    assert kcat(*q, "-o", "-2")[0] == b"m8\nm9\n"
    assert kcat(*q, "-o", "end")[0] == b""
    assert kcat(*q, "-o", "s@0", "-c", "1")[0] == b"m0\n"
    assert kcat(*q, "-o", f"s@{int(time.time() * 1000) + 3_600_000}")[0] == b""
    assert kcat(*q, "-o", "e@0")[0] == b""
    # all partitions, -e ends after each one reported its end
    out, err = kcat("-b", d, "-C", "-t", "multi", "-e", "-f", r"%p:%o\n")
    assert sorted(out.split()) == sorted(b"2:%d" % i for i in range(10))
    assert err.count(b"Reached end of topic multi") == 3 and err.endswith(b": exiting\n")
    _, err = kcat("-b", d, "-C", "-t", "multi", "-p", "3", "-e", rc=1)
    assert b"Topic multi (with partitions 0..2): partition 3 does not exist" in err


def test_producer_partitions_random_and_tee_and_files(d, tmp_path):
    out, _ = kcat("-b", d, "-P", "-t", "multi", "-p", "-1", "-T", input=b"a\nb\nc\n")
    assert out == b"a\nb\nc\n"
    log = eventlog.open(d)
    assert sum(p.end_offset for p in log.topic("multi").partitions) == 3
    f1, f2 = tmp_path / "f1", tmp_path / "f2"
    f1.write_bytes(b"one\nfile\n")
    f2.write_bytes(b"x")
    kcat("-b", d, "-P", "-t", "demo", f1, f2)
    assert [r.value for r in log.topic("demo").partition(0).read(0)] == [b"one\nfile\n", b"x"]
    kcat("-b", d, "-P", "-t", "demo", "-l", f1, "-c", "1")
    assert [r.value for r in log.topic("demo").partition(0).read(2)] == [b"one"]
    log.close()


def test_metadata_list(d):
    out, _ = kcat("-b", d, "-L")
    assert out.decode() == (f"Metadata for all topics (from broker 0: {d}/0):\n"
                            " 1 brokers:\n"
                            f"  broker 0 at {d} (controller)\n"
                            " 2 topics:\n"
                            '  topic "demo" with 1 partitions:\n'
                            "    partition 0, leader 0, replicas: 0, isrs: 0\n"
                            '  topic "multi" with 3 partitions:\n'
                            "    partition 0, leader 0, replicas: 0, isrs: 0\n"
                            "    partition 1, leader 0, replicas: 0, isrs: 0\n"
                            "    partition 2, leader 0, replicas: 0, isrs: 0\n")
    out, _ = kcat("-b", d, "-L", "-t", "nosuch")
    assert b'  topic "nosuch" with 0 partitions: Broker: Unknown topic or partition\n' in out
    doc = json.loads(kcat("-b", d, "-L", "-J", "-t", "demo")[0])
    assert list(doc) == ["originating_broker", "query", "controllerid", "brokers", "topics"]
    assert doc["topics"] == [{"topic": "demo", "partitions": [
        {"partition": 0, "leader": 0, "replicas": [{"id": 0}], "isrs": [{"id": 0}]}]}]


def test_group_mode_commits_what_it_printed(d):
    kcat("-b", d, "-P", "-t", "multi", "-p", "0", input=b"a\nb\nc\n")
    # a new group starts at the end (librdkafka's auto.offset.reset), as kcat -G does
    out, err = kcat("-b", d, "-G", "g1", "multi", "-e")
    assert out == b""
    assert err.startswith(b"% Waiting for group rebalance\n% Group g1 rebalanced: assigned: multi [0], multi [1], multi [2]\n")
    out, _ = kcat("-b", d, "-G", "g2", "multi", "-e", "-o", "beginning", "-c", "2", "-q")
    assert out == b"a\nb\n"
    out, _ = kcat("-b", d, "-G", "g2", "multi", "-e", "-q")       # resumes from the commit
    assert out == b"c\n"
    log = eventlog.open(d)
    assert log.group("g2").committed()[eventlog.TopicPartition("multi", 0)] == 3
    log.close()


def test_backend_and_usage_errors(d, tmp_path):
    _, err = kcat("-b", "ftp://localhost:9092", "-L", rc=2)
    assert b"unknown scheme 'ftp'" in err and b"kafka://host:port" in err
    _, err = kcat("-b", "localhost:9092", "-C", "-t", "demo", rc=2)
    assert b"looks like a Kafka broker address" in err
    _, err = kcat("-C", "-t", "demo", rc=2)
    assert b"-b <log directory> missing" in err
    _, err = kcat("-b", d, "-C", rc=2)
    assert b"-t <topic> missing" in err
    _, err = kcat("-b", d, "-Q", "-t", "demo:0:0", rc=2)
    assert b"query mode (-Q)" in err and b"not supported" in err
    _, err = kcat("-b", d, "-C", "-P", rc=2)
    assert b"do not mix modes" in err
    _, err = kcat("-b", d, "-C", "-t", "nosuch", "-e", rc=1)
    assert b"unknown topic 'nosuch'" in err
    _, err = kcat("-b", str(tmp_path / "nothing"), "-L", rc=1)
    assert b"it does not exist" in err
    # the global --dir works too, and stdin that is not a terminal selects producer mode
    subprocess.run([sys.executable, "-m", "eventlog", "--dir", d, "kcat", "-t", "demo"], input=b"auto\n",
                   env=_env(), check=True, capture_output=True)
    assert kcat("-b", d, "-C", "-t", "demo", "-e", "-q")[0] == b"auto\n"
    for flag in ("-h", "--help"):
        out, _ = kcat(flag)
        assert b"-o <offset>" in out


# -- against real kcat and a real broker, when both are there -------------------------------------

def _bootstrap(request):
    for name in ("kafka_bootstrap", "kafka_broker"):
        try:
            v = request.getfixturevalue(name)
        except pytest.FixtureLookupError:
            continue
        return v if isinstance(v, str) else getattr(v, "bootstrap", None) or getattr(v, "bootstrap_servers", None)
    return os.environ.get("EVENTLOG_TEST_KAFKA_BOOTSTRAP")


def test_same_output_as_real_kcat(request, d):
    real = shutil.which("kcat") or shutil.which("kafkacat")
    if not real:
        pytest.skip("no kcat binary (apt-get install kcat)")
    bootstrap = _bootstrap(request)
    if not bootstrap:
        pytest.skip("no Kafka broker (session fixture kafka_bootstrap / EVENTLOG_TEST_KAFKA_BOOTSTRAP)")
    topic = "kcat-cmp-" + uuid.uuid4().hex[:8]
    log = eventlog.open(d)
    log.create_topic(topic, partitions=1)
    log.close()
    commands = [
        ["-C", "-t", topic, "-e", "-f", r"%t [%p] @%o: %k=%s K=%K S=%S h=%h\n"],
        ["-C", "-t", topic, "-e", "-K", "|"],
        ["-C", "-t", topic, "-o", "-2", "-e", "-Z", "-f", r"%k;%s\n"],
    ]
    for b, base in ((bootstrap, [real]), (d, None)):
        kcat("-b", b, "-P", "-t", topic, "-K", r"\t", "-H", "h=1", input=INPUT, base=base)
    for c in commands:
        want, want_err = kcat("-b", bootstrap, *c, base=[real])
        got, got_err = kcat("-b", d, *c)
        assert got == want, c
        assert got_err.splitlines()[-1:] == want_err.splitlines()[-1:], c


@pytest.mark.kafka
def test_kafka_url_selects_the_kafka_back_end(kafka_bootstrap):
    """`-b kafka://host:port` produces to and consumes from a real broker, and the native
    commands take `--dir kafka://...` the same way."""
    import uuid
    topic = f"kcat-{uuid.uuid4().hex[:8]}"
    url = f"kafka://{kafka_bootstrap}"
    env_cli = [sys.executable, "-m", "eventlog", "--dir", url]
    p = subprocess.run(env_cli + ["topics", "create", topic, "--partitions", "1"], capture_output=True, timeout=120)
    assert p.returncode == 0, p.stderr
    p = subprocess.run(env_cli + ["topics"], capture_output=True, timeout=120)
    assert p.returncode == 0 and topic.encode() in p.stdout, p
    kcat("-b", url, "-P", "-t", topic, "-K:", input=b"k1:one\nk2:two\n")
    out, _ = kcat("-b", url, "-C", "-t", topic, "-e", "-q", "-f", "%o %k %s\n")
    assert out == b"0 k1 one\n1 k2 two\n"
