"""Tests of eventlog.offsets: both OffsetStores, group-id encoding, many processes, kill -9."""
import fcntl
import json
import multiprocessing
import os
import random
import re
import signal
import time

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from eventlog.errors import (
    CorruptLogError,
    EventLogError,
    InvalidArgumentError,
    InvalidTopicError,
    InvalidTypeError,
    LogClosedError,
)
from eventlog.offsets import (
    FileOffsetStore,
    MemoryOffsetStore,
    OffsetAndMetadata,
    OffsetStore,
    decode_group_dir,
    encode_group_id,
)
from eventlog.record import TopicPartition

TP = TopicPartition
STRESS = bool(os.environ.get("EVENTLOG_STRESS"))


@pytest.fixture(params=["memory", "file", "file-nofsync"])
def store(request, tmp_path):
    if request.param == "memory":
        s = MemoryOffsetStore()
    else:
        s = FileOffsetStore(tmp_path / "log", fsync=request.param == "file")
    yield s
    s.close()


def _all_paths(root):
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            yield os.path.join(dirpath, name)


# ---------------------------------------------------------------------------------------------
# Round trips


def test_round_trip(store):
    assert store.committed("g", [TP("t", 0)]) == {TP("t", 0): None}
    assert store.all_committed("g") == {}
    assert store.groups() == []

    store.commit("g", {TP("t", 0): 5, TP("t", 1): 0, TP("u", 3): 2**63 - 1})
    assert store.committed("g", [TP("t", 0), TP("t", 1), TP("t", 2), TP("u", 3)]) == {
        TP("t", 0): 5, TP("t", 1): 0, TP("t", 2): None, TP("u", 3): 2**63 - 1}
    assert store.all_committed("g") == {TP("t", 0): 5, TP("t", 1): 0, TP("u", 3): 2**63 - 1}
    assert store.groups() == ["g"]

    # overwrite one, leave the others; offsets may move backwards (seek + commit)
    store.commit("g", {TP("t", 0): 3})
    assert store.all_committed("g") == {TP("t", 0): 3, TP("t", 1): 0, TP("u", 3): 2**63 - 1}

    # groups are independent
    store.commit("h", {TP("t", 0): 100})
    assert store.committed("g", [TP("t", 0)]) == {TP("t", 0): 3}
    assert store.committed("h", [TP("t", 0)]) == {TP("t", 0): 100}
    assert store.groups() == ["g", "h"]

    store.delete_group("g")
    assert store.all_committed("g") == {}
    assert store.committed("g", [TP("t", 0)]) == {TP("t", 0): None}
    assert store.groups() == ["h"]
    store.delete_group("g")                    # deleting twice (or an unknown group) is fine
    store.delete_group("never-seen")

    store.commit("g", {TP("t", 0): 7})         # a deleted group can come back
    assert store.all_committed("g") == {TP("t", 0): 7}
    assert store.groups() == ["g", "h"]


def test_plain_tuples_are_converted(store):
    store.commit("g", {("t", 0): 1, ("t", 1): 2}, metadata={("t", 1): "m"})
    committed = store.committed("g", [("t", 0), ("t", 1)])
    assert committed == {TP("t", 0): 1, TP("t", 1): 2}
    assert all(type(tp) is TopicPartition for tp in committed)
    assert all(type(tp) is TopicPartition for tp in store.all_committed("g"))
    assert store.committed("g", iter([("t", 0)])) == {TP("t", 0): 1}    # any iterable


def test_metadata_and_commit_time(tmp_path):
    now = [1234.5678]
    for s in (MemoryOffsetStore(clock=lambda: now[0]),
              FileOffsetStore(tmp_path, clock=lambda: now[0])):
        now[0] = 1234.5678
        s.commit("g", {TP("t", 0): 1, TP("t", 1): 2}, metadata={TP("t", 0): "héllo \ud800"})
        got = s.committed_metadata("g", [TP("t", 0), TP("t", 1), TP("t", 2)])
        assert got == {TP("t", 0): OffsetAndMetadata(1, "héllo \ud800", 1234567),
                       TP("t", 1): OffsetAndMetadata(2, "", 1234567),
                       TP("t", 2): None}
        now[0] = 2000.0
        s.commit_partition("g", TP("t", 1), 9, "x")
        assert s.committed_metadata("g", [TP("t", 1)]) == {
            TP("t", 1): OffsetAndMetadata(9, "x", 2000000)}
        s.commit("g", {TP("t", 1): 10}, metadata={TP("t", 1): None})
        # null metadata is stored as null, distinct from "" (issue 13: Kafka clients tell them apart)
        assert s.committed_metadata("g", [TP("t", 1)])[TP("t", 1)].metadata is None
        s.commit("g", {TP("t", 1): 11}, metadata={TP("t", 1): ""})
        assert s.committed_metadata("g", [TP("t", 1)])[TP("t", 1)].metadata == ""
        s.commit_partition("g", TP("t", 1), 12, None)
        assert s.committed_metadata("g", [TP("t", 1)])[TP("t", 1)].metadata is None
        s.delete_group("g")


def test_empty_commit_creates_nothing(store):
    store.commit("g", {})
    assert store.groups() == []
    if isinstance(store, FileOffsetStore):
        assert not os.path.exists(store.group_dir("g"))


def test_stores_satisfy_protocol(tmp_path):
    assert isinstance(MemoryOffsetStore(), OffsetStore)
    assert isinstance(FileOffsetStore(tmp_path), OffsetStore)
    assert not isinstance(object(), OffsetStore)


def test_closed_store_refuses(store):
    store.commit("g", {TP("t", 0): 1})
    store.close()
    with pytest.raises(LogClosedError):
        store.commit("g", {TP("t", 0): 2})
    with pytest.raises(LogClosedError):
        store.committed("g", [TP("t", 0)])
    with pytest.raises(LogClosedError):
        store.groups()


def test_file_store_shares_state_between_instances(tmp_path):
    a, b = FileOffsetStore(tmp_path), FileOffsetStore(str(tmp_path), fsync=False)
    a.commit("g", {TP("t", 0): 1})
    assert b.committed("g", [TP("t", 0)]) == {TP("t", 0): 1}
    b.commit("g", {TP("t", 0): 2})
    assert a.committed("g", [TP("t", 0)]) == {TP("t", 0): 2}     # nothing cached
    b.delete_group("g")
    assert a.all_committed("g") == {} and a.groups() == []


def test_file_layout(tmp_path):
    s = FileOffsetStore(tmp_path)
    s.commit("Billing/EU", {TP("orders", 3): 42}, metadata={TP("orders", 3): "m"})
    gdir = tmp_path / "groups" / "g_%42illing%2F%45%55"
    assert s.group_dir("Billing/EU") == str(gdir)
    assert s.path_for("Billing/EU", TP("orders", 3)) == str(gdir / "offsets" / "orders" / "3.json")
    assert json.loads((gdir / "group.json").read_text()) == {"group_id": "Billing/EU", "format": 1}
    record = json.loads((gdir / "offsets" / "orders" / "3.json").read_text())
    assert record["offset"] == 42 and record["metadata"] == "m"
    assert isinstance(record["commit_time_ms"], int)
    assert sorted(os.listdir(gdir)) == ["group.json", "offsets"]
    assert os.listdir(gdir / "offsets" / "orders") == ["3.json"]      # no temp files left


def test_group_layer_files_survive_delete(tmp_path):
    """The group layer's own files in the group directory are never touched."""
    s = FileOffsetStore(tmp_path)
    gdir = s.ensure_group_dir("g")
    assert os.path.exists(os.path.join(gdir, "group.json"))
    assert s.groups() == []                     # no offsets yet
    lock_dir = os.path.join(gdir, "owners", "t")
    os.makedirs(lock_dir)
    lock_path = os.path.join(lock_dir, "0.lock")
    with open(lock_path, "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)        # as the group layer fences a commit
        s.commit_partition("g", TP("t", 0), 5)
        assert s.committed("g", [TP("t", 0)]) == {TP("t", 0): 5}
    s.delete_group("g")
    assert os.path.exists(lock_path)
    assert os.path.exists(os.path.join(gdir, "group.json"))
    assert not os.path.exists(os.path.join(gdir, "offsets"))
    assert s.groups() == []
    # without foreign files the whole group directory goes
    s.commit("h", {TP("t", 0): 1})
    s.delete_group("h")
    assert not os.path.exists(s.group_dir("h"))


# ---------------------------------------------------------------------------------------------
# Bad input


BAD_OFFSETS = [-1, True, False, 1.0, 1.5, "3", b"3", None, 2**63, [1]]


@pytest.mark.parametrize("offset", BAD_OFFSETS, ids=repr)
def test_bad_offsets_refused(store, offset):
    with pytest.raises(InvalidArgumentError) as info:
        store.commit("g", {TP("t", 0): 1, TP("t", 1): offset})
    assert repr(offset) in str(info.value)
    with pytest.raises(InvalidArgumentError):
        store.commit_partition("g", TP("t", 1), offset)
    assert store.all_committed("g") == {}       # validated before anything was written
    assert store.groups() == []


BAD_KEYS = ["t", ("t",), ("t", 0, 1), ("t", -1), ("t", True), ("t", 1.0), ("t", "0"),
            ("t", 2**31), (None, 0), (b"t", 0), ("", 0), (".", 0), ("..", 0), ("a/b", 0),
            ("../x", 0), ("x" * 250, 0), ("ü", 0), 7, None]


@pytest.mark.parametrize("key", BAD_KEYS, ids=repr)
def test_bad_keys_refused(store, key):
    with pytest.raises(InvalidArgumentError):
        store.commit("g", {TP("t", 0): 1, key: 1})
    if isinstance(key, tuple) or key is None:
        with pytest.raises(InvalidArgumentError):
            store.committed("g", [key])
    assert store.all_committed("g") == {}


def test_topic_errors_are_topic_errors(store):
    with pytest.raises(InvalidTopicError, match="a/b"):
        store.commit("g", {("a/b", 0): 1})
    store.commit("g", {("x" * 249, 0): 1, ("a.b-c_D", 0): 2, ("...", 0): 3})
    assert store.all_committed("g") == {("...", 0): 3, ("a.b-c_D", 0): 2, ("x" * 249, 0): 1}


@pytest.mark.parametrize("group", [None, 1, b"g", ("g",)], ids=repr)
def test_bad_group_ids_refused(store, group):
    with pytest.raises(InvalidTypeError):
        store.commit(group, {TP("t", 0): 1})
    with pytest.raises(InvalidTypeError):
        store.committed(group, [TP("t", 0)])
    with pytest.raises(InvalidTypeError):
        store.delete_group(group)


def test_bad_shapes_refused(store):
    with pytest.raises(InvalidTypeError):
        store.commit("g", [(TP("t", 0), 1)])
    with pytest.raises(InvalidTypeError):
        store.commit("g", {TP("t", 0): 1}, metadata=["m"])
    with pytest.raises(InvalidTypeError):
        store.commit("g", {TP("t", 0): 1}, metadata={TP("t", 0): b"bytes"})
    with pytest.raises(InvalidArgumentError, match="not being committed"):
        store.commit("g", {TP("t", 0): 1}, metadata={TP("t", 1): "m"})
    with pytest.raises(InvalidTypeError, match=r"\[tp\]"):
        store.committed("g", TP("t", 0))
    with pytest.raises(InvalidTypeError):
        store.committed("g", 5)
    assert store.all_committed("g") == {}
    assert issubclass(InvalidTypeError, EventLogError)


def test_corrupt_file_is_reported(tmp_path):
    s = FileOffsetStore(tmp_path)
    s.commit("g", {TP("t", 0): 1, TP("t", 1): 1})
    for garbage in [b"", b"{", b"[]", b'{"offset": -1}', b'{"offset": true}', b'{"x": 1}',
                    b'{"offset": 1, "metadata": 5}']:
        with open(s.path_for("g", TP("t", 0)), "wb") as f:
            f.write(garbage)
        with pytest.raises(CorruptLogError, match="0.json"):
            s.committed("g", [TP("t", 0)])
        with pytest.raises(CorruptLogError):
            s.all_committed("g")
    assert s.committed("g", [TP("t", 1)]) == {TP("t", 1): 1}


# ---------------------------------------------------------------------------------------------
# Group ids: any string, never escaping, never colliding


WEIRD_GROUP_IDS = [
    "", " ", ".", "..", "...", "/", "//", "a/b", "../x", "../../etc/passwd", "/abs/path",
    "%2F", "%2f", "%", "%%", "g_", "h_", "g_%2F", "group.json", "offsets", "A", "a", "Ab", "aB",
    "a b", "a\tb", "a\nb", "a\x00b", "\\", "C:\\x", "ü", "u\u0308", "日本語", "🙂", "\ud800",
    "\udfff\ud800", "x" * 10_000, "x" * 10_001, "y" * 200, "y" * 201, "Y" * 67, "Y" * 66,
    "-", "_", "-rf", "con", "NUL", "~", "$HOME", "*", "?",
]


def test_weird_group_ids(tmp_path):
    root = tmp_path / "log"
    s = FileOffsetStore(root, fsync=False)
    assert len(set(WEIRD_GROUP_IDS)) == len(WEIRD_GROUP_IDS)
    for i, group in enumerate(WEIRD_GROUP_IDS):
        s.commit(group, {TP("t", i % 3): i})

    groups_root = os.path.realpath(root / "groups")
    assert os.listdir(root) == ["groups"]
    names = os.listdir(groups_root)
    assert len(names) == len(WEIRD_GROUP_IDS)                     # no two ids share a dir
    for name in names:
        assert re.fullmatch(r"[gh]_[a-z0-9_%A-F-]*", name) and len(name) <= 202, name
    for path in _all_paths(groups_root):
        assert os.path.realpath(path).startswith(groups_root + os.sep)
        assert not os.path.islink(path)

    assert s.groups() == sorted(WEIRD_GROUP_IDS)                  # the real ids, exactly
    for i, group in enumerate(WEIRD_GROUP_IDS):
        assert s.all_committed(group) == {TP("t", i % 3): i}
        assert os.path.dirname(s.group_dir(group)) == groups_root
    for group in WEIRD_GROUP_IDS:
        s.delete_group(group)
    assert s.groups() == [] and os.listdir(groups_root) == []


def test_groups_when_group_file_missing(tmp_path):
    """Offsets whose group.json is not there (yet): plain names still decode."""
    s = FileOffsetStore(tmp_path)
    s.commit("Plain/ü", {TP("t", 0): 1})
    s.commit("z" * 300, {TP("t", 0): 1})
    os.unlink(os.path.join(s.group_dir("Plain/ü"), "group.json"))
    os.unlink(os.path.join(s.group_dir("z" * 300), "group.json"))
    assert s.groups() == ["Plain/ü"]
    s.commit("z" * 300, {TP("t", 0): 2})                            # puts it back
    assert s.groups() == ["Plain/ü", "z" * 300]
    os.mkdir(tmp_path / "groups" / "junk")                        # foreign names are ignored
    os.mkdir(tmp_path / "groups" / "g_NOT%ZZvalid")
    assert s.groups() == ["Plain/ü", "z" * 300]


@settings(max_examples=300, deadline=None)
@given(st.text(), st.text())
def test_encoding_is_injective_and_safe(a, b):
    ea, eb = encode_group_id(a), encode_group_id(b)
    assert (ea == eb) == (a == b)
    for group, name in ((a, ea), (b, eb)):
        assert re.fullmatch(r"[gh]_[a-z0-9_%A-F-]*", name) and len(name) <= 202
        assert decode_group_dir(name) == (group if name.startswith("g_") else None)


@settings(max_examples=200, deadline=None)
@given(st.text(alphabet=st.characters(codec="utf-8") | st.sampled_from("%/._-Aa"),
               max_size=80))
def test_encoding_round_trips(group):
    name = encode_group_id(group)
    if name.startswith("h_"):  # too long to escape: hashed, decoded from group.json instead
        assert decode_group_dir(name) is None
        return
    assert name.startswith("g_")
    assert decode_group_dir(name) == group


def test_surrogates_and_long_ids_encode():
    assert encode_group_id("") == "g_"
    assert encode_group_id("\ud800") == "g_%ED%A0%80"
    assert encode_group_id("x" * 200) == "g_" + "x" * 200
    assert encode_group_id("x" * 201).startswith("h_")
    assert encode_group_id("/" * 66) != encode_group_id("/" * 67)
    assert encode_group_id("/" * 67).startswith("h_")
    with pytest.raises(InvalidTypeError):
        encode_group_id(["not", "hashable"])


# ---------------------------------------------------------------------------------------------
# Temp files


def _temp_name(final, pid=999_999, token="0123456789ab"):
    return f".{final}.{pid}.{token}.tmp"


def test_temp_files_ignored_and_cleaned(tmp_path):
    s = FileOffsetStore(tmp_path)
    s.commit("g", {TP("t", 0): 5})
    topic_dir = os.path.dirname(s.path_for("g", TP("t", 0)))
    gdir = s.group_dir("g")
    abandoned = os.path.join(topic_dir, _temp_name("0.json"))
    abandoned_new = os.path.join(topic_dir, _temp_name("1.json", token="aaaaaaaaaaaa"))
    abandoned_group = os.path.join(gdir, _temp_name("group.json"))
    live = os.path.join(topic_dir, _temp_name("0.json", token="bbbbbbbbbbbb"))
    for path in (abandoned, abandoned_new, abandoned_group, live):
        with open(path, "wb") as f:
            f.write(b'{"offset": 77, "metad')              # a torn write
    foreign = os.path.join(gdir, ".assignment.json.0123456789ab.tmp")  # group layer's
    with open(foreign, "wb") as f:
        f.write(b"{")
    tombstone = os.path.join(gdir, "offsets.deleted.0123")  # a delete_group cut short
    os.makedirs(os.path.join(tombstone, "t"))
    with open(os.path.join(tombstone, "t", "0.json"), "w") as f:
        f.write('{"offset": 1}')

    live_fd = os.open(live, os.O_RDONLY)
    fcntl.flock(live_fd, fcntl.LOCK_EX)                    # a committer that is still writing
    try:
        assert s.committed("g", [TP("t", 0), TP("t", 1)]) == {TP("t", 0): 5, TP("t", 1): None}
        assert s.groups() == ["g"]
        assert s.all_committed("g") == {TP("t", 0): 5}     # ... and removes abandoned ones
        assert not os.path.exists(abandoned) and not os.path.exists(abandoned_new)
        assert os.path.exists(live)
        assert s.cleanup() == 2                            # group.json temp + tombstone
        assert not os.path.exists(abandoned_group) and not os.path.exists(tombstone)
        assert os.path.exists(live)
        assert s.cleanup() == 0
    finally:
        os.close(live_fd)
    assert s.cleanup() == 1
    assert sorted(os.listdir(topic_dir)) == ["0.json"]
    assert sorted(os.listdir(gdir)) == [os.path.basename(foreign), "group.json", "offsets"]
    assert s.committed("g", [TP("t", 0)]) == {TP("t", 0): 5}
    s.delete_group("g")                                    # a foreign file keeps the dir
    assert sorted(os.listdir(gdir)) == [os.path.basename(foreign), "group.json"]


def test_commit_survives_its_temp_file_being_cleaned(tmp_path, monkeypatch):
    """A cleaner may take a temp file in the instant before its writer locks it: the writer
    then retries and its commit still lands."""
    from eventlog._os.fs import remove_abandoned_temp

    s = FileOffsetStore(tmp_path)
    s.commit("g", {TP("t", 0): 1})
    real_flock = fcntl.flock
    calls = []

    def flock_after_cleaner(fd, op):
        if not calls and op == fcntl.LOCK_EX:
            calls.append(fd)
            topic_dir = os.path.dirname(s.path_for("g", TP("t", 0)))
            for name in os.listdir(topic_dir):
                if name.endswith(".tmp"):
                    assert remove_abandoned_temp(os.path.join(topic_dir, name))
        return real_flock(fd, op)

    monkeypatch.setattr(fcntl, "flock", flock_after_cleaner)
    s.commit("g", {TP("t", 0): 2})
    assert calls
    assert s.committed("g", [TP("t", 0)]) == {TP("t", 0): 2}


# ---------------------------------------------------------------------------------------------
# Many processes


def _commit_own_partitions(root, group, worker, n_partitions, rounds, start):
    store = FileOffsetStore(root, fsync=worker % 2 == 0)
    mine = [TP("shared", worker * n_partitions + i) for i in range(n_partitions)]
    start.wait(30)
    for r in range(rounds):
        offsets = {tp: r * 1000 + tp.partition for tp in mine}
        offsets[TP(f"own-{worker}", 0)] = r
        store.commit(group, offsets)


def _watch(root, group, tps, start, stop, result):
    store = FileOffsetStore(root)
    last = {tp: -1 for tp in tps}
    start.wait(30)
    reads = 0
    while not stop.is_set():
        for tp, offset in store.committed(group, tps).items():
            if offset is not None:
                if offset < last[tp] or offset % 1000 != tp.partition:
                    result.put(f"{tp}: read {offset} after {last[tp]}")
                    return
                last[tp] = offset
        reads += 1
    result.put(f"ok {reads}")


def test_concurrent_commits_from_processes(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    root = str(tmp_path / "log")
    workers, n_partitions, rounds = 4, 6, 60 if not STRESS else 1000
    start, stop, result = ctx.Event(), ctx.Event(), ctx.Queue()
    all_tps = [TP("shared", p) for p in range(workers * n_partitions)]
    procs = [ctx.Process(target=_commit_own_partitions,
                         args=(root, "the group", w, n_partitions, rounds, start))
             for w in range(workers)]
    watcher = ctx.Process(target=_watch, args=(root, "the group", all_tps, start, stop, result))
    for p in procs + [watcher]:
        p.start()
    start.set()
    for p in procs:
        p.join(120)
        assert p.exitcode == 0
    stop.set()
    watcher.join(60)
    assert result.get(timeout=10).startswith("ok")

    store = FileOffsetStore(root)
    expected = {tp: (rounds - 1) * 1000 + tp.partition for tp in all_tps}
    expected.update({TP(f"own-{w}", 0): rounds - 1 for w in range(workers)})
    assert store.all_committed("the group") == dict(sorted(expected.items()))
    assert store.groups() == ["the group"]
    for path in _all_paths(root):
        assert not path.endswith(".tmp"), path


def _commit_until_killed(root, group, partitions, first, fsync, ready):
    """Commit value = 10 * round + partition, rounds counting up from `first`."""
    store = FileOffsetStore(root, fsync=fsync)
    tps = [TP("t", p) for p in partitions]
    r = first
    store.commit(group, {tp: 10 * r + tp.partition for tp in tps})
    ready.set()
    while True:
        r += 1
        store.commit(group, {tp: 10 * r + tp.partition for tp in tps})


def test_kill_9_never_tears_a_commit(tmp_path):
    ctx = multiprocessing.get_context("spawn")
    root = str(tmp_path / "log")
    store = FileOffsetStore(root)
    group = "killed"
    children = [(0, 1, 2, 3, 4), (5, 6, 7)]           # each child owns its partitions
    all_tps = [TP("t", p) for p in range(8)]
    last = {tp: -1 for tp in all_tps}
    rng = random.Random(1234)
    for kill_round in range(10 if not STRESS else 200):
        procs = []
        for i, partitions in enumerate(children):
            known = [last[TP("t", p)] for p in partitions]
            first = max(known) // 10 + 1 if max(known) >= 0 else 0
            ready = ctx.Event()
            proc = ctx.Process(target=_commit_until_killed,
                               args=(root, group, partitions, first, (kill_round + i) % 2 == 0,
                                     ready))
            proc.start()
            procs.append((proc, ready))
        for proc, ready in procs:
            assert ready.wait(60)
        time.sleep(rng.uniform(0, 0.02))
        for proc, _ in procs:
            os.kill(proc.pid, signal.SIGKILL)
        for proc, _ in procs:
            proc.join(30)
            assert proc.exitcode == -signal.SIGKILL

        # every partition file holds a complete record that a child wrote
        for tp in all_tps:
            with open(store.path_for(group, tp), "rb") as f:
                record = json.loads(f.read())
            assert set(record) == {"offset", "metadata", "commit_time_ms"}
        committed = store.committed(group, all_tps)
        for tp, offset in committed.items():
            assert isinstance(offset, int) and offset % 10 == tp.partition, (tp, offset)
            assert offset >= last[tp], (tp, offset, last[tp])   # never back to older values
            last[tp] = offset
        assert store.groups() == [group]
        assert store.all_committed(group) == committed

    # whatever temp files the kills left are ignored, then cleaned up
    store.cleanup()
    for path in _all_paths(root):
        assert not path.endswith(".tmp"), path
    assert store.committed(group, all_tps) == last


# ---------------------------------------------------------------------------------------------
# Speed (loose bounds: a sanity check, not a benchmark)


# -- topic incarnations and the committed-offsets check -----------------------------------------

def test_memory_store_keeps_topic_ids():
    from eventlog.offsets import accepts_topic_ids
    s = MemoryOffsetStore()
    s.commit("g", {TP("t", 0): 5}, topic_ids={"t": "A" * 22})
    s.commit_partition("g", TP("u", 0), 7, topic_id="B" * 22)
    assert s.committed("g", [TP("t", 0), TP("u", 0)]) == {TP("t", 0): 5, TP("u", 0): 7}
    assert s.committed("g", [TP("t", 0)], topic_ids={"t": "A" * 22}) == {TP("t", 0): 5}
    assert s.committed("g", [TP("t", 0)], topic_ids={"t": "C" * 22}) == {TP("t", 0): None}
    assert s.committed_metadata("g", [TP("u", 0)])[TP("u", 0)].topic_id == "B" * 22
    with pytest.raises(InvalidTypeError, match="topic_ids"):
        s.commit("g", {TP("t", 0): 1}, topic_ids=["t"])
    s.delete_offsets("g", [TP("t", 0)])
    assert s.all_committed("g") == {TP("u", 0): 7}
    assert accepts_topic_ids(s) and accepts_topic_ids(FileOffsetStore("/nonexistent"))

    class OldStore:       # written against eventlog 0.1's protocol
        def commit(self, group, offsets, metadata=None): ...
        def committed(self, group, tps): ...
    assert not accepts_topic_ids(OldStore())


def test_old_store_without_topic_ids_still_works_with_a_consumer(tmp_path):
    import eventlog

    class OldStore:
        def __init__(self):
            self.data = {}

        def commit(self, group, offsets, metadata=None):
            self.data.update(offsets)

        def committed(self, group, tps):
            return {tp: self.data.get(tp) for tp in tps}

    with eventlog.open(tmp_path / "log") as log:
        t = log.create_topic("t")
        for i in range(5):
            t.partition(0).append(b"%d" % i)
        store = OldStore()
        c = log.consumer(group_id="g", offset_store=store, auto_offset_reset="earliest",
                         enable_auto_commit=False)
        c.assign([TP("t", 0)])
        assert len(c.poll(timeout=1)) == 5
        c.commit()
        assert store.data == {TP("t", 0): 5} and c.committed(TP("t", 0)) == 5
        c.close()


def test_check_committed_offsets_reports_each_kind(tmp_path):
    import eventlog
    from eventlog.offsets import check_committed_offsets
    with eventlog.open(tmp_path / "log") as log:
        t = log.create_topic("t", partitions=2)
        for i in range(10):
            t.partition(0).append(b"%d" % i)
        store = FileOffsetStore(log.path)
        store.commit("ok", {TP("t", 0): 10, TP("t", 1): 0})
        assert check_committed_offsets(log) == []
        store.commit("past", {TP("t", 0): 11})
        store.commit("nopart", {TP("t", 7): 0})
        store.commit("gone", {TP("never-made", 0): 3})          # no topic, no id: nothing to check
        t.partition(0).delete_records(4)
        store.commit("before", {TP("t", 0): 2})
        old = t.topic_id
        store.commit_partition("stale", TP("t", 1), 0, topic_id="Z" * 22)
        got = {(p.group, p.tp, p.offset, p.kind) for p in check_committed_offsets(log)}
        assert got == {("past", TP("t", 0), 11, "past-end"),
                       ("nopart", TP("t", 7), 0, "unknown-partition"),
                       ("before", TP("t", 0), 2, "before-start"),
                       ("stale", TP("t", 1), 0, "other-incarnation")}
        assert [p.kind for p in check_committed_offsets(log, groups=["ok", "past"])] == ["past-end"]
        msg = {p.kind: p.message for p in check_committed_offsets(log)}
        assert "11" in msg["past-end"] and "end offset 10" in msg["past-end"]
        assert "Z" * 22 in msg["other-incarnation"] and old in msg["other-incarnation"]
        log.delete_topic("t")            # removes every group's offsets of it
        assert check_committed_offsets(log) == []
        assert store.all_committed("ok") == {} and store.stored_entries("gone") != {}
