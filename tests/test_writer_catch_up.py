"""What a writer checks when it catches up with batches other processes appended (storage/
writer.py `_catch_up`, `Segment.header_chain`; docs/format.md, "What a writer checks"): a live
writer follows their headers and CRC-checks the last batch; a torn or damaged tail sends it
through the full check, which cuts it; a writer opening a segment checks every batch. The
other writers here are real processes; a kill in the middle of a write is made by a fault
injected into the child (it writes a prefix of its batch, then kills itself with SIGKILL,
holding the append lock), as a kill -9 at that instant would leave it."""
import logging
import os
import signal
import subprocess
import sys

import pytest

import eventlog
from eventlog.storage import codec

from log_checker import assert_log_consistent

_CHILD = r"""
import os, signal, sys, eventlog
from eventlog.storage import writer
path, n, cut = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
p = eventlog.open(path).topic("t").partition(0)
end = None
for i in range(n):
    end = p.append_batch([(b"k", b"child-%d-%d" % (i, j)) for j in range(5)]).stop
print(end, flush=True)
if cut >= 0:
    def killed_in_mid_write(fd, parts, pos, length):
        data = b"".join(parts)
        os.pwrite(fd, data[:cut], pos)  # the prefix a kill in the middle of pwritev leaves
        os.kill(os.getpid(), signal.SIGKILL)
    writer.write_at = killed_in_mid_write
    p.append_batch([(b"k", b"torn")] * 5)
"""


def _child_appends(path, n, cut=-1):
    """Append `n` batches of 5 records to t[0] from a new process (then, with `cut` >= 0, a
    batch of which only the first `cut` bytes reach the file before the process is killed);
    return the end offset after its acknowledged batches."""
    r = subprocess.run([sys.executable, "-c", _CHILD, str(path), str(n), str(cut)],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == (-signal.SIGKILL if cut >= 0 else 0), r.stderr
    return int(r.stdout)


def _segment(part):
    (name,) = [n for n in os.listdir(part.dir) if n.endswith(".log")]
    return os.path.join(part.dir, name)


def _batches(path):
    """[(pos, info)] of the whole batches of segment file `path` (headers only)."""
    data = open(path, "rb").read()
    out, pos = [], 0
    while len(data) - pos >= codec.HEADER_SIZE:
        info = codec.peek(data, pos)
        if pos + info.length > len(data):
            break
        out.append((pos, info))
        pos += info.length
    return out


def _flip_byte(path, pos):
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)
        f.seek(pos)
        f.write(bytes([b[0] ^ 0x20]))


@pytest.mark.parametrize("cut", [10, codec.HEADER_SIZE, codec.HEADER_SIZE + 30])
def test_a_live_writer_cuts_the_torn_batch_of_a_writer_killed_in_mid_write(tmp_path, cut):
    # the torn batch's header (if whole) claims more bytes than the file holds: the headers do
    # not chain to the end, so the writer takes the full check, which cuts the torn tail; our
    # record must take the offset after the killed writer's last acknowledged batch
    with eventlog.open(tmp_path) as lg:
        p = lg.create_topic("t").partition(0)
        assert p.append(b"ours-0") == 0  # our writer is live from here on
        end = _child_appends(tmp_path, 4, cut)
        seg = _segment(p)
        clean = _batches(seg)[-1][0] + _batches(seg)[-1][1].length
        assert os.path.getsize(seg) == clean + cut  # the torn prefix is there
        assert p.append(b"ours-1") == end == 21
        last_pos, last = _batches(seg)[-1]
        assert last_pos == clean and last_pos + last.length == os.path.getsize(seg)  # cut, then ours
        recs = p.read(0, 100)
        assert [r.offset for r in recs] == list(range(end + 1))
        assert recs[-1].value == b"ours-1" and b"torn" not in {r.value for r in recs}
        assert p.end_offset == end + 1
    assert_log_consistent(tmp_path, allow_warnings=False)


def test_a_live_writer_does_not_build_on_a_last_batch_damaged_in_place(tmp_path):
    # the headers chain to the end, but the last batch's bytes are damaged (its length
    # intact): its CRC is checked, so the writer takes the full check, which finds no valid
    # batch after the damage and cuts it as a damaged tail; our record takes its offsets
    with eventlog.open(tmp_path) as lg:
        p = lg.create_topic("t").partition(0)
        assert p.append(b"ours-0") == 0
        end = _child_appends(tmp_path, 4)
        seg = _segment(p)
        size = os.path.getsize(seg)
        _flip_byte(seg, size - 3)  # inside the last record's value
        assert os.path.getsize(seg) == size
        assert p.append(b"ours-1") == end - 5  # not built on the damaged batch
        recs = p.read(0, 100)
        assert [r.offset for r in recs] == list(range(end - 4))
        assert recs[-1].value == b"ours-1"
    assert_log_consistent(tmp_path)


def _damage_a_middle_batch(p):
    """Flip a byte in the value bytes of the second of the child's four batches (of offsets
    6..10); return that batch's position and length."""
    (pos, info), = [(pos, info) for pos, info in _batches(_segment(p)) if info.base_offset == 6]
    _flip_byte(_segment(p), pos + info.length - 3)
    return pos, info.length


def test_a_writer_opening_a_segment_finds_a_damaged_middle_batch(tmp_path, caplog):
    # a writer opening the newest segment (a new process, a reopened Log, one after a power
    # cut) checks the CRC of every batch from position 0: the damage is quarantined loudly,
    # its offsets become an explicit gap, the valid batches after it stay
    with eventlog.open(tmp_path) as lg:
        lg.create_topic("t").partition(0).append(b"ours-0")
    end = _child_appends(tmp_path, 4)
    with caplog.at_level(logging.WARNING, logger="eventlog"), eventlog.open(tmp_path) as lg:
        p = lg.topic("t").partition(0)
        pos, length = _damage_a_middle_batch(p)
        assert p.append(b"ours-1") == end
        assert os.path.exists(os.path.join(p.dir, f"00000000000000000000.{pos}.quarantine"))
        recs = p.read(0, 100)
        assert [r.offset for r in recs] == [0, *range(1, 6), *range(11, end + 1)]
    assert any("corrupt data" in r.getMessage() for r in caplog.records if r.levelno == logging.WARNING)
    report = assert_log_consistent(tmp_path, allow_warnings=False, quarantine_files=1)
    assert report.quarantined_bytes == length


def test_a_live_writer_keeps_offsets_dense_past_a_damaged_middle_batch_that_readers_refuse(tmp_path):
    # the trade-off of the live catch-up, stated in docs/format.md: damage from outside to a
    # batch that is neither the last nor one this writer has checked (the same damage that can
    # strike any batch a writer checked earlier) is not looked for by the live writer: its
    # headers chain, so offsets stay dense and the writer appends after the last batch. Readers
    # check every batch they decode and refuse the damaged one loudly; the next writer to open
    # the segment (here: a reopened Log) quarantines it as above
    with eventlog.open(tmp_path) as lg:
        p = lg.create_topic("t").partition(0)
        assert p.append(b"ours-0") == 0
        end = _child_appends(tmp_path, 4)
        _damage_a_middle_batch(p)
        assert p.append(b"ours-1") == end
        # readers stop before the damage (their end offset is the valid chain's end) and
        # refuse to read past it
        assert [r.offset for r in p.read(0, 100)] == list(range(6)) and p.end_offset == 6
        with pytest.raises(eventlog.CorruptLogError, match="where offset 6 should start"):
            p.read(6, 100)
    with eventlog.open(tmp_path) as lg:
        p = lg.topic("t").partition(0)
        assert p.append(b"ours-2") == end + 1
        recs = p.read(0, 100)
        assert [r.offset for r in recs] == [0, *range(1, 6), *range(11, end + 2)]
    assert_log_consistent(tmp_path, allow_warnings=False, quarantine_files=1)


def test_a_live_writer_follows_many_batches_of_another_writer(tmp_path):
    # the common case: the headers chain to the end and the last batch is valid; small and
    # big batches (the header walk reads ahead after small ones, skips over big ones)
    with eventlog.open(tmp_path) as lg:
        p = lg.create_topic("t").partition(0)
        assert p.append(b"ours-0") == 0
        code = ("import sys, eventlog\n"
                "p = eventlog.open(sys.argv[1]).topic('t').partition(0)\n"
                "for i in range(300):\n"
                "    p.append_batch([(b'k', b'v%d' % i * (1 + (i % 7) * 900))] * (1 + i % 3))\n")
        r = subprocess.run([sys.executable, "-c", code, str(tmp_path)], capture_output=True, text=True,
                           timeout=120)
        assert r.returncode == 0, r.stderr
        end = 1 + sum(1 + i % 3 for i in range(300))
        assert p.append(b"ours-1") == end
        recs = p.read(0, 10_000)
        assert [r.offset for r in recs] == list(range(end + 1))
    assert_log_consistent(tmp_path, allow_warnings=False)
