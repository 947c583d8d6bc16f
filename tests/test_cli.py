"""The `eventlog` command line, run for real in subprocesses (`python -m eventlog`, and the
`eventlog` console script when it is installed): every command's table and --json output,
produce -> consume round trips, --follow across processes, Ctrl-C / SIGTERM / closed pipes,
consumer groups (when this eventlog has them), verify finding and repairing damage, dump,
perf, and the exit status and one-line message of bad input."""
import json
import os
import shutil
import signal
import subprocess
import sys
import time

import pytest

import eventlog
from eventlog import TopicPartition

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
_HAS_GROUPS = hasattr(eventlog.Log, "group") and hasattr(eventlog.Log, "groups")
_HAS_MAINTAIN = hasattr(eventlog.Log, "maintain")
needs_groups = pytest.mark.skipif(not _HAS_GROUPS, reason="this eventlog has no consumer groups (log.group)")
needs_maintain = pytest.mark.skipif(not _HAS_MAINTAIN, reason="this eventlog has no log.maintain()")


def _console_script():
    exe = os.path.join(os.path.dirname(sys.executable), "eventlog")
    if os.path.exists(exe):
        return exe
    return shutil.which("eventlog")


SCRIPT = _console_script()
RUNNERS = [pytest.param([sys.executable, "-m", "eventlog"], id="python-m")]
RUNNERS.append(pytest.param([SCRIPT] if SCRIPT else None, id="console-script",
                            marks=pytest.mark.skipif(not SCRIPT, reason="the eventlog console script is not installed")))


def _env(extra=None):
    env = dict(os.environ)
    env["PYTHONPATH"] = ROOT + (os.pathsep + env["PYTHONPATH"] if env.get("PYTHONPATH") else "")
    env.pop("EVENTLOG_DIR", None)
    env.pop("NO_COLOR", None)
    env["COLUMNS"] = "120"
    if extra:
        env.update(extra)
    return env


class CLI:
    """Runs `eventlog --dir <dir> ...` and returns the CompletedProcess (text by default)."""

    def __init__(self, directory, base=None):
        self.dir = str(directory)
        self.base = base or [sys.executable, "-m", "eventlog"]

    def cmd(self, *args, with_dir=True):
        return self.base + (["--dir", self.dir] if with_dir else []) + [str(a) for a in args]

    def __call__(self, *args, input=None, rc=0, with_dir=True, env=None, binary=False, timeout=60):
        if isinstance(input, str) and binary:
            input = input.encode()
        p = subprocess.run(self.cmd(*args, with_dir=with_dir), input=input, capture_output=True,
                           text=not binary, env=_env(env), timeout=timeout, cwd=ROOT)
        if rc is not None:
            assert p.returncode == rc, (p.returncode, p.stdout, p.stderr)
        return p

    def json(self, *args, **kw):
        p = self(*args, "--json", **kw)
        return json.loads(p.stdout)

    def popen(self, *args, **kw):
        return subprocess.Popen(self.cmd(*args), stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                                env=_env(), cwd=ROOT, **kw)


@pytest.fixture
def cli(tmp_path):
    return CLI(tmp_path / "data")


def one_error_line(p, *needles):
    """stderr is exactly one line, 'eventlog...: error: ...', containing every needle."""
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1, p.stderr
    assert "error:" in lines[0] and "Traceback" not in p.stderr
    for n in needles:
        assert n in lines[0], (n, lines[0])
    return lines[0]


def read_line(proc, timeout=10.0, stream="stdout"):
    """The next line of a running process's stdout (or stderr), as bytes; fail after `timeout`."""
    import selectors
    f = getattr(proc, stream)
    sel = selectors.DefaultSelector()
    sel.register(f, selectors.EVENT_READ)
    deadline = time.monotonic() + timeout
    buf = b""
    fd = f.fileno()
    while b"\n" not in buf:
        left = deadline - time.monotonic()
        assert left > 0, f"no line within {timeout}s (got {buf!r})"
        if sel.select(left):
            chunk = os.read(fd, 1)
            assert chunk, f"{stream} closed (got {buf!r})"
            buf += chunk
    sel.close()
    return buf


# -- help, entry points ------------------------------------------------------------------------

@pytest.mark.parametrize("runner", RUNNERS)
def test_entry_points_round_trip(tmp_path, runner):
    cli = CLI(tmp_path / "data", runner)
    p = cli("--help", with_dir=False)
    for command in ("topics", "produce", "consume", "groups", "dump", "verify", "maintain", "perf"):
        assert command in p.stdout
    assert cli("--version", with_dir=False).stdout.startswith("eventlog ")
    cli("topics", "create", "orders", "--partitions", "2")
    cli("produce", "orders", "--key-separator", ":", input="k1:hello\nk2:world\n")
    out = cli("consume", "orders", "--from-beginning", "--format", "%k=%v").stdout
    assert sorted(out.splitlines()) == ["k1=hello", "k2=world"]


def test_every_subcommand_has_help(cli):
    from eventlog.cli.main import build_parser
    parser = build_parser()
    paths = [["topics"], ["topics", "list"], ["topics", "create"], ["topics", "describe"],
             ["topics", "alter"], ["topics", "delete"], ["produce"], ["consume"], ["groups"],
             ["groups", "list"], ["groups", "describe"], ["groups", "reset-offsets"], ["dump"],
             ["verify"], ["maintain"], ["perf"], ["perf", "produce"], ["perf", "consume"]]
    for path in paths:
        with pytest.raises(SystemExit) as e:
            parser.parse_args(path + ["--help"])
        assert e.value.code == 0
    # and for real, one of them
    p = cli("consume", "--help", with_dir=False)
    assert "--from-beginning" in p.stdout and "%k" in p.stdout


# -- topics ----------------------------------------------------------------------------------------

def test_topics_create_list_describe_alter_delete(cli):
    p = cli("topics", "create", "orders", "--partitions", "4", "--retention", "7d", "--compression", "zstd")
    assert "created topic orders" in p.stdout
    cli("topics", "create", "users", "--compact", "--config", "min.compaction.lag.ms=1h",
        "--retention-bytes", "10GiB", "--segment-bytes", "1MiB")
    cli("produce", "orders", "--key", "k", input="a\nb\nc\n")

    table = cli("topics").stdout.splitlines()
    assert table[0].split()[:4] == ["TOPIC", "PARTITIONS", "RECORDS", "SIZE"]
    row = next(r for r in table if r.startswith("orders"))
    assert row.split()[1:3] == ["4", "3"] and "zstd" in row and "7d" in row
    assert cli("topics", "list").stdout.splitlines()[0] == table[0]

    docs = cli.json("topics")
    by = {d["topic"]: d for d in docs}
    assert by["orders"]["partitions"] == 4 and by["orders"]["records"] == 3 and by["orders"]["bytes"] > 0
    assert by["orders"]["retention_ms"] == 7 * 86400_000 and by["orders"]["compression"] == "zstd"
    assert by["users"]["cleanup_policy"] == "compact" and by["users"]["retention_bytes"] == 10 << 30

    p = cli("topics", "describe", "orders")
    assert "retention.ms" in p.stdout and "7d" in p.stdout
    assert "PARTITION" in p.stdout and "START" in p.stdout and "LAST WRITE" in p.stdout
    d = cli.json("topics", "describe", "users")
    assert d["config"]["min_compaction_lag_ms"] == 3600_000 and d["config"]["segment_bytes"] == 1 << 20
    d = cli.json("topics", "describe", "orders")
    assert [x["partition"] for x in d["partitions"]] == [0, 1, 2, 3]
    assert sum(x["records"] for x in d["partitions"]) == 3
    assert sum(x["end_offset"] for x in d["partitions"]) == 3

    p = cli("topics", "alter", "orders", "--retention", "1h", "--partitions", "6")
    assert "retention.ms 7d -> 1h" in p.stdout and "partitions 4 -> 6" in p.stdout
    assert cli.json("topics", "describe", "orders")["config"]["retention_ms"] == 3600_000
    cli("topics", "alter", "orders", "--retention", "none")
    assert cli.json("topics", "describe", "orders")["config"]["retention_ms"] is None

    p = cli("topics", "delete", "orders", rc=1)
    one_error_line(p, "--yes", "orders", "3 records")
    assert "orders" in [d["topic"] for d in cli.json("topics")]
    p = cli("topics", "delete", "orders", "--yes")
    assert "deleted topic 'orders'" in p.stdout
    assert [d["topic"] for d in cli.json("topics")] == ["users"]
    cli("topics", "delete", "orders", "--yes", "--if-exists")
    one_error_line(cli("topics", "create", "users", rc=1), "already exists")
    cli("topics", "create", "users", "--if-not-exists")


def test_topics_bad_input(cli):
    one_error_line(cli("topics", "create", "x", "--retention", "7x", rc=2), "bad duration '7x'")
    one_error_line(cli("topics", "create", "x", "--segment-bytes", "lots", rc=2), "bad size 'lots'")
    one_error_line(cli("topics", "create", "bad/name", rc=1), "invalid topic name")
    cli("topics", "create", "t", "--partitions", "2")
    one_error_line(cli("topics", "alter", "t", rc=2), "nothing to alter")
    one_error_line(cli("topics", "describe", "nope", rc=1), "unknown topic 'nope'", "topics create nope")
    one_error_line(cli("topics", "alter", "t", "--partitions", "1", rc=1), "partitions can only grow")
    one_error_line(cli("topics", "alter", "t", "--config", "nonsense=1", rc=1), "nonsense")
    one_error_line(cli("topics", "bogus", rc=2), "invalid choice")


# -- produce / consume -------------------------------------------------------------------------------

def test_produce_consume_keys_and_format(cli):
    cli("topics", "create", "orders", "--partitions", "3")
    cli("produce", "orders", "--key-separator", r"\t", "--header", "src=cli", input="k1\thello\nk2\tworld\nk1\tagain\n")
    p = cli("consume", "orders", "--from-beginning", "--format", r"%t|%p|%o|%k|%v|%h|%K|%S")
    rows = [line.split("|") for line in p.stdout.splitlines()]
    assert len(rows) == 3
    assert sorted((r[3], r[4]) for r in rows) == [("k1", "again"), ("k1", "hello"), ("k2", "world")]
    assert all(r[0] == "orders" and r[5] == "src=cli" and r[6] == "2" for r in rows)
    k1 = [r for r in rows if r[3] == "k1"]
    assert k1[0][1] == k1[1][1]  # one key, one partition
    assert [int(r[2]) for r in k1] == sorted(int(r[2]) for r in k1)
    # the default format is the value; %T is the timestamp in ms; %% is a percent sign
    vals = cli("consume", "orders", "--from-beginning").stdout.split()
    assert sorted(vals) == ["again", "hello", "world"]
    ts = cli("consume", "orders", "--from-beginning", "--max", "1", "--format", "%T %%").stdout.split()
    assert abs(int(ts[0]) - time.time() * 1000) < 600_000 and ts[1] == "%"
    # a consumer without --from-beginning starts at the end: nothing, exit 0
    assert cli("consume", "orders").stdout == ""


def test_produce_consume_json_round_trip(cli):
    cli("topics", "create", "src", "--partitions", "2")
    cli("topics", "create", "dst", "--partitions", "2")
    lines = [
        {"key": "user-1", "value": "hello", "headers": {"trace": "abc", "n": "1"}},
        {"key": None, "value": {"nested": [1, 2]}},
        {"key": "user-2", "value": None},
        {"key_b64": "/wA=", "value_b64": "gICA", "headers": [["dup", "1"], ["dup", {"b64": "/w=="}]]},
        {"key": "user-3", "value": "ünïcode ✓", "timestamp_ms": 1_700_000_000_000, "partition": 1},
    ]
    cli("produce", "src", "--json", input="\n".join(json.dumps(x) for x in lines) + "\n\n")
    out = cli("consume", "src", "--from-beginning", "--json").stdout
    recs = [json.loads(x) for x in out.splitlines()]
    assert len(recs) == 5
    by_key = {r.get("key", r.get("key_b64")): r for r in recs}
    assert by_key["user-1"]["value"] == "hello" and by_key["user-1"]["headers"] == {"trace": "abc", "n": "1"}
    assert by_key[None]["value"] == '{"nested":[1,2]}'
    assert by_key["user-2"]["value"] is None                    # a tombstone
    binary = by_key["/wA="]
    assert binary["value_b64"] == "gICA" and "value" not in binary
    assert binary["headers"] == [["dup", "1"], ["dup", {"b64": "/w=="}]]
    u3 = by_key["user-3"]
    assert u3["value"] == "ünïcode ✓" and u3["timestamp_ms"] == 1_700_000_000_000 and u3["partition"] == 1
    for r in recs:
        assert set(r) >= {"topic", "partition", "offset", "timestamp_ms", "headers"}
    # consume --json | produce --json copies records losslessly
    cli("produce", "dst", "--json", input=out)
    copy = [json.loads(x) for x in cli("consume", "dst", "--from-beginning", "--json").stdout.splitlines()]

    def strip(r):
        return {k: v for k, v in r.items() if k not in ("topic", "offset")}
    assert sorted(map(json.dumps, map(strip, copy))) == sorted(map(json.dumps, map(strip, recs)))


def test_produce_malformed_json_names_the_line_and_writes_nothing_after(cli):
    cli("topics", "create", "t")
    good = [json.dumps({"key": f"k{i}", "value": f"v{i}"}) for i in range(3)]
    text = "\n".join(good + ['{"key": "bad", "value": ', json.dumps({"key": "after", "value": "x"})]) + "\n"
    p = cli("produce", "t", "--json", input=text, rc=1)
    one_error_line(p, "line 4", "malformed JSON", "3 records before it were written")
    vals = cli("consume", "t", "--from-beginning").stdout.split()
    assert vals == ["v0", "v1", "v2"]
    # --all-or-nothing: a bad line anywhere means nothing at all is written
    p = cli("produce", "t", "--json", "--all-or-nothing", input="\n".join(good + ["[1, 2]"]) + "\n", rc=1)
    one_error_line(p, "line 4", "nothing was written")
    assert cli("consume", "t", "--from-beginning").stdout.split() == ["v0", "v1", "v2"]
    # other bad lines: no separator, unknown field, too large
    one_error_line(cli("produce", "t", "-K", ":", input="a:1\nno separator\n", rc=1), "line 2", "separator")
    one_error_line(cli("produce", "t", "--json", input='{"vaule": "x"}\n', rc=1), "line 1", "unknown field 'vaule'")
    cli("topics", "create", "small", "--max-record-bytes", "100")
    one_error_line(cli("produce", "small", input="ok\n" + "x" * 500 + "\n", rc=1), "line 2", "max_record_bytes")
    assert cli("consume", "small", "--from-beginning").stdout == "ok\n"
    cli("topics", "create", "compacted", "--compact")
    one_error_line(cli("produce", "compacted", input="no key\n", rc=1), "line 1", "needs a key")
    assert cli("consume", "t", "--from-beginning").stdout.split() == ["v0", "v1", "v2", "1"]


def test_consume_offset_partition_max_since(cli):
    cli("topics", "create", "t", "--partitions", "2")
    cli("produce", "t", "--partition", "1", input="".join(f"v{i}\n" for i in range(20)))
    cli("produce", "t", "--partition", "0", input="p0\n")
    recs = [json.loads(x) for x in cli("consume", "t", "--offset", "5", "--partition", "1", "--max", "3",
                                       "--json").stdout.splitlines()]
    assert [(r["partition"], r["offset"], r["value"]) for r in recs] == [(1, 5, "v5"), (1, 6, "v6"), (1, 7, "v7")]
    assert cli("consume", "t", "-p", "1", "-o", "-2").stdout.split() == ["v18", "v19"]
    assert cli("consume", "t", "-p", "1", "-o", "earliest", "-n", "1").stdout == "v0\n"
    assert cli("consume", "t", "-p", "1", "-o", "latest").stdout == ""
    assert sorted(cli("consume", "t", "--since", "1h").stdout.split()) == sorted(["p0"] + [f"v{i}" for i in range(20)])
    assert cli("consume", "t", "--since", "2999-01-01T00:00").stdout == ""
    one_error_line(cli("consume", "t", "-p", "1", "-o", "99", rc=1), "out of range", "0..20")
    one_error_line(cli("consume", "t", "-p", "7", rc=1), "no partition 7")
    one_error_line(cli("consume", "t", "--format", "%q", rc=2), "%q")
    one_error_line(cli("consume", "t", "--group", "g", "--partition", "0", rc=2), "--group")
    one_error_line(cli("consume", "t", "--since", "yesterday-ish", rc=2), "--since")


def test_consume_follow_sees_records_from_another_process(cli):
    cli("topics", "create", "live", "--partitions", "2")
    proc = cli.popen("consume", "live", "--from-beginning", "--follow", "--format", "%p %o %v")
    try:
        time.sleep(0.3)
        assert proc.poll() is None
        cli("produce", "live", "--partition", "1", input="first\n")
        assert read_line(proc) == b"1 0 first\n"
        # written by another process through the library
        with eventlog.open(cli.dir) as log:
            log.topic("live").partition(0).append(b"second", key=b"k")
        assert read_line(proc) == b"0 0 second\n"
    finally:
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and b"Traceback" not in err, err


def test_consume_ctrl_c_and_closed_pipe_exit_cleanly(cli):
    cli("topics", "create", "t")
    cli("produce", "t", input="".join(f"value-{i:06d}\n" for i in range(30000)))
    proc = cli.popen("consume", "t", "--follow", "--from-beginning")
    try:
        assert read_line(proc) == b"value-000000\n"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0 and err == b"", err
    # `| head -1` closes the pipe after one line: consume stops quietly
    sh = " ".join(map(_quote, cli.cmd("consume", "t", "--from-beginning")))
    p = subprocess.run(["bash", "-c", f"set -o pipefail; {sh} | head -1"], capture_output=True, text=True,
                       env=_env(), timeout=30)
    assert p.stdout == "value-000000\n" and p.returncode == 0 and p.stderr == "", p.stderr


def _quote(s):
    import shlex
    return shlex.quote(s)


def test_consume_group_resumes_from_commits(cli):
    cli("topics", "create", "t", "--partitions", "2")
    cli("produce", "t", "--key-separator", "=", input="a=1\nb=2\nc=3\n")
    first = cli("consume", "t", "--group", "g", "--from-beginning").stdout.split()
    assert sorted(first) == ["1", "2", "3"]
    assert cli("consume", "t", "--group", "g", "--from-beginning").stdout == ""
    cli("produce", "t", "--key-separator", "=", input="d=4\n")
    assert cli("consume", "t", "--group", "g").stdout == "4\n"
    with eventlog.open(cli.dir) as log:
        c = log.consumer(group_id="g")
        assert sum(c.committed(TopicPartition("t", p)) or 0 for p in (0, 1)) == 4
        c.close()


# -- groups ------------------------------------------------------------------------------------------

@pytest.mark.skipif(_HAS_GROUPS, reason="this eventlog has consumer groups")
def test_groups_not_available_message(cli):
    cli("topics", "create", "t")
    for args in (["groups"], ["groups", "describe", "g"], ["groups", "reset-offsets", "g", "--to-earliest"]):
        one_error_line(cli(*args, rc=1), "not available in this version")


@pytest.mark.skipif(_HAS_MAINTAIN, reason="this eventlog has log.maintain()")
def test_maintain_not_available_message(cli):
    cli("topics", "create", "t")
    one_error_line(cli("maintain", rc=1), "not available in this version")


@needs_maintain
def test_maintain_runs_and_reports(cli):
    cli("topics", "create", "t", "--retention", "1s", "--segment-bytes", "1KiB")
    cli("produce", "t", input="".join(f"{'x' * 100}{i}\n" for i in range(50)))
    p = cli("maintain")
    assert "maintenance done" in p.stdout
    doc = cli.json("maintain")
    assert "partitions" in doc and "seconds" in doc
    assert {(r["topic"], r["partition"]) for r in doc["partitions"]} == {("t", 0)}


def _wait_members(cli, group, n, timeout=15.0):
    deadline = time.monotonic() + timeout
    while True:
        p = cli("groups", "describe", group, "--json", rc=None)
        if p.returncode == 0:
            d = json.loads(p.stdout)
            if len(d["members"]) == n:
                return d
        assert time.monotonic() < deadline, f"group {group!r} never had {n} members: {p.stdout} {p.stderr}"
        time.sleep(0.2)


@needs_groups
def test_groups_describe_and_reset_offsets_with_live_member(cli):
    cli("topics", "create", "orders", "--partitions", "2")
    cli("produce", "orders", "--key-separator", "=", input="".join(f"k{i}=v{i}\n" for i in range(10)))
    # a live member: a real consumer process in the group
    proc = cli.popen("consume", "orders", "--group", "billing", "--from-beginning", "--follow")
    try:
        got = [read_line(proc) for _ in range(10)]
        assert sorted(got) == sorted(f"v{i}\n".encode() for i in range(10))
        d = _wait_members(cli, "billing", 1)
        assert d["state"] != "Empty"
        # the lag reaches 0 once the member has committed what it printed
        deadline = time.monotonic() + 10
        while cli.json("groups", "describe", "billing")["lag"] != 0:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        p = cli("groups")
        assert p.stdout.splitlines()[0].split()[:3] == ["GROUP", "STATE", "MEMBERS"]
        assert "billing" in p.stdout
        p = cli("groups", "describe", "billing")
        assert "MEMBER" in p.stdout and "COMMITTED" in p.stdout and "LAG" in p.stdout
        groups = cli.json("groups")
        assert [g["group"] for g in groups] == ["billing"] and groups[0]["members"] == 1
        # refused while the member lives, naming it
        member = d["members"][0]["member_id"]
        p = cli("groups", "reset-offsets", "billing", "--to-earliest", "--topic", "orders", "--execute", rc=1)
        one_error_line(p, "live member", member)
        # a dry run is allowed and changes nothing
        plan = cli.json("groups", "reset-offsets", "billing", "--to-earliest", "--topic", "orders")
        assert plan["executed"] is False and all(x["new"] == 0 for x in plan["offsets"])
    finally:
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=10)
    _wait_members(cli, "billing", 0)
    p = cli("groups", "reset-offsets", "billing", "--to-earliest", "--topic", "orders", "--execute")
    assert "CURRENT" in p.stdout and "NEW" in p.stdout
    d = cli.json("groups", "describe", "billing")
    assert all(r["committed"] == 0 for r in d["partitions"]) and d["lag"] == 10
    out = cli("consume", "orders", "--group", "billing").stdout.split()
    assert sorted(out) == sorted(f"v{i}" for i in range(10))
    cli("groups", "reset-offsets", "billing", "--to-offset", "3", "--topic", "orders:0", "--execute")
    assert {r["partition"]: r["committed"] for r in cli.json("groups", "describe", "billing")["partitions"]}[0] <= 3


@needs_groups
def test_groups_bad_input(cli):
    cli("topics", "create", "t")
    one_error_line(cli("groups", "describe", "nobody", rc=1), "unknown consumer group 'nobody'")
    one_error_line(cli("groups", "reset-offsets", "g", rc=2), "one of the arguments")
    one_error_line(cli("groups", "reset-offsets", "g", "--to-datetime", "soon", rc=2), "bad date-time")


# -- verify / dump -----------------------------------------------------------------------------------

def _segmented_topic(cli, n=30):
    """A topic `c` whose partition 0 has several small segments; returns its directory."""
    # no retention: the 2023 timestamps would be past the default 7 days (retention on roll)
    cli("topics", "create", "c", "--segment-bytes", "1KiB", "--retention", "none")
    with eventlog.open(cli.dir) as log:
        p = log.topic("c").partition(0)
        for i in range(n):
            p.append_batch([(b"k%d" % i, b"value-%d-" % i + b"x" * 60)], timestamp_ms=1_700_000_000_000 + i)
        return p.dir


def _segments(pdir):
    return sorted(n for n in os.listdir(pdir) if n.endswith(".log"))


def _flip(path, pos):
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)
        f.seek(pos)
        f.write(bytes([b[0] ^ 0xFF]))


def test_verify_clean_log(cli):
    pdir = _segmented_topic(cli)
    cli("topics", "create", "other", "--partitions", "2")
    p = cli("verify")
    assert p.stdout.splitlines()[0].split() == ["TOPIC", "PARTITION", "SEGMENTS", "BATCHES", "RECORDS", "SIZE", "STATUS"]
    assert "0 errors, 0 warnings" in p.stdout
    d = cli.json("verify")
    assert d["ok"] is True and d["errors"] == 0 and d["problems"] == []
    c0 = next(x for x in d["partitions"] if x["topic"] == "c")
    assert c0["records"] == 30 and c0["batches"] == 30 and c0["segments"] == len(_segments(pdir)) > 2
    assert len(cli.json("verify", "other")["partitions"]) == 2
    one_error_line(cli("verify", "nope", rc=1), "unknown topic 'nope'")


def test_verify_finds_a_corrupt_batch_and_repair_quarantines_it(cli):
    pdir = _segmented_topic(cli)
    first = os.path.join(pdir, _segments(pdir)[0])
    size = os.path.getsize(first)
    _flip(first, 300)   # inside the third batch (134 bytes each) of a closed segment
    p = cli("verify", rc=1)
    assert "CRC mismatch" in p.stdout and "@268" in p.stdout and "1 error" in p.stdout
    d = cli.json("verify", rc=1)
    err = [x for x in d["problems"] if x["severity"] == "error"]
    assert len(err) == 1 and err[0]["position"] == 268 and err[0]["segment"] == os.path.basename(first)
    # a reader stops there with a message pointing at verify --repair
    one_error_line(cli("consume", "c", "--from-beginning", rc=1), "verify --repair")
    # --repair without --yes: says what it would do, changes nothing
    p = cli("verify", "--repair", rc=1)
    assert "would move the damaged bytes to a quarantine file" in p.stderr and "add --yes" in p.stderr
    assert os.path.getsize(first) == size
    # --repair --yes: only the damaged bytes (the third batch) move to a quarantine file
    # beside the segment and become an explicit gap (offset 2); the valid batches after them
    # stay in place; indexes rebuilt, log readable again
    p = cli("verify", "--repair", "--yes")
    assert "repaired: moved" in p.stderr and "from position 268" in p.stderr and "offsets 2..2" in p.stderr
    quarantined = [n for n in os.listdir(pdir) if ".quarantine" in n]
    assert quarantined == ["00000000000000000000.268.quarantine"]
    assert os.path.getsize(os.path.join(pdir, quarantined[0])) == 134
    assert os.path.getsize(first) == size  # the gap is written over the damaged bytes
    assert "0 errors" in p.stdout and "1 quarantine file" in p.stdout
    vals = cli("consume", "c", "--from-beginning").stdout.split()
    assert vals[:2] == ["value-0-" + "x" * 60, "value-1-" + "x" * 60]
    assert vals[2].startswith("value-3-") and len(vals) == 30 - 1
    d = cli.json("verify")
    assert d["errors"] == 0 and d["quarantine_files"] == 1 and d["quarantined_bytes"] == 134
    # and writers carry on from the end
    cli("produce", "c", input="after-repair\n")
    assert cli("consume", "c", "-o", "-1").stdout == "after-repair\n"


def test_verify_index_damage_and_torn_tail_are_warnings(cli):
    pdir = _segmented_topic(cli, n=40)
    segs = _segments(pdir)
    idx = os.path.join(pdir, segs[0][:-4] + ".index")
    with open(idx, "ab") as f:
        f.write(b"\x01\x02\x03")  # a torn entry
    newest = os.path.join(pdir, segs[-1])
    with open(newest, "ab") as f:
        f.write(b"EL\x01\x00")  # a partial header: an interrupted write
    p = cli("verify")          # warnings: exit 0
    assert "offset index disagrees" in p.stdout and "torn tail" in p.stdout
    assert "2 warnings" in p.stdout
    cli("verify", "--strict", rc=1)
    d = cli.json("verify")
    assert {x["repair"] for x in d["problems"]} == {"cut", "reindex"}
    cli("verify", "--repair", "--yes")
    assert os.path.getsize(idx) % 8 == 0
    d = cli.json("verify", "--strict")
    assert d["ok"] is True
    assert len(cli("consume", "c", "--from-beginning").stdout.split()) == 40


def test_verify_repair_waits_for_the_append_lock(cli):
    pdir = _segmented_topic(cli)
    with open(os.path.join(pdir, _segments(pdir)[-1]), "ab") as f:
        f.write(b"\0" * 10)
    from eventlog._os.fs import FileLock
    lock = FileLock(os.path.join(pdir, "append.lock"))
    lock.acquire()
    try:
        proc = cli.popen("verify", "--repair", "--yes")
        line = read_line(proc, timeout=30, stream="stderr")
        assert b"waiting for the append lock of c[0]" in line
        time.sleep(0.3)
        assert proc.poll() is None  # still blocked on our lock
    finally:
        lock.release()
        lock.close()
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 0 and b"repaired: cut" in err, err


def test_dump_segment_and_index(cli):
    pdir = _segmented_topic(cli, n=12)
    seg = os.path.join(pdir, _segments(pdir)[0])
    p = cli("dump", seg, "--records", with_dir=False)
    assert "batch @0: offset 0 (1 record)" in p.stdout and "crc ok" in p.stdout
    assert 'key "k0"' in p.stdout and 'value "value-0-' in p.stdout
    docs = [json.loads(x) for x in cli("dump", seg, "--records", "--json", with_dir=False).stdout.splitlines()]
    assert docs[0]["base_offset"] == 0 and docs[0]["crc_ok"] is True and docs[0]["codec"] == "none"
    assert docs[0]["records"][0]["key"] == "k0" and docs[0]["records"][0]["timestamp_ms"] == 1_700_000_000_000
    assert [d["base_offset"] for d in docs] == list(range(len(docs)))
    p = cli("dump", seg[:-4] + ".index", with_dir=False)
    assert "entry 0: offset 0  position 0" in p.stdout
    p = cli("dump", seg[:-4] + ".timeindex", "--json", with_dir=False)
    assert json.loads(p.stdout.splitlines()[0])["max_timestamp_ms"] == 1_700_000_000_000
    _flip(seg, 150)
    p = cli("dump", seg, with_dir=False, rc=1)
    assert "CRC MISMATCH" in p.stdout and "problem" in p.stdout
    one_error_line(cli("dump", seg + ".nope", with_dir=False, rc=1), "no such file")


# -- perf --------------------------------------------------------------------------------------------

def test_perf_produce_and_consume(cli):
    p = cli("perf", "produce", "--records", "3000", "--size", "100", "--partitions", "2")
    assert "3000 records sent" in p.stdout and "records/sec" in p.stdout and "99th" in p.stdout
    d = cli.json("perf", "produce", "--records", "2000", "--size", "1KiB", "--keys", "10")
    assert d["records"] == 2000 and d["bytes"] == 2000 * (1024 + 5) and d["records_per_sec"] > 0
    assert d["latency_ms"]["samples"] > 0 and d["latency_ms"]["p50"] <= d["latency_ms"]["max"]
    p = cli("perf", "consume")
    assert "5000 records consumed" in p.stdout and "MB/sec" in p.stdout
    d = cli.json("perf", "consume", "--records", "1000")
    assert d["records"] == 1000 and d["poll_latency_ms"]["samples"] >= 1
    assert cli.json("topics", "describe", "perf-test")["records"] == 5000


# -- errors --------------------------------------------------------------------------------------------

def test_errors_exit_codes_and_messages(cli, tmp_path):
    missing = CLI(tmp_path / "missing")
    one_error_line(missing("topics", rc=1), "no eventlog directory", "does not exist")
    one_error_line(missing("consume", "t", rc=1), "does not exist")
    assert not os.path.exists(missing.dir)           # reading commands create nothing
    plain = tmp_path / "plain"
    plain.mkdir()
    one_error_line(CLI(plain)("topics", rc=1), "not an eventlog directory")
    p = CLI(tmp_path)("topics", with_dir=False, rc=2)
    one_error_line(p, "--dir", "EVENTLOG_DIR")
    cli("topics", "create", "t")
    # EVENTLOG_DIR instead of --dir
    p = CLI(tmp_path)("topics", "--json", with_dir=False, env={"EVENTLOG_DIR": cli.dir})
    assert [d["topic"] for d in json.loads(p.stdout)] == ["t"]
    # --dir after the command works too
    assert "t" in CLI(tmp_path)("topics", "--dir", cli.dir, with_dir=False).stdout
    one_error_line(cli("consume", "nope", rc=1), "unknown topic 'nope'")
    one_error_line(cli("produce", "nope", input="x\n", rc=1), "unknown topic 'nope'")
    one_error_line(cli("perf", "consume", "--topic", "t", rc=1), "empty")
    one_error_line(cli("consume", rc=2), "required")
    one_error_line(cli("topics", "create", "x", "--partitions", "0", rc=2), "--partitions")
    one_error_line(cli("verify", "--yes", rc=2), "--repair")
    one_error_line(cli("nonsense", rc=2), "invalid choice")


def test_no_colour_when_piped_and_colour_when_forced(cli):
    cli("topics", "create", "t")
    assert "\x1b[" not in cli("topics").stdout
    assert "\x1b[1m" in cli("topics", "--color", "always").stdout


def test_maintain_output_in_process(tmp_path, monkeypatch, capsys):
    """`maintain` prints log.maintain()'s {TopicPartition: stats} as rows with topic and
    partition fields (the real command runs in test_maintain_runs_and_reports)."""
    from eventlog.cli import main as cli_mod
    eventlog.open(tmp_path / "d").close()
    result = {TopicPartition("t", 1): {"segments_deleted": 1, "bytes_freed": 2048},
              TopicPartition("t", 0): {"segments_deleted": 3, "bytes_freed": 4096}}
    monkeypatch.setattr(eventlog.Log, "maintain", lambda self, topics=None: result, raising=False)
    assert cli_mod.main(["--dir", str(tmp_path / "d"), "maintain"]) == 0
    out = capsys.readouterr().out
    assert "maintenance done" in out and "TOPIC" in out and "PARTITION" in out
    assert cli_mod.main(["--dir", str(tmp_path / "d"), "maintain", "--json"]) == 0
    doc = json.loads(capsys.readouterr().out)
    assert doc["partitions"] == [{"topic": "t", "partition": 0, "segments_deleted": 3, "bytes_freed": 4096},
                                 {"topic": "t", "partition": 1, "segments_deleted": 1, "bytes_freed": 2048}]


def test_human_input_parsers_and_formatters():
    import argparse
    from eventlog.cli import util as u
    assert u.parse_duration_ms("500ms") == 500 and u.parse_duration_ms("1h30m") == 5_400_000
    assert u.parse_duration_ms("7d") == 7 * 86_400_000 and u.parse_duration_ms("2w") == 14 * 86_400_000
    assert u.parse_duration_ms("1.5s") == 1500 and u.parse_duration_ms("none", allow_none=True) is None
    for bad in ("", "7", "7x", "h", "1h 2", "-1s", "none"):
        with pytest.raises(argparse.ArgumentTypeError):
            u.parse_duration_ms(bad)
    for ms in (1, 999, 1000, 61_000, 5_400_000, 7 * 86_400_000, 90_061_001):
        assert u.parse_duration_ms(u.human_duration_ms(ms)) == ms
    assert u.parse_size("10GiB") == 10 << 30 and u.parse_size("10GB") == 10 * 10**9
    assert u.parse_size("64M") == 64 << 20 and u.parse_size("512 KiB") == 512 << 10 and u.parse_size("7") == 7
    for bad in ("", "ten", "5XB", "iB", "-1"):
        with pytest.raises(argparse.ArgumentTypeError):
            u.parse_size(bad)
    assert u.human_size(100) == "100 B" and u.human_size(1536) == "1.5 KiB" and u.human_size(10 << 30) == "10.0 GiB"
    assert u.parse_datetime_ms("2026-01-01T00:00:00Z") == 1_767_225_600_000
    assert u.parse_datetime_ms("1767225600000") == 1_767_225_600_000
    assert u.unescape(r"a\tb\n\x41\\") == "a\tb\nA\\"
    assert u.percentile([1, 2, 3, 4], 50) == 2 and u.percentile([1, 2, 3, 4], 99.9) == 4 and u.percentile([], 50) == 0.0


@needs_groups
def test_groups_delete_delete_offsets_and_reset_of_a_new_group(cli):
    """Issue 11 item 4: reset-offsets --execute creates the offsets of a group that has none
    yet; delete-offsets and delete; a deleted and re-created topic does not keep offsets."""
    cli("topics", "create", "orders", "--partitions", "2")
    cli("topics", "create", "audit")
    cli("produce", "orders", "--partition", "0", input="a\nb\nc\n")
    cli("produce", "audit", input="x\n")
    plan = cli.json("groups", "reset-offsets", "new", "--to-latest", "--topic", "orders", "--topic", "audit",
                    "--execute")
    assert plan["executed"] and {(o["topic"], o["partition"], o["new"]) for o in plan["offsets"]} == {
        ("orders", 0, 3), ("orders", 1, 0), ("audit", 0, 1)}
    assert [g["group"] for g in cli.json("groups")] == ["new"]
    d = cli.json("groups", "describe", "new")
    assert {(r["topic"], r["partition"]): r["committed"] for r in d["partitions"]} == {
        ("orders", 0): 3, ("orders", 1): 0, ("audit", 0): 1}

    out = cli.json("groups", "delete-offsets", "new", "--topic", "audit")
    assert out["deleted"] == [{"topic": "audit", "partition": 0, "offset": 1}]
    d = cli.json("groups", "describe", "new")
    assert {r["topic"] for r in d["partitions"]} == {"orders"}

    # the topic goes and comes back: the group has no offsets of the new one
    cli("topics", "delete", "orders", "--yes")
    cli("topics", "create", "orders", "--partitions", "2")
    assert cli.json("groups") == []
    one_error_line(cli("groups", "reset-offsets", "new", "--to-earliest", rc=1), "unknown consumer group")

    cli("groups", "reset-offsets", "new", "--to-earliest", "--topic", "orders", "--execute")
    p = cli("groups", "delete", "new")
    assert "deleted 1 group" in p.stderr + p.stdout
    assert cli.json("groups") == []
    one_error_line(cli("groups", "delete", "new", rc=1), "unknown consumer group 'new'")
    one_error_line(cli("groups", "delete-offsets", "nobody", "--topic", "orders", rc=1),
                   "unknown consumer group 'nobody'")
    one_error_line(cli("groups", "delete-offsets", "g", rc=2), "--topic")


@needs_groups
def test_groups_delete_refused_while_a_member_runs(cli, tmp_path):
    cli("topics", "create", "orders")
    code = ("import sys, eventlog\n"
            "log = eventlog.open(sys.argv[1])\n"
            "c = log.consumer(group_id='busy', auto_offset_reset='earliest')\n"
            "c.subscribe(['orders'])\n"
            "c.poll(timeout=0.5)\n"
            "print('joined', flush=True)\n"
            "sys.stdin.read()\n"
            "c.close()\n")
    proc = subprocess.Popen([sys.executable, "-c", code, cli.dir], stdin=subprocess.PIPE,
                            stdout=subprocess.PIPE, env=_env(), cwd=ROOT)
    try:
        assert read_line(proc, timeout=30) == b"joined\n"
        one_error_line(cli("groups", "delete", "busy", rc=1), "live member", "stop them")
        one_error_line(cli("groups", "delete-offsets", "busy", "--topic", "orders", rc=1), "live member")
    finally:
        proc.stdin.close()
        proc.wait(30)
    cli("groups", "delete", "busy")
    assert cli.json("groups") == []
