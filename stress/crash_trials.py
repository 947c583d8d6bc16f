"""Crash trials: randomized, seeded, reproducible proof that eventlog keeps what it acknowledged.

Run from the project root (the venv active)::

    python -m stress.crash_trials --seed 1 --trials 10000            # every kind, ~even split
    python -m stress.crash_trials --kinds mid,tail --trials 500 --json out.json
    python -m stress.crash_trials --replay mid:123456789 --keep      # one trial, verbose

Kinds (`--kinds`, comma separated; default all):

- ``kill``  -- 1-3 writer processes append batches concurrently to one partition
  (``fsync="never"``); each is killed with SIGKILL at its own random moment (after a random
  number of acknowledged batches, plus a random sub-millisecond jitter, so most kills land
  inside an append, a roll or an index write). Writers are forked by one long-lived, spawned
  fork server that has eventlog imported (about 1 ms per writer instead of ~150 ms per spawn).
- ``power`` -- as ``kill`` with ``fsync="batch"``, then a simulated power cut: every writer
  is killed at the same instant (in half the trials with several writers, variant
  ``staggered``: one by one at their own moments, as in ``kill``, so that survivors append
  after a writer died mid-roll or mid-sync) and whatever was not fsynced is dropped. In each writer a
  fault-injection wrapper around ``os.fsync`` / ``os.fdatasync`` records, before returning,
  the size of the file (by inode) at each sync and, for a directory sync, the names and inodes
  it held. After the kill each file is cut back to its last synced size (variants: cut,
  zero-filled, a random prefix of the unsynced bytes kept, or garbled) and files whose
  directory entry was never synced are removed. The real fsync is skipped (the simulation,
  not the disk, decides what survives), so these trials cost no disk flushes.
- ``tail`` -- in-process: the tail of the active segment torn (cut inside one of its last
  batches, or just after a header), garbled or zeroed from a point inside its last batches to
  the end, zeros or random bytes appended, or cut and re-extended with zeros.
- ``mid`` -- in-process: bytes inside the active segment overwritten (random bytes, zeros, a
  flipped bit, a batch header, or a range running into the next batch) with at least one
  CRC-valid batch after the damage; in one trial of five (when there are several segments)
  the damage is in a closed segment instead (variants ``closed-*``).
- ``index`` -- in-process: an offset or time index of the active or a closed segment torn,
  garbled, zeroed, deleted or extended with garbage.
- ``txkill`` / ``txpower`` (not in the default set: ``--kinds txkill,txpower``) -- the
  transaction commit protocol killed -9 / cut by a power failure at each of its steps, then
  recovered and judged all-or-nothing; `stress.txn_trials` says what they do and check.

The power cut also drops a directory whose own entry was never synced (with everything in
it), and undoes a rename (``os.replace``, recorded by the same wrapper, which keeps a hard
link to the replaced file) whose directory entry was never synced: the old file is back.
Directory syncs of all writers apply in the order they happened (one monotonic clock).

Every trial then does, on a fresh ``eventlog.open``:
  1. the checker (see `run_checker`: ``log.verify()`` when the Log has it, else today's
     ``eventlog verify`` internals), recorded, not judged, on the damaged state;
  2. a full read from ``start_offset`` to ``end_offset`` with ``Partition.read``;
  3. read/end_offset agreement: for every ``o`` in ``[start_offset, end_offset)``,
     ``read(o, 1)`` must return the record at ``o``;
  4. a new append, which must get offset ``end_offset`` and be readable -- or, when the
     writer resynchronised over damage (valid batches after it), an offset past the damaged
     state's ``end_offset``: then every offset between must be readable in step 5 or lie in
     an *accounted gap* (see `accounted_gaps`: a batch of no records at the position named
     by a quarantine file, read independently of eventlog);
  5. for damage in a closed segment (no writer touches one), ``eventlog verify --repair
     --yes t``; then the log closed and opened again, and steps 1-3 repeated on the repaired
     state, where the checker must report no error and no read may raise (also after damage
     in a closed segment: repair must make it readable).

A read may skip offsets only where they are in an accounted gap (it then returns the next
record, as after compaction); any other skip is a disagreement.

Payloads are self-checking: trial tag, writer id, sequence number, the first sequence number
and size of the batch the record was written in, filler, and an 8-byte BLAKE2b of all that.
A record whose hash fails, that belongs to no batch written in this trial, that appears twice,
whose batch is present only in part, or that sits at another offset than the one its append
returned, is *corrupt or invented*. Writers record ``start writer seq n`` in a side file only
after ``append_batch`` returned: those batches are *acknowledged*.

Accounting of acknowledged records (final state, after the repairing append and reopen):
- ``ok``: returned at its acknowledged offset with its payload;
- ``damaged``: not returned, and its batch overlaps the byte range this trial deliberately
  damaged (tail and mid kinds only): expected to be gone. For a cut, the range is from the
  cut to the old end of the file; for appended garbage it is empty;
- ``quarantined``: not returned, outside the damaged range, but its batch's exact bytes are
  in a file beside the segment that is not part of the log (a quarantine file): legitimately
  removed, *if* that was loud (mid and tail kinds only; for kill and power nothing was
  damaged, so nothing acknowledged may be quarantined);
- ``lost``: anything else. Must be 0.

Read/end_offset disagreements (must be 0): ``read(o)`` for ``start <= o < end`` returning
``[]``, a record at another offset, or raising ``OffsetOutOfRangeError``; a full read that
stalls before ``end_offset`` or returns records at or past it; an append that does not get
``end_offset``. ``CorruptLogError`` from a read on the damaged state (before the repairing
append) is counted apart as a *loud refusal*, allowed for damage kinds; on the repaired state
it is a failure; for kill/power trials any exception is a failure. A record
counts as returned if the full read or its own ``read(o, 1)`` returned it (so records after a
loudly refused range are not counted lost).

Loudness (tail/mid/index): a trial whose damage removed anything (records gone, or bytes cut)
is *loud* if eventlog logged a warning, raised ``CorruptLogError`` or left a quarantine file,
and *silent* otherwise. Issue 11 allows a torn tail (bytes past the last valid batch that
form no valid batch) to be cut quietly, so silence is a failure only for ``mid`` trials whose
damage is followed by a valid batch (a range overwritten into the last batch is a torn tail).
The table's ``silent`` column counts every quiet removal (torn tails included); the failures
are ``silent_fail`` (must be 0).

Each trial is a pure function of (kind, trial seed) except for the kill/power timing, which
the seed only steers. A failing trial prints its replay command. `run` is the API the tests
use; ``--json`` writes the tallies and the failures.
"""
import argparse
import collections
import hashlib
import json
import logging
import os
import random
import shutil
import signal
import stat
import struct
import subprocess
import sys
import tempfile
import time
import warnings
import zlib

import eventlog
from eventlog.errors import CorruptLogError, EventLogError, OffsetOutOfRangeError

KINDS = ("kill", "power", "tail", "mid", "index")
TXN_KINDS = ("txkill", "txpower")  # the commit protocol killed / cut (stress/txn_trials.py)
ALL_KINDS = KINDS + TXN_KINDS
DAMAGE_KINDS = ("tail", "mid", "index")
ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

# -- self-checking payloads ------------------------------------------------------------------

_HEAD = struct.Struct("<4sIHIII")  # magic, trial tag, writer, seq, batch first seq, batch size
_MAGIC = b"CTv1"
_HASH = 8


def payload(tag, writer, seq, first, n, filler):
    head = _HEAD.pack(_MAGIC, tag, writer, seq, first, n) + filler
    return head + hashlib.blake2b(head, digest_size=_HASH).digest()


def parse_payload(value):
    """(tag, writer, seq, first, n) of a valid payload, or None if it fails its hash."""
    if not isinstance(value, (bytes, bytearray)) or len(value) < _HEAD.size + _HASH:
        return None
    body, h = value[:-_HASH], value[-_HASH:]
    if hashlib.blake2b(body, digest_size=_HASH).digest() != h or body[:4] != _MAGIC:
        return None
    return _HEAD.unpack_from(body)[1:]


def batch_records(tag, writer, first, n, rng, big=False):
    out = []
    for i in range(n):
        size = rng.randint(2000, 9000) if big else rng.choice((0, 8, 40, 120, 400))
        out.append((None, payload(tag, writer, first + i, first, n, rng.randbytes(size))))
    return out


# -- the independent view of segment files (headers only; see docs/format.md) ----------------

_LEN = struct.Struct("<I")
_BASE = struct.Struct("<QI")  # base offset, last offset delta (at byte 16)


def batch_spans(data):
    """[(pos, length, base offset, next offset)] of the batches of a *pristine* segment
    file (written in this process, so every batch is valid: only lengths are followed)."""
    out, pos = [], 0
    while pos + 56 <= len(data):
        length = _LEN.unpack_from(data, pos + 4)[0]
        base, delta = _BASE.unpack_from(data, pos + 16)
        out.append((pos, length, base, base + delta + 1))
        pos += length
    return out


_COUNT = struct.Struct("<I")  # record count (at byte 28)
_QSUFFIX = ".quarantine"


def accounted_gaps(pdir):
    """Offsets that an explicit gap accounts for, read independently of eventlog: for each
    quarantine file ``<base>.<pos>.quarantine[.k]``, the batch at ``pos`` of segment ``base``
    must be a CRC-valid batch of no records (the gap written over the damaged bytes it holds,
    or the empty batch written where a damaged end was cut); its offsets are accounted for.
    Anything else accounts for nothing."""
    out = set()
    for name in extra_files(pdir):
        head = name.split(_QSUFFIX)[0] if _QSUFFIX in name else None
        parts = head.split(".") if head else []
        if len(parts) != 2 or not parts[0].isdigit() or not parts[1].isdigit():
            continue
        try:
            with open(os.path.join(pdir, parts[0] + ".log"), "rb") as f:
                f.seek(int(parts[1]))
                hdr = f.read(56)
                if len(hdr) < 56 or hdr[:2] != b"EL":
                    continue
                length = _LEN.unpack_from(hdr, 4)[0]
                body = hdr[12:] + f.read(length - 56)
        except (FileNotFoundError, ValueError, OverflowError):
            continue
        if len(body) != length - 12 or zlib.crc32(body) != _LEN.unpack_from(hdr, 8)[0]:
            continue
        if _COUNT.unpack_from(hdr, 28)[0] != 0:
            continue
        base, delta = _BASE.unpack_from(hdr, 16)
        out.update(range(base, base + delta + 1))
    return out


def _skips_only_gaps(o, got_offset, gaps):
    """A read at `o` that returned `got_offset` > o skipped only offsets of accounted gaps."""
    return got_offset > o and all(x in gaps for x in range(o, got_offset))


_STANDARD = ("append.lock", "maintenance.lock", "log-start-offset.json", "cleaner.json")


def is_log_file(name):
    return name in _STANDARD or (len(name) >= 24 and name[:20].isdigit() and
                                 name[20:] in (".log", ".index", ".timeindex"))


def extra_files(pdir):
    """Files beside the segments that are not part of the log (quarantine files, ...)."""
    try:
        return sorted(n for n in os.listdir(pdir) if not is_log_file(n))
    except FileNotFoundError:
        return []


# -- the checker hook --------------------------------------------------------------------------

def run_checker(lg, part):
    """[(severity, message)] that the project's checker reports for partition `part`.

    Uses ``part.check()`` or ``lg.verify()`` when they exist (being added for issue 11; this
    is the hook to adjust once their contract is settled): a returned report is
    read duck-typed (an iterable of problems, or an object with ``.problems``; each problem
    a dict or object with ``severity`` and ``message``; a problem without a severity counts as
    an error); a raised ``EventLogError`` is one error. Until then, today's ``eventlog verify``
    internals (``_cli_check.check_partition``) run under the partition's append lock."""
    verify = getattr(part, "check", None) or getattr(lg, "verify", None)
    if verify is not None:
        try:
            report = verify()
        except EventLogError as e:
            return [("error", f"{type(e).__name__}: {e}")]
        if report is None or report is True:
            return []
        if report is False:
            return [("error", "verify() returned False")]
        items = getattr(report, "problems", report)
        if isinstance(items, dict):
            items = items.get("problems", [])
        out = []
        for p in items:
            if isinstance(p, dict):
                sev, msg = p.get("severity", "error"), p.get("message", str(p))
            else:
                sev, msg = getattr(p, "severity", "error"), getattr(p, "message", str(p))
            if getattr(p, "topic", part.topic) == part.topic and (
                    not isinstance(p, dict) or p.get("topic", part.topic) == part.topic):
                out.append((str(sev), str(msg)))
        return out
    from eventlog.cli import check as _cli_check
    from eventlog._os.fs import FileLock
    lock = FileLock(os.path.join(part.dir, "append.lock"))
    lock.acquire()
    try:
        _stats, problems, _scans = _cli_check.check_partition(part.topic, part.partition, part.dir,
                                                              compacted=False, locked=True)
    finally:
        lock.release()
        lock.close()
    return [(p.severity, p.message) for p in problems]


# -- checking one trial ------------------------------------------------------------------------

class _Capture(logging.Handler):
    def __init__(self):
        super().__init__(logging.WARNING)
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


class Result:
    """What one trial found. `fail` lists the reasons it failed (empty: it passed)."""

    def __init__(self, kind, seed, variant):
        self.kind, self.seed, self.variant = kind, seed, variant
        self.acked = self.ok = self.lost = self.damaged = self.quarantined = self.corrupt = 0
        self.lost_on_disk = 0     # lost, but the batch's bytes are still in a segment file
        self.unacked_survivors = 0
        self.disagree = []        # descriptions (first few)
        self.n_disagree = 0
        self.refused = 0          # CorruptLogError from reads of the damaged state
        self.exceptions = collections.Counter()
        self.warnings = []
        self.quarantine_files = []
        self.removed = False      # the damage removed records or bytes
        self.loud = False
        self.checker_before = []
        self.checker_after = []
        self.notes = []
        self.fail = []

    def disagreement(self, msg):
        self.n_disagree += 1
        if len(self.disagree) < 5:
            self.disagree.append(msg)

    def json(self):
        d = {k: v for k, v in vars(self).items() if k != "exceptions"}
        d["exceptions"] = dict(self.exceptions)
        return d


def _full_read(p, start, end, res, phase, loud_ok, gaps=frozenset()):
    """{offset: value} read with read() from start to end; disagreements noted in res. A
    read may skip only offsets of accounted gaps (`accounted_gaps`)."""
    got = {}
    o = start
    while o < end:
        try:
            recs = p.read(o, max_records=500)
        except CorruptLogError as e:
            res.loud = True
            if loud_ok:
                res.refused += 1
            else:
                res.exceptions[f"{phase}: CorruptLogError"] += 1
                res.notes.append(f"{phase} full read at {o}: {e}")
            return got
        except Exception as e:  # noqa: BLE001 - every exception is tallied by type
            res.exceptions[f"{phase}: {type(e).__name__}"] += 1
            res.notes.append(f"{phase} full read at {o}: {type(e).__name__}: {e}")
            return got
        if not recs:
            res.disagreement(f"{phase}: read({o}) returned [] but end_offset is {end}")
            return got
        for r in recs:
            if r.offset != o and not _skips_only_gaps(o, r.offset, gaps):
                res.disagreement(f"{phase}: full read expected offset {o}, got {r.offset}")
            if r.offset >= end:
                res.disagreement(f"{phase}: read returned offset {r.offset} >= end_offset {end}")
                return got
            got[r.offset] = r.value
            o = r.offset + 1
    return got


def _agreement(p, start, end, got, res, phase, loud_ok, gaps=frozenset()):
    """read(o, 1) for every o in [start, end) must return the record at o (for o in an
    accounted gap: the next record, past offsets of accounted gaps only)."""
    for o in range(start, end):
        try:
            recs = p.read(o, max_records=1)
        except CorruptLogError:
            res.loud = True
            if loud_ok:
                res.refused += 1
            else:
                res.exceptions[f"{phase}: CorruptLogError"] += 1
            continue
        except OffsetOutOfRangeError as e:
            res.disagreement(f"{phase}: read({o}) raised OffsetOutOfRangeError with "
                             f"start_offset={start} end_offset={end}: {e}")
            continue
        except Exception as e:  # noqa: BLE001
            res.exceptions[f"{phase}: {type(e).__name__}"] += 1
            continue
        if not recs:
            res.disagreement(f"{phase}: read({o}) returned [] with end_offset={end}")
        elif recs[0].offset != o:
            if not _skips_only_gaps(o, recs[0].offset, gaps):
                res.disagreement(f"{phase}: read({o}) returned offset {recs[0].offset} (a skip)")
            elif recs[0].offset < end and recs[0].offset not in got:
                got[recs[0].offset] = recs[0].value
            elif recs[0].offset in got and recs[0].value != got[recs[0].offset]:
                res.disagreement(f"{phase}: read({o}) and the full read returned different records")
        elif o not in got:
            got[o] = recs[0].value  # reachable, though the full read stopped before it
        elif recs[0].value != got[o]:
            res.disagreement(f"{phase}: read({o}) and the full read returned different records")


def check_trial(path, res, acked, written, damage=None, loud_ok=False, excuse_quarantine=False):
    """Reopen the log at `path` and judge it (see the module docstring).

    acked: {offset: (writer, seq, first, n)} of acknowledged records; written: {(writer,
    first): n} of every batch a writer may have written (acknowledged or not); damage:
    (segment path, lo, hi, [(pos, len, base, next)], pristine bytes) of the deliberately
    damaged byte range, or None."""
    res.acked = len(acked)
    cap = _Capture()
    elog = logging.getLogger("eventlog")
    elog.addHandler(cap)
    try:
        with warnings.catch_warnings(record=True) as wlist:
            warnings.simplefilter("always")
            final = _check_phases(path, res, loud_ok, res.variant.startswith("closed-"))
        res.warnings = cap.messages + [str(w.message) for w in wlist]
    finally:
        elog.removeHandler(cap)
    if final is None:
        res.fail.append("exception")
        return res
    got, pdir, before_got = final
    res.quarantine_files = extra_files(pdir)
    if res.warnings or res.quarantine_files:
        res.loud = True
    qblob = b"".join(open(os.path.join(pdir, n), "rb").read() for n in res.quarantine_files
                     if os.path.isfile(os.path.join(pdir, n)))
    # damaged range -> offsets of batches overlapping it; bytes of every acked batch
    damaged_offs, batch_bytes = set(), {}
    if damage is not None:
        _seg, lo, hi, spans, pristine = damage
        for pos, length, base, nxt in spans:
            if pos < hi and pos + length > lo:
                damaged_offs.update(range(base, nxt))
            for o in range(base, nxt):
                batch_bytes[o] = pristine[pos:pos + length]
    segcache = []

    def segblob():
        if not segcache:
            segcache.append(b"".join(open(os.path.join(pdir, n), "rb").read()
                                     for n in sorted(os.listdir(pdir)) if n.endswith(".log")))
        return segcache[0]

    # judge every acknowledged record
    for off, (writer, seq, first, n) in acked.items():
        v = got.get(off)
        ident = parse_payload(v) if v is not None else None
        if ident is not None and ident[1:] == (writer, seq, first, n):
            res.ok += 1
        elif off in damaged_offs:
            res.damaged += 1
        elif excuse_quarantine and off in batch_bytes and qblob and batch_bytes[off] in qblob:
            res.quarantined += 1
        else:
            res.lost += 1
            if off in batch_bytes and batch_bytes[off] in segblob():
                res.lost_on_disk += 1
            if len(res.notes) < 8:
                was = "readable" if off in before_got else "not readable"
                res.notes.append(f"acknowledged offset {off} (writer {writer} seq {seq}) lost; "
                                 f"it was {was} before the repairing append")
    # judge every record returned: self-checking, written once, whole batches, right place
    seen, batches = {}, collections.defaultdict(set)
    for off, v in got.items():
        if v == b"marker" or v == b"marker-2":
            continue
        ident = parse_payload(v)
        if ident is None or ident[0] != res.tag:
            res.corrupt += 1
            res.notes.append(f"offset {off}: payload fails its hash or belongs to no writer of this trial")
            continue
        _tag, writer, seq, first, n = ident
        if (writer, first) not in written or written[(writer, first)] != n:
            res.corrupt += 1
            res.notes.append(f"offset {off}: record of a batch never written ({writer}, {first}, {n})")
            continue
        if (writer, seq) in seen:
            res.corrupt += 1
            res.notes.append(f"offset {off}: duplicate of offset {seen[(writer, seq)]}")
            continue
        seen[(writer, seq)] = off
        batches[(writer, first, n)].add(seq)
        a = acked.get(off)
        if a is None:
            if (writer, seq) in res.acked_keys:
                res.corrupt += 1
                res.notes.append(f"offset {off}: acknowledged record ({writer}, {seq}) found at another offset")
            else:
                res.unacked_survivors += 1
    for (writer, first, n), seqs in batches.items():
        if len(seqs) != n:
            res.corrupt += 1
            res.notes.append(f"batch ({writer}, {first}) of {n} records is present only in part ({len(seqs)})")
    if res.damaged or res.lost or res.quarantined:
        res.removed = True
    # pass / fail
    if res.lost:
        res.fail.append("lost")
    if res.corrupt:
        res.fail.append("corrupt")
    if res.n_disagree:
        res.fail.append("disagree")
    if res.exceptions:
        res.fail.append("exception")
    if any(sev == "error" for sev, _m in res.checker_after):
        res.fail.append("checker")
    if res.kind == "mid" and res.removed and not res.loud and getattr(res, "valid_after", False):
        res.fail.append("silent")
    return res


def _repair(path):
    """`eventlog --dir path verify --repair --yes t`, in this process (its output dropped)."""
    import contextlib
    import io
    from eventlog.cli.main import main as cli_main
    with contextlib.redirect_stdout(io.StringIO()) as out, contextlib.redirect_stderr(out):
        rc = cli_main(["--dir", path, "verify", "--repair", "--yes", "t"])
    return rc, out.getvalue()


def _check_phases(path, res, loud_ok, repair):
    """Steps 1-5 of the module docstring. Returns (final {offset: value}, partition dir,
    {offset: value} of the damaged state), or None after an unexpected exception.
    `repair`: damage in a closed segment, which no writer touches: run `eventlog verify
    --repair --yes` (the user's call) before the repaired state is judged."""
    try:
        lg = eventlog.open(path)
    except Exception as e:  # noqa: BLE001
        res.exceptions[f"open: {type(e).__name__}"] += 1
        res.notes.append(f"open: {e}")
        return None
    try:
        p = lg.topic("t").partition(0)
        pdir = p.dir
        res.checker_before = run_checker(lg, p)
        start, end = p.start_offset, p.end_offset
        gaps = accounted_gaps(pdir)
        before = _full_read(p, start, end, res, "damaged state", loud_ok, gaps)
        _agreement(p, start, end, before, res, "damaged state", loud_ok, gaps)
        end2 = p.end_offset
        if end2 != end:
            res.disagreement(f"end_offset moved from {end} to {end2} with no writer")
        try:
            off = p.append(b"marker")
        except Exception as e:  # noqa: BLE001
            res.exceptions[f"append: {type(e).__name__}"] += 1
            res.notes.append(f"append after reopen: {type(e).__name__}: {e}")
            return None
        # the repairing append gets end_offset as observed after the writer's recovery: past
        # the damaged end_offset when it resynchronised over damage (every offset between
        # must then be readable or in an accounted gap: checked on the repaired state)
        jump = None
        if off < end2:
            res.disagreement(f"the append after reopen got offset {off}, end_offset was {end2}"
                             " (offsets below end_offset reused)")
        elif off > end2:
            jump = (end2, off)
        if off != end2:
            res.removed = True
        try:
            back = p.read(off, 1)
            if not back or back[0].offset != off or back[0].value != b"marker":
                res.disagreement(f"the new record at {off} is not readable: {back!r:.80}")
        except Exception as e:  # noqa: BLE001
            res.exceptions[f"read new: {type(e).__name__}"] += 1
    except Exception as e:  # noqa: BLE001
        res.exceptions[f"check: {type(e).__name__}"] += 1
        res.notes.append(f"{type(e).__name__}: {e}")
        return None
    finally:
        lg.close()
    try:
        if repair:
            rc, out = _repair(path)
            if rc != 0:
                res.exceptions["repair: exit status"] += 1
                res.notes.append(f"eventlog verify --repair --yes exited {rc}: {out[-300:]}")
        with eventlog.open(path) as lg:  # the repaired state, from a fresh open
            p = lg.topic("t").partition(0)
            res.checker_after = run_checker(lg, p)
            start, end = p.start_offset, p.end_offset
            gaps = accounted_gaps(pdir)
            got = _full_read(p, start, end, res, "repaired state", False, gaps)
            _agreement(p, start, end, got, res, "repaired state", False, gaps)
            if jump is not None:
                hole = [o for o in range(*jump) if o not in got and o not in gaps]
                if hole:
                    res.disagreement(f"the append after reopen got offset {jump[1]}, end_offset was "
                                     f"{jump[0]}, and offsets between ({hole[0]}..{hole[-1]}) are neither "
                                     "readable nor an accounted gap")
            off = p.append(b"marker-2")
            if off != end:
                res.disagreement(f"second append got {off}, end_offset was {end}")
            if [r.value for r in p.read(off, 1)] != [b"marker-2"]:
                res.disagreement(f"second new record at {off} not readable")
    except Exception as e:  # noqa: BLE001
        res.exceptions[f"repaired: {type(e).__name__}"] += 1
        res.notes.append(f"repaired state: {type(e).__name__}: {e}")
        return None
    return got, pdir, before


# -- in-process damage trials -------------------------------------------------------------------

def _build(path, rng, tag):
    """A small log with 1-4 segments; returns (acked, written, partition dir)."""
    seg_bytes = rng.choice((6 << 10, 12 << 10, 24 << 10))
    comp = rng.choice(("none", "zstd"))
    acked, written = {}, {}
    seq = 0
    with eventlog.open(path) as lg:
        p = lg.create_topic("t", segment_bytes=seg_bytes, compression=comp).partition(0)
        nb = rng.randint(4, 40)
        i = 0
        while True:
            n = rng.choice((1, 1, 2, 3, 5, 8, 20))
            recs = batch_records(tag, 0, seq, n, rng, big=rng.random() < 0.05)
            r = p.append_batch(recs)
            written[(0, seq)] = n
            for k, o in enumerate(r):
                acked[o] = (0, seq + k, seq, n)
            seq += n
            i += 1
            if i >= nb and _active_batches(p.dir) >= 3:
                break
        pdir = p.dir
    return acked, written, pdir


def _active_batches(pdir):
    return len(batch_spans(open(_active(pdir), "rb").read()))


def _segments(pdir):
    return [os.path.join(pdir, n) for n in sorted(n for n in os.listdir(pdir) if n.endswith(".log"))]


def _active(pdir):
    return _segments(pdir)[-1]


def _damage_tail(rng, data, spans):
    """(variant, new bytes, lo, hi): the damaged byte range is [lo, hi) of the old file."""
    n = len(data)
    k = min(len(spans), rng.randint(1, 3))
    pos, length, _b, _n = spans[-rng.randint(1, k)]
    at = pos + rng.randrange(length)
    v = rng.choice(("cut", "cut-after-header", "garble-to-end", "zero-to-end", "append-garbage",
                    "append-zeros", "cut-and-zero-extend"))
    if v == "cut":
        return v, data[:at], at, n
    if v == "cut-after-header":
        return v, data[:pos + 56], pos + 56, n
    if v == "garble-to-end":
        return v, data[:at] + rng.randbytes(n - at), at, n
    if v == "zero-to-end":
        return v, data[:at] + bytes(n - at), at, n
    if v == "append-garbage":
        return v, data + rng.randbytes(rng.randint(1, 5000)), n, n
    if v == "append-zeros":
        return v, data + bytes(rng.randint(1, 5000)), n, n
    return v, data[:at] + bytes(n - at + rng.randint(0, 3000)), at, n


def _damage_mid(rng, data, spans, closed=False):
    # at least one whole batch stays after the damage (in a closed segment: the next segment)
    j = rng.randrange(len(spans) if closed else len(spans) - 1)
    pos, length, _b, _n = spans[j]
    v = rng.choice(("random-bytes", "zeros", "bit-flip", "header-random", "header-zeros",
                    "span-to-next"))
    if v.startswith("header"):
        at, ln = pos + rng.randrange(56), rng.randint(1, 8)
    elif v == "span-to-next":  # from inside this batch into the next one
        at = pos + rng.randrange(length)
        ln = pos + length - at + rng.randint(1, 60)
    else:
        at, ln = pos + rng.randrange(length), rng.randint(1, 64)
    ln = min(ln, len(data) - at - 1)
    if v == "bit-flip":
        ln = 1
        new = bytes([data[at] ^ (1 << rng.randrange(8))])
    elif v in ("zeros", "header-zeros"):
        new = bytes(ln)
    else:
        new = rng.randbytes(ln)
    return v, data[:at] + new + data[at + ln:], at, at + ln


def _damage_index(rng, pdir):
    segs = sorted(n[:20] for n in os.listdir(pdir) if n.endswith(".log"))
    base = segs[-1] if rng.random() < 0.6 else rng.choice(segs)
    which = rng.choice((".index", ".timeindex", "both"))
    v = rng.choice(("torn", "garble", "zero", "delete", "append-garbage", "empty"))
    for ext in ((".index", ".timeindex") if which == "both" else (which,)):
        f = os.path.join(pdir, base + ext)
        data = open(f, "rb").read()
        if v == "delete":
            os.unlink(f)
            continue
        if v == "torn":
            new = data[:rng.randrange(len(data))] if data else b""
        elif v == "empty":
            new = b""
        elif v == "append-garbage":
            new = data + rng.randbytes(rng.randint(1, 40))
        else:
            at = rng.randrange(len(data)) if data else 0
            ln = rng.randint(1, max(1, len(data) - at))
            new = data[:at] + (bytes(ln) if v == "zero" else rng.randbytes(ln)) + data[at + ln:]
        with open(f, "wb") as fh:
            fh.write(new)
    last = "active" if base == segs[-1] else "closed"
    return f"{v}:{which}:{last}"


def damage_trial(kind, seed, workdir):
    rng = random.Random(f"{kind}:{seed}")
    tag = rng.getrandbits(32)
    path = os.path.join(workdir, f"{kind}-{seed}")
    acked, written, pdir = _build(path, rng, tag)
    damage = None
    if kind == "index":
        variant = _damage_index(rng, pdir)
    else:
        seg = _active(pdir)
        closed = kind == "mid" and rng.random() < 0.2 and len(_segments(pdir)) > 1
        if closed:  # issue 11 item 2's first family: an invalid batch inside a closed segment
            seg = rng.choice(_segments(pdir)[:-1])
        data = open(seg, "rb").read()
        spans = batch_spans(data)
        if kind == "tail":
            variant, new, lo, hi = _damage_tail(rng, data, spans)
        else:
            variant, new, lo, hi = _damage_mid(rng, data, spans, closed)
            variant = ("closed-" if closed else "") + variant
        with open(seg, "wb") as f:
            f.write(new)
        damage = (seg, lo, hi, spans, data)
    res = Result(kind, seed, variant)
    # a valid batch after the damage makes it corruption, not a torn tail (issue 11 item 3)
    res.valid_after = damage is not None and (
        variant.startswith("closed-") or any(pos >= hi for pos, _l, _b, _n in spans))
    res.tag = tag
    res.acked_keys = {(w, s) for (w, s, _f, _n) in acked.values()}
    check_trial(path, res, acked, written, damage, loud_ok=kind in DAMAGE_KINDS,
                excuse_quarantine=kind in ("tail", "mid"))
    return res, path


# -- kill -9 and power-cut trials (writer processes from a fork server) ------------------------

def _writer_main(spec):
    """Body of one forked writer: append batches until killed, acknowledging each batch in
    the ack file only after append_batch returned."""
    rng = random.Random(spec["seed"])
    if spec.get("sync_log"):
        _install_sync_recorder(spec["sync_log"])
    ack = os.open(spec["ack"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    lg = eventlog.open(spec["path"])
    p = lg.topic("t").partition(0)
    seq, w, tag = 0, spec["writer"], spec["tag"]
    for _ in range(20000):
        n, big = _next_batch(rng, spec["huge"])
        r = p.append_batch(batch_records(tag, w, seq, n, rng, big=big))
        os.write(ack, b"%d %d %d %d\n" % (r.start, w, seq, n))
        seq += n
    while True:  # cap reached: wait to be killed
        time.sleep(1)


def _next_batch(rng, huge):
    """(records, big values?) of a writer's next batch. `huge` writers append batches of up
    to ~1 MiB, whose one write a SIGKILL can interrupt between pages (a torn batch)."""
    if huge:
        return rng.randint(20, 110), True
    return rng.choice((1, 1, 2, 4, 8, 16, 40)), rng.random() < 0.1


def _install_sync_recorder(log_path):
    """Fault injection for the power-cut kind: os.fsync / os.fdatasync record what they
    would have made durable (file inode and size; for a directory, its entries) in the sync
    log, one whole line per call, before returning. The real sync is skipped."""
    fd = os.open(log_path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)

    def synced(target):
        st = os.fstat(target)
        if stat.S_ISDIR(st.st_mode):
            d = os.readlink(f"/proc/self/fd/{target}")
            t = time.monotonic_ns()  # one clock for all processes: the cut applies syncs in time order
            ents = {e.name: e.inode() for e in os.scandir(d)}
            # the directory by inode, as the disk knows it: its path may change later (a
            # topic is built under a temporary name and renamed into place)
            line = f"D {t} " + json.dumps([st.st_dev, st.st_ino, d, ents]) + "\n"
        else:
            line = f"F {st.st_dev} {st.st_ino} {st.st_size}\n"
        os.write(fd, line.encode())

    os.fsync = synced
    os.fdatasync = synced
    real_replace = os.replace
    keep = log_path + ".replaced"

    def replace(src, dst, **kw):
        # a replaced file stays reachable (hard link named by its inode) until the cut: if
        # the rename's directory entry was never synced, the cut puts the old file back
        try:
            st = os.stat(dst)
            os.makedirs(keep, exist_ok=True)
            os.link(dst, os.path.join(keep, f"{st.st_dev}-{st.st_ino}"))
        except (FileNotFoundError, FileExistsError, IsADirectoryError, PermissionError):
            pass
        return real_replace(src, dst, **kw)

    os.replace = replace


def _fork_server():
    """Runs in a spawned process: fork writers on request (JSON lines on stdin/stdout)."""
    out = sys.stdout
    for line in sys.stdin:
        req = json.loads(line)
        if req["op"] == "start":
            pids = []
            for spec in req["writers"]:
                pid = os.fork()
                if pid == 0:
                    try:
                        os.close(0)
                        if spec.get("mode") == "txn":
                            from stress import txn_trials
                            txn_trials.writer_main(spec)
                        _writer_main(spec)
                    finally:
                        os._exit(3)
                pids.append(pid)
            out.write(json.dumps({"pids": pids}) + "\n")
        elif req["op"] == "reap":
            st = []
            for pid in req["pids"]:
                _p, status = os.waitpid(pid, 0)
                st.append(os.waitstatus_to_exitcode(status))
            out.write(json.dumps({"status": st}) + "\n")
        out.flush()


class ForkServer:
    def __init__(self):
        env = dict(os.environ)
        env["PYTHONPATH"] = ROOT + os.pathsep + env.get("PYTHONPATH", "")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", "from stress.crash_trials import _fork_server; _fork_server()"],
            stdin=subprocess.PIPE, stdout=subprocess.PIPE, env=env, cwd=ROOT, text=True, bufsize=1)

    def call(self, **req):
        self.proc.stdin.write(json.dumps(req) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        if not line:
            raise RuntimeError("the fork server died")
        return json.loads(line)

    def close(self):
        self.proc.stdin.close()
        self.proc.wait(30)


def _read_acks(paths):
    out = []
    for ap in paths:
        try:
            with open(ap, "rb") as f:
                lines = f.read().split(b"\n")[:-1]  # whole lines only
        except FileNotFoundError:
            continue
        out += [tuple(map(int, ln.split())) for ln in lines]
    return out


def _snapshot(root):
    """{(dev, ino) of a dir: {name: inode}} and {(dev, ino): size} of everything under root
    (the baseline that was durable before the writers started)."""
    dirs, sizes = {}, {}
    for d, _subdirs, files in os.walk(root):
        st = os.stat(d)
        dirs[(st.st_dev, st.st_ino)] = {e.name: e.inode() for e in os.scandir(d)}
        for n in files:
            st = os.stat(os.path.join(d, n))
            sizes[(st.st_dev, st.st_ino)] = st.st_size
    return dirs, sizes


def power_cut(root, baseline, sync_logs, rng):
    """Drop everything not fsynced under root (see the module docstring). Returns the variant
    used for unsynced bytes and a count of files cut and removed."""
    dirs = {d: dict(ents) for d, ents in baseline[0].items()}
    sizes = dict(baseline[1])
    dsyncs = []
    for lp in sync_logs:
        try:
            lines = open(lp, "rb").read().split(b"\n")[:-1]
        except FileNotFoundError:
            continue
        for ln in lines:
            if ln.startswith(b"D "):
                t, doc = ln[2:].split(b" ", 1)
                dsyncs.append((int(t), doc))
            else:
                _f, dev, ino, size = ln.split()
                k = (int(dev), int(ino))
                sizes[k] = max(sizes.get(k, 0), int(size))
    # directory syncs of all writers in time order: a later sync of a directory (by any
    # process) makes its entries as they were then durable, replacing an earlier one's.
    # Directories are known by inode (a sync makes the entries of the directory durable,
    # whatever it is called later), as in the baseline.
    for _t, doc in sorted(dsyncs, key=lambda x: x[0]):
        dev, ino, _d, ents = json.loads(doc)
        dirs.setdefault((dev, ino), {}).update(ents)
    variant = rng.choice(("drop", "drop", "zero", "prefix", "garble"))
    cut = removed = 0
    replaced = {}  # (dev, ino) -> a hard link to a file some os.replace replaced
    for lp in sync_logs:
        kd = lp + ".replaced"
        for n in (os.listdir(kd) if os.path.isdir(kd) else ()):
            dev, ino = n.split("-")
            replaced[(int(dev), int(ino))] = os.path.join(kd, n)
    for d, subdirs, files in os.walk(root):
        dst = os.stat(d)
        synced = dirs.get((dst.st_dev, dst.st_ino), {})
        for n in list(subdirs):  # a directory whose entry was never synced is gone, with all in it
            if synced.get(n) != os.stat(os.path.join(d, n)).st_ino:
                shutil.rmtree(os.path.join(d, n))
                subdirs.remove(n)
                removed += 1
        for n in files:
            f = os.path.join(d, n)
            st = os.stat(f)
            synced_ino = synced.get(n)
            if synced_ino != st.st_ino:
                os.unlink(f)   # its directory entry was never synced
                removed += 1
                old = replaced.get((st.st_dev, synced_ino))
                if old is None:
                    continue
                # a rename over a file whose new entry was never synced: the old file is back
                shutil.copyfile(old, f)
                st_old = os.stat(old)
                st = os.stat(f)
                sizes[(st.st_dev, st.st_ino)] = sizes.get((st_old.st_dev, st_old.st_ino), 0)
            keep = sizes.get((st.st_dev, st.st_ino), 0)
            if st.st_size <= keep:
                continue
            cut += 1
            extra = st.st_size - keep
            with open(f, "r+b") as fh:
                if variant == "drop":
                    fh.truncate(keep)
                elif variant == "zero":
                    fh.seek(keep)
                    fh.write(bytes(extra))
                elif variant == "prefix":
                    fh.truncate(keep + rng.randrange(extra))
                else:
                    fh.seek(keep + rng.randrange(extra))
                    fh.write(rng.randbytes(rng.randint(1, 64)))
    return f"{variant}:cut{cut}:rm{removed}"


def process_trial(kind, seed, workdir, server):
    rng = random.Random(f"{kind}:{seed}")
    tag = rng.getrandbits(32)
    path = os.path.join(workdir, f"{kind}-{seed}")
    fsync = "batch" if kind == "power" else "never"
    with eventlog.open(path) as lg:
        lg.create_topic("t", segment_bytes=rng.choice((8 << 10, 32 << 10, 128 << 10)),
                        compression=rng.choice(("none", "zstd")), fsync=fsync)
    nw = rng.randint(1, 3)
    acks = [os.path.join(workdir, f"{kind}-{seed}.ack{w}") for w in range(nw)]
    syncs = [os.path.join(workdir, f"{kind}-{seed}.sync{w}") for w in range(nw)] if kind == "power" else []
    baseline = _snapshot(path) if kind == "power" else None
    huge = rng.random() < 0.25
    specs = [{"path": path, "writer": w, "seed": rng.getrandbits(32), "tag": tag, "ack": acks[w],
              "sync_log": syncs[w] if syncs else None, "huge": huge} for w in range(nw)]
    # half the power trials with several writers kill them one by one before the cut (a
    # writer dies -- kill -9, OOM -- while the others go on; later the power fails); drawn
    # from its own stream so that the seed's other choices stay as they were
    staggered = kind == "power" and nw > 1 and random.Random(f"stagger:{seed}").random() < 0.5
    pids = server.call(op="start", writers=specs)["pids"]
    try:
        targets = _kill_writers(kind, rng, nw, huge, pids, acks, staggered)
    finally:  # never leave a writer running (an exception here, a ^C)
        for pid in pids:
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        status = server.call(op="reap", pids=pids)["status"]
    variant = f"writers{nw}:{'huge' if huge else 'small'}:after{targets}" + (":staggered" if staggered else "")
    if kind == "power":
        variant += ":" + power_cut(path, baseline, syncs, rng)
    res = Result(kind, seed, variant)
    res.tag = tag
    if any(s != -signal.SIGKILL for s in status):
        res.notes.append(f"writer exit statuses {status} (not all killed)")
    acked, written = {}, {}
    for start, w, seq, n in _read_acks(acks):
        for k in range(n):
            acked[start + k] = (w, seq + k, seq, n)
    # every batch a writer may have written: its acked ones and the one after its last ack
    for spec in specs:
        r = random.Random(spec["seed"])
        seq = 0
        last = max((a[2] + a[3] for a in _read_acks([acks[spec["writer"]]])), default=0)
        while seq <= last:
            n, big = _next_batch(r, spec["huge"])
            written[(spec["writer"], seq)] = n
            batch_records(tag, spec["writer"], seq, n, r, big=big)
            seq += n
    res.acked_keys = {(w, s) for (w, s, _f, _n) in acked.values()}
    check_trial(path, res, acked, written, None)
    return res, path


def _kill_writers(kind, rng, nw, huge, pids, acks, staggered=False):
    """Kill the writers at their random moments; returns the kill targets used."""
    # each writer dies after its own number of acknowledged batches (all writers together),
    # plus a jitter; a power cut kills them all at once, unless `staggered`: then the writers
    # die one by one as in `kill` and the power cut follows the last death
    targets = sorted(rng.choice((0, 1, 2, 3, 5, 8, 13, 21, 34) if not huge else (0, 1, 2, 3, 5))
                     for _ in range(nw))
    if kind == "power" and not staggered:
        targets = [targets[-1]] * nw
    order = list(range(nw))
    rng.shuffle(order)
    jitter = [rng.random() * (0.02 if huge else 0.004) for _ in range(nw)]
    deadline = time.monotonic() + 60
    alive = set(range(nw))
    for k, w in enumerate(order):
        while len(_read_acks(acks)) < targets[k]:
            if time.monotonic() > deadline:
                break
            time.sleep(0.0005)
        if kind == "power" and not staggered:
            for w2 in order:
                os.kill(pids[w2], signal.SIGKILL)
            alive.clear()
            break
        t_end = time.perf_counter() + jitter[k]
        while time.perf_counter() < t_end:
            pass
        os.kill(pids[w], signal.SIGKILL)
        alive.discard(w)
    return targets


# -- running and tallying -----------------------------------------------------------------------

def trial_seed(seed, kind, i):
    return random.Random(f"{seed}/{kind}/{i}").getrandbits(40)


class Tally:
    FIELDS = ("trials", "failed", "acked", "lost", "lost_on_disk", "damaged", "quarantined", "corrupt", "disagree",
              "chk_before", "refused", "removed", "loud", "silent", "silent_fail", "checker_err", "unacked_kept")
    # transactional kinds only: acknowledged transactions checked; transactions being
    # committed at the kill that ended committed / aborted; trials whose group offsets
    # disagreed with the transactions; trials with a transaction visible in part
    TXN_FIELDS = ("tx_acked", "tx_rolled_fwd", "tx_rolled_back", "offsets_bad", "mixed")

    def __init__(self):
        self.by_kind = collections.OrderedDict()
        self.exceptions = collections.defaultdict(collections.Counter)
        self.failures = []
        self.families = collections.OrderedDict()
        self.seconds = collections.Counter()
        self.steps = collections.defaultdict(collections.Counter)  # txn kinds: where writers died

    def add(self, res, seconds):
        txn = res.kind in TXN_KINDS
        t = self.by_kind.setdefault(res.kind, dict.fromkeys(self.FIELDS + (self.TXN_FIELDS if txn else ()), 0))
        if txn:
            for part in res.variant.split(":"):
                if part[:1] == "w" and "-k" in part:   # w<writer>-k<txn>-<step>
                    self.steps[res.kind][part.split("-", 2)[2]] += 1
            t["tx_acked"] += getattr(res, "tx_acked", 0)
            t["tx_rolled_fwd"] += getattr(res, "tx_inflight_commit", 0)
            t["tx_rolled_back"] += getattr(res, "tx_inflight_abort", 0)
            t["offsets_bad"] += "offsets" in res.fail
            t["mixed"] += "mixed" in res.fail
        t["trials"] += 1
        t["failed"] += bool(res.fail)
        t["acked"] += res.acked
        t["lost"] += res.lost
        t["lost_on_disk"] += res.lost_on_disk
        t["damaged"] += res.damaged
        t["quarantined"] += res.quarantined
        t["corrupt"] += res.corrupt
        t["disagree"] += bool(res.n_disagree)
        t["refused"] += bool(res.refused)
        t["chk_before"] += bool(res.checker_before)
        t["removed"] += res.removed
        t["loud"] += res.removed and res.loud
        t["silent"] += res.removed and not res.loud  # a failure only for mid with valid batches after
        t["silent_fail"] += "silent" in res.fail  # ... which is this column (must be 0)
        t["checker_err"] += "checker" in res.fail
        t["unacked_kept"] += res.unacked_survivors
        self.exceptions[res.kind].update(res.exceptions)
        self.seconds[res.kind] += seconds
        if res.fail:
            fam = (res.kind, tuple(res.fail))
            f = self.families.setdefault(fam, {"count": 0, "first": None,
                                               "variants": collections.Counter()})
            f["count"] += 1
            f["variants"][res.variant.split(":")[0]] += 1
            if f["first"] is None:
                f["first"] = {"seed": res.seed, "variant": res.variant, "detail": _detail(res)}
            self.failures.append({"kind": res.kind, "seed": res.seed, "variant": res.variant,
                                  "fail": res.fail})

    def table(self):
        cols = self.FIELDS + ("trials/s",)
        rows = []
        for kind, t in self.by_kind.items():
            s = self.seconds[kind]
            rows.append([kind] + [str(t[c]) for c in self.FIELDS] + [f"{t['trials'] / s:.1f}" if s else "-"])
        w = [max(len(c), *(len(r[i + 1]) for r in rows)) for i, c in enumerate(cols)]
        head = "kind  " + " ".join(c.rjust(w[i]) for i, c in enumerate(cols))
        lines = [head] + ["%-5s " % r[0] + " ".join(v.rjust(w[i]) for i, v in enumerate(r[1:])) for r in rows]
        for kind, t in self.by_kind.items():
            if kind in TXN_KINDS:
                lines.append(f"{kind}: " + ", ".join(f"{c} {t[c]}" for c in self.TXN_FIELDS))
                steps = self.steps[kind]
                if steps:
                    lines.append(f"{kind} deaths by step: " + ", ".join(
                        f"{s} {n}" for s, n in sorted(steps.items(), key=lambda x: _step_order(x[0]))))
        for kind, ex in self.exceptions.items():
            if ex:
                lines.append(f"exceptions in {kind}: " + ", ".join(f"{k} x{n}" for k, n in ex.most_common()))
        if self.families:
            lines.append("failure families (kind, variant, reasons: count; first seed -> replay):")
            for (kind, why), f in self.families.items():
                vs = ", ".join(f"{v} {n}" for v, n in f["variants"].most_common())
                lines.append(f"  {kind} {'+'.join(why)}: {f['count']} trials ({vs})\n"
                             f"    first: --replay {kind}:{f['first']['seed']} ({f['first']['variant']}): "
                             f"{f['first']['detail']}")
        return "\n".join(lines)

    def json(self):
        return {"by_kind": self.by_kind, "exceptions": {k: dict(v) for k, v in self.exceptions.items()},
                "txn_deaths_by_step": {k: dict(v) for k, v in self.steps.items()},
                "seconds": dict(self.seconds),
                "families": [{"kind": k, "fail": list(why), "count": f["count"],
                              "variants": dict(f["variants"]), "first": f["first"]}
                             for (k, why), f in self.families.items()],
                "failures": self.failures}


def _step_order(step):
    order = ("recorded", "written", "offsets-sent", "deciding", "decided", "marker", "offsets", "completed", "acked")
    head = step.split("-")[0] if step.startswith("marker-") else step
    return (order.index(head) if head in order else len(order), step)


def _detail(res):
    bits = []
    if res.disagree:
        bits.append(res.disagree[0])
    bits += res.notes[:2]
    if res.exceptions:
        bits.append(", ".join(res.exceptions))
    if "silent" in res.fail:
        bits.append(f"{res.damaged} damaged records gone, no warning/CorruptLogError/quarantine")
    if "checker" in res.fail:
        bits.append("checker after repair: " + "; ".join(m for s, m in res.checker_after if s == "error")[:200])
    return " | ".join(bits)[:400]


def run(kinds=KINDS, trials=100, seed=0, workdir=None, progress=None, keep=False):
    """Run `trials` trials spread over `kinds` (round robin); return a Tally."""
    tally = Tally()
    own = workdir is None
    workdir = workdir or tempfile.mkdtemp(prefix="crash-trials-")
    server = None
    try:
        for i in range(trials):
            kind = kinds[i % len(kinds)]
            ts = trial_seed(seed, kind, i // len(kinds))
            t0 = time.perf_counter()
            box = [server]
            res, path = one_trial(kind, ts, workdir, box)
            server = box[0]
            tally.add(res, time.perf_counter() - t0)
            if not keep:
                _cleanup(workdir, kind, ts, path)
            if progress and (i + 1) % progress == 0:
                print(f"  {i + 1}/{trials} trials", file=sys.stderr, flush=True)
    finally:
        if server is not None:
            server.close()
        if own and not keep:
            shutil.rmtree(workdir, ignore_errors=True)
    return tally


def one_trial(kind, ts, workdir, server_box):
    if kind in DAMAGE_KINDS:
        return damage_trial(kind, ts, workdir)
    if server_box[0] is None:
        server_box[0] = ForkServer()
    if kind in TXN_KINDS:
        from stress import txn_trials
        return txn_trials.trial(kind, ts, workdir, server_box[0])
    return process_trial(kind, ts, workdir, server_box[0])


def _cleanup(workdir, kind, ts, path):
    shutil.rmtree(path, ignore_errors=True)
    for n in os.listdir(workdir):
        if n.startswith(f"{kind}-{ts}."):
            f = os.path.join(workdir, n)
            shutil.rmtree(f) if os.path.isdir(f) else os.unlink(f)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seed", type=int, default=0, help="master seed (default 0)")
    ap.add_argument("--trials", type=int, default=500, help="number of trials (default 500)")
    ap.add_argument("--kinds", default=",".join(KINDS),
                    help=f"comma separated subset of {','.join(ALL_KINDS)} (default {','.join(KINDS)})")
    ap.add_argument("--json", metavar="FILE", help="write tallies and failures as JSON")
    ap.add_argument("--dir", help="work directory (default: a temporary one)")
    ap.add_argument("--keep", action="store_true", help="keep every trial's directory")
    ap.add_argument("--replay", metavar="KIND:SEED", help="run one trial and print everything it found")
    ap.add_argument("--progress", type=int, default=0, metavar="N", help="print progress every N trials")
    a = ap.parse_args(argv)
    if a.replay:
        kind, ts = a.replay.split(":")
        workdir = a.dir or tempfile.mkdtemp(prefix="crash-trial-")
        box = [None]
        try:
            res, path = one_trial(kind, int(ts), workdir, box)
        finally:
            if box[0] is not None:
                box[0].close()
        print(json.dumps(res.json(), indent=1, default=str))
        print(f"trial directory: {path}" if a.keep else "", end="")
        if not a.keep:
            shutil.rmtree(workdir, ignore_errors=True)
        return 1 if res.fail else 0
    kinds = tuple(k.strip() for k in a.kinds.split(",") if k.strip())
    bad = [k for k in kinds if k not in ALL_KINDS]
    if bad:
        ap.error(f"unknown kind(s) {bad}; the kinds are {', '.join(ALL_KINDS)}")
    t0 = time.perf_counter()
    tally = run(kinds, a.trials, a.seed, a.dir, a.progress, a.keep)
    el = time.perf_counter() - t0
    print(f"{a.trials} trials, seed {a.seed}, kinds {','.join(kinds)}: {el:.1f} s, "
          f"{a.trials / el:.1f} trials/s")
    print(tally.table())
    if a.json:
        with open(a.json, "w") as f:
            json.dump({"seed": a.seed, "trials": a.trials, "kinds": kinds, "seconds": el,
                       **tally.json()}, f, indent=1)
    return 1 if tally.failures else 0


if __name__ == "__main__":
    sys.exit(main())
