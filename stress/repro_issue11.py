"""Minimal reproductions of the failure families the crash trials find on eventlog 0.1
(issue 11 items 2 and 3). Run: `python -m stress.repro_issue11`; each prints what it sees and
`BUG` or `ok`. The trials (`python -m stress.crash_trials --kinds mid`) find the same families
at random; these are the smallest fixed cases, for checking the storage fix against.

A. damage after the last index entry of the active segment (item 3): end_offset and read()
   agree on stopping at the damage, and the next append silently cuts the valid,
   acknowledged batches after it and reuses their offsets; nothing is logged or raised.
B. damage before the last index entry of the active segment (item 2): end_offset is computed
   from the last index entry, past the damage; read() stalls at the damage ([]) and raises
   OffsetOutOfRangeError for offsets between it and end_offset; the next append lands after
   the damage, which then stays in the middle of the log (and, after a roll, in a closed
   segment, where reads raise CorruptLogError).
C. damage inside a closed segment (item 2): read(o) for an offset after the damaged batch in
   that segment returns records of the next segment, a silent skip.

Fixed: A resynchronises (only batch 3 is quarantined, an explicit gap; 4..9 are kept), B
raises CorruptLogError at the damage with end_offset before it, C raises CorruptLogError.
"""
import logging
import os
import tempfile

import eventlog


def _seg(p, i=-1):
    return os.path.join(p.dir, sorted(n for n in os.listdir(p.dir) if n.endswith(".log"))[i])


def _flip(path, pos):
    with open(path, "r+b") as f:
        f.seek(pos)
        b = f.read(1)[0]
        f.seek(pos)
        f.write(bytes([b ^ 0x40]))


def _batch_pos(path, k):
    """Position of the k-th batch of a segment file (batch length is the u32 at byte 4)."""
    data, pos = open(path, "rb").read(), 0
    for _ in range(k):
        pos += int.from_bytes(data[pos + 4:pos + 8], "little")
    return pos


def family_a(d):
    with eventlog.open(d) as lg:
        p = lg.create_topic("t").partition(0)
        for i in range(10):
            p.append(b"v%d" % i)                 # 10 small batches: one index entry (pos 0)
        _flip(_seg(p), _batch_pos(_seg(p), 3) + 60)   # a byte inside batch 3's records
    with eventlog.open(d) as lg:
        p = lg.topic("t").partition(0)
        end = p.end_offset
        off = p.append(b"new")
        vals = [r.value for r in p.read(0, 100)]
    print(f"A: end_offset={end} (10 acknowledged), append got offset {off}, log now {vals}")
    # the bug: offsets 3..9 gone (4..9 were valid), offset 3 reused, nothing logged; fixed:
    # only batch 3 is quarantined (a gap), 4..9 kept, the append gets 10
    return off != 10 or vals != [b"v%d" % i for i in range(10) if i != 3] + [b"new"]


def family_b(d):
    with eventlog.open(d) as lg:
        p = lg.create_topic("t").partition(0)
        for i in range(40):
            p.append(b"x" * 300)                 # ~14 KiB: index entries at 0, 4K, 8K, 12K
        seg = _seg(p)
        _flip(seg, _batch_pos(seg, 5) + 60)      # batch 5, before the last index entry
    with eventlog.open(d) as lg:
        p = lg.topic("t").partition(0)
        end = p.end_offset
        try:
            r5 = p.read(5)
        except eventlog.errors.CorruptLogError:
            r5 = "CorruptLogError"  # loud: fixed
        try:
            p.read(6)
            r6 = "records"
        except eventlog.errors.OffsetOutOfRangeError as e:
            r6 = f"OffsetOutOfRangeError: {e}"
        except eventlog.errors.CorruptLogError:
            r6 = "CorruptLogError"
        off = p.append(b"new")
    print(f"B: end_offset={end}, read(5)={r5}, read(6) -> {r6}; append got {off}")
    return end == 40 and r5 == []


def family_c(d):
    with eventlog.open(d) as lg:
        p = lg.create_topic("t", segment_bytes=1024).partition(0)
        for i in range(20):
            p.append(b"y" * 200)                 # ~4 records per segment
        first = _seg(p, 0)
        _flip(first, _batch_pos(first, 1) + 60)  # batch 1 (offset 1) of the first, closed segment
    with eventlog.open(d) as lg:
        p = lg.topic("t").partition(0)
        try:
            got = [r.offset for r in p.read(2, 2)]
        except eventlog.errors.CorruptLogError:
            got = [2, 3]  # loud, not a skip: fixed (repair then keeps 2, 3)
    print(f"C: read(2) in the closed segment returned offsets {got}")
    return got != [2, 3]


def main():
    logging.basicConfig(level=logging.WARNING)
    for name, fn in (("A", family_a), ("B", family_b), ("C", family_c)):
        with tempfile.TemporaryDirectory() as d:
            print(f"   -> {'BUG' if fn(d) else 'ok'} ({name})")


if __name__ == "__main__":
    main()
