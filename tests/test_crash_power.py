"""Power cuts with fsync="batch" across writer processes, made deterministic.

The crash-trial runner's `power` kind found (once in ~2,000 trials, timing-dependent) 150
acknowledged records lost: a writer died in the middle of a roll, after creating the new
segment but before fsyncing the directory; a second writer process, still alive, found the
new segment, appended to it, fdatasynced the segment file and acknowledged -- but the
segment's directory entry was never synced, so a power cut removed the whole file. The
same family: a writer that rolls while the old segment holds a batch that a dead writer
wrote but never synced -- the new segment's name counts that batch, so a power cut that
drops it leaves a hole in the offsets before acknowledged records.

Each test here kills a real writer process at the exact moment (fault injection: a wrapper
around os.fsync / os.fdatasync SIGKILLs the process at a chosen sync, before the sync is
recorded), runs a second real writer process that appends and acknowledges, then applies
the crash-trial runner's own power-cut simulation (`stress.crash_trials.power_cut`: files
cut back to their synced size, files whose directory entry was never synced removed), and
checks that every acknowledged record is read back at its offset, that reads agree with
`end_offset`, and the invariant checker."""
import json
import os
import random
import subprocess
import sys
import textwrap

import pytest

import eventlog

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
sys.path.insert(0, ROOT)
from stress import crash_trials as ct  # noqa: E402

# A writer process: installs the power-cut trials' sync recorder, then optionally a killer
# that SIGKILLs the process at a chosen sync (before the recorder sees it), then appends
# batches of `n` records of `size` bytes, acknowledging each in the ack file after
# append_batch returned.
_WRITER = textwrap.dedent("""
    import json, os, signal, stat, sys
    sys.path.insert(0, {root!r})
    from stress import crash_trials as ct
    import eventlog
    spec = json.loads(sys.argv[1])
    ct._install_sync_recorder(spec["sync_log"])
    recorded = os.fsync
    pdir = os.path.join(spec["path"], "topics", "t", "0")
    files_synced = [0]

    def killer(fd):
        st = os.fstat(fd)
        if stat.S_ISDIR(st.st_mode):
            logs = [n for n in os.listdir(pdir) if n.endswith(".log")]
            if spec["die"] == "roll-dir-sync" and len(logs) > 1:
                os.kill(os.getpid(), signal.SIGKILL)  # mid-roll: new segment made, dir not synced
        else:
            files_synced[0] += 1
            if spec["die"] == "file-sync" and files_synced[0] == spec["at"]:
                os.kill(os.getpid(), signal.SIGKILL)  # batch written, never synced
        recorded(fd)

    if spec["die"]:
        os.fsync = os.fdatasync = killer
    p = eventlog.open(spec["path"]).topic("t").partition(0)
    with open(spec["ack"], "a") as ack:
        for i in range(spec["batches"]):
            r = p.append_batch([(None, b"w%d-%d-" % (spec["writer"], i * spec["n"] + k)
                                 + bytes(spec["size"])) for k in range(spec["n"])])
            ack.write(json.dumps([r.start, r.stop, spec["writer"], i]) + "\\n")
            ack.flush()
    os._exit(0)
""").format(root=ROOT)


class _Drop(random.Random):
    """The power cut drops every unsynced byte (no zero-fill, prefix or garble variant)."""

    def choice(self, seq):
        return "drop" if "drop" in seq else super().choice(seq)


def _writer(tmp_path, path, writer, *, die=None, at=0, batches=1, n=1, size=100):
    spec = {"path": path, "writer": writer, "die": die, "at": at, "batches": batches, "n": n,
            "size": size, "sync_log": str(tmp_path / f"sync{writer}"),
            "ack": str(tmp_path / f"ack{writer}")}
    proc = subprocess.run([sys.executable, "-c", _WRITER, json.dumps(spec)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    acks = []
    if os.path.exists(spec["ack"]):
        with open(spec["ack"]) as f:
            acks = [json.loads(ln) for ln in f if ln.endswith("\n")]
    return proc.returncode, acks, spec["sync_log"]


def _setup(tmp_path):
    path = str(tmp_path / "log")
    with eventlog.open(path) as lg:
        lg.create_topic("t", segment_bytes=1024, fsync="batch")
    return path, ct._snapshot(path)


def _check_after_power_cut(path, baseline, sync_logs, acks):
    variant = ct.power_cut(path, baseline, sync_logs, _Drop(0))
    with eventlog.open(path) as lg:
        p = lg.topic("t").partition(0)
        # unsynced index entries may be missing (indexes are hints): warnings, not errors
        assert [m for sev, m in ct.run_checker(lg, p) if sev == "error"] == [], variant
        start, end = p.start_offset, p.end_offset
        for o in range(start, end):  # read/end_offset agreement
            got = p.read(o, max_records=1)
            assert [r.offset for r in got] == [o], (o, start, end, variant)
        for first, stop, w, i in acks:
            for o in range(first, stop):
                assert o < end, f"acknowledged offset {o} lost (end_offset {end}; {variant})"
                rec = p.read(o, max_records=1)[0]
                assert rec.value.startswith(b"w%d-" % w), (o, rec.value[:20], variant)
        assert p.append(b"after") == end
        assert [m for sev, m in ct.run_checker(lg, p) if sev == "error"] == []
    return variant


def test_append_to_a_segment_whose_creator_died_before_syncing_the_directory(tmp_path):
    path, baseline = _setup(tmp_path)
    # writer A appends until its roll: it dies after creating the new segment's files,
    # before the directory fsync that would make them survive a power cut
    rc, acks_a, sync_a = _writer(tmp_path, path, 0, die="roll-dir-sync", batches=50, size=300)
    assert rc == -9 and acks_a, (rc, acks_a)
    pdir = os.path.join(path, "topics", "t", "0")
    assert len([n for n in os.listdir(pdir) if n.endswith(".log")]) == 2
    # writer B finds the new segment, appends to it and acknowledges (fsync="batch")
    rc, acks_b, sync_b = _writer(tmp_path, path, 1, batches=1)
    assert rc == 0 and len(acks_b) == 1
    assert acks_b[0][0] == acks_a[-1][1]  # B's batch is the new segment's first
    _check_after_power_cut(path, baseline, [sync_a, sync_b], acks_a + acks_b)


def test_roll_over_a_batch_its_dead_writer_never_synced(tmp_path):
    path, baseline = _setup(tmp_path)
    # writer A: its first batch is synced and acknowledged; its second is written whole but
    # A dies at that batch's fdatasync (never synced, not acknowledged)
    rc, acks_a, sync_a = _writer(tmp_path, path, 0, die="file-sync", at=2, batches=2, n=3,
                                 size=80)
    assert rc == -9 and len(acks_a) == 1, (rc, acks_a)
    # writer B validates A's unsynced batch, rolls (its batch does not fit), and names the new
    # segment by the offset after A's batch
    rc, acks_b, sync_b = _writer(tmp_path, path, 1, batches=1, size=700)
    assert rc == 0 and len(acks_b) == 1
    assert acks_b[0][0] == 6
    _check_after_power_cut(path, baseline, [sync_a, sync_b], acks_a + acks_b)


@pytest.mark.parametrize("die", ["roll-dir-sync", "file-sync"])
def test_power_cut_with_one_writer_is_clean(tmp_path, die):
    """Sanity check of the harness: a lone writer killed at either moment loses nothing."""
    path, baseline = _setup(tmp_path)
    rc, acks, sync = _writer(tmp_path, path, 0, die=die, at=3, batches=50, size=300)
    assert rc == -9 and acks
    _check_after_power_cut(path, baseline, [sync], acks)


# A process that makes the log from nothing: opens an empty directory, creates the topic with
# fsync="batch" (or the Log's fsync="batch") and acknowledges one batch.
_FRESH = textwrap.dedent("""
    import json, os, sys
    sys.path.insert(0, {root!r})
    from stress import crash_trials as ct
    import eventlog
    spec = json.loads(sys.argv[1])
    ct._install_sync_recorder(spec["sync_log"])
    with eventlog.open(spec["path"], **spec["open"]) as lg:
        p = lg.create_topic("t", **spec["create"]).partition(0)
        r = p.append_batch([(None, b"w0-%d" % k) for k in range(5)])
        with open(spec["ack"], "w") as ack:
            ack.write(json.dumps([r.start, r.stop, 0, 0]) + "\\n")
""").format(root=ROOT)


@pytest.mark.parametrize("where", ["topic", "log"])
def test_records_acknowledged_in_a_topic_created_just_before_survive_a_power_cut(tmp_path, where):
    """A log made from an empty directory, a topic created with fsync="batch" (on the topic,
    or for the whole Log), one batch acknowledged, then the power fails: every directory on
    the way to the segment (topics/ in the log's root, the topic, the partition) must have
    been synced, or the cut removes it with the acknowledged records in it."""
    path = str(tmp_path / "log")
    os.makedirs(path)
    baseline = ct._snapshot(path)  # only the empty directory itself was durable
    spec = {"path": path, "sync_log": str(tmp_path / "sync"), "ack": str(tmp_path / "ack"),
            "open": {"fsync": "batch"} if where == "log" else {},
            "create": {"fsync": "batch"} if where == "topic" else {}}
    proc = subprocess.run([sys.executable, "-c", _FRESH, json.dumps(spec)], cwd=ROOT,
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    with open(spec["ack"]) as f:
        acks = [json.loads(ln) for ln in f]
    assert acks == [[0, 5, 0, 0]]
    _check_after_power_cut(path, baseline, [spec["sync_log"]], acks)
