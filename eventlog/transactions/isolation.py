"""read_committed reading: only records of committed transactions (and non-transactional
ones), and nothing at or past the last stable offset (LSO).

Owns: the per-partition view of transactions a reader builds from batch headers, and the
filtering of fetched records by it. Nothing is stored: the view is derived from the log.

How it works (docs/transactions.md): the reader and the view make one pass over a log
without open transactions. The view knows the batch headers up to an offset (`known`); the
reader reads on past it, but stops before a transactional batch (data or marker) it has not
seen (`FetchState.txn_limit`). Only then does a second cursor scan batch *headers* from there
(`FetchState.batches`: the partition checks each batch's CRC but decodes nothing), for as
long as a transaction is open: until every open transaction has ended, or the end of the log.
For each producer id the view keeps the offset ranges of its transactional batches not yet
ended by a marker. A commit marker forgets them; an abort marker moves them to the aborted
ranges. The LSO is the first offset of the oldest still-open transaction; with none open
there is no limit (non-transactional batches are stable as soon as they are written), and
when the reader passes the headers the view has seen, the view's cursor follows it.

Invariants:
- Whether a transactional batch is visible depends only on the first marker of its producer
  id after it, so a view started at any offset is exact for every offset from there on: no
  index of the past is needed.
- A reader never returns a record at or past the LSO: with a transaction open it sets
  `FetchState.limit` to the LSO (a batch's base offset), so the partition stops before the
  first batch at or past it; and it never passes a transactional batch the view has not
  seen (`FetchState.txn_limit`), so no transaction opens behind the view's back.
- The view's cursor moves past batches the reader read only if none of them was
  transactional (the reader stopped before any such batch), so skipping them loses nothing.
- Per batch work only: records are filtered only when a fetched run overlaps an aborted range.
"""
import bisect
import time
from operator import itemgetter

from eventlog.storage.codec import COMMIT, CONTROL, TRANSACTIONAL
from eventlog.storage.reader import FetchState

READ_COMMITTED = "read_committed"
READ_UNCOMMITTED = "read_uncommitted"
ISOLATION_LEVELS = (READ_UNCOMMITTED, READ_COMMITTED)
_SCAN_BYTES = 8 << 20
_HUGE = 1 << 62
_EXPIRE_EVERY = 1.0  # seconds between looks at the coordinator for a stuck transaction
_offset = itemgetter(2)  # Record.offset


class PartitionView:
    """The transactions of one partition as seen from offset `start` on."""

    __slots__ = ("part", "scan", "open", "aborted", "pos", "next_expire")

    def __init__(self, part, start):
        self.part = part
        self.scan = FetchState(start)
        self.scan.batches = []
        self.open = {}      # producer id -> [[first, last], ...] of its batches not yet ended
        self.aborted = []   # sorted [first, last] ranges of aborted transactional batches
        self.pos = start    # the reader's position after the last fetch through this view
        self.next_expire = 0.0  # monotonic time of the next look for a stuck transaction

    @property
    def known(self):
        """The offset up to which the view has seen every batch header."""
        scan = self.scan
        return scan.expect if scan.seg is not None else scan.offset

    def step(self):
        """Apply the headers of the next batches after `known` (about _SCAN_BYTES of them);
        False if there were none (the end of the log, for now)."""
        scan = self.scan
        part = self.part
        while True:
            batches = scan.batches
            part.fetch(scan, 1, _SCAN_BYTES)
            if batches:
                self._apply(batches)
                batches.clear()
                return True
            if scan.seg is None and scan.offset < part.start_offset:
                scan.reset(part.start_offset)  # below the start (retention): on from there
                continue
            return False

    def settle(self):
        """Scan headers while a transaction is open: until every open one has ended, or to
        the end of the log. Returns the LSO (None: no transaction open, no limit)."""
        while self.open and self.step():
            pass
        return self.lso if self.open else None

    def follow(self, st):
        """The reader `st` has read on past `known` without meeting a transactional batch
        (it stops before one the view has not seen): nothing in what it passed changes the
        view, so the view's cursor moves with it instead of reading those headers again."""
        if not self.open and st.seg is not None and st.expect > self.known:
            self.scan.move_to(st)

    def refresh(self):
        """Scan the headers written since the last call; return the LSO."""
        while self.step():
            pass
        return self.lso

    def _apply(self, batches):
        opened = self.open
        for info in batches:
            a = info.attributes
            if not a & TRANSACTIONAL:
                continue
            pid = info.producer_id
            if a & CONTROL:
                ranges = opened.pop(pid, None)
                if ranges and not a & COMMIT:
                    for r in ranges:
                        bisect.insort(self.aborted, r)
                continue
            first, last = info.base_offset, info.base_offset + info.last_offset_delta
            rs = opened.get(pid)
            if rs is None:
                opened[pid] = [[first, last]]
            elif rs[-1][1] + 1 == first:
                rs[-1][1] = last
            else:
                rs.append([first, last])

    @property
    def lso(self):
        """The last stable offset: the first offset of the oldest open transaction, or the
        end of what was scanned."""
        if self.open:
            return min(rs[0][0] for rs in self.open.values())
        return self.scan.expect if self.scan.seg is not None else self.scan.offset

    def filter(self, recs):
        """`recs` (a run of one partition's records, in offset order) without those in
        aborted ranges."""
        ab = self.aborted
        lo = _offset(recs[0])
        while ab and ab[0][1] < lo:
            ab.pop(0)
        if not ab or ab[0][0] > _offset(recs[-1]):
            return recs
        # aborted ranges are whole batches: cut slices, no per-record work
        hi = _offset(recs[-1])
        out = []
        start = 0
        for a, b in ab:
            if a > hi:
                break
            i = bisect.bisect_left(recs, a, start, key=_offset)
            j = bisect.bisect_right(recs, b, i, key=_offset)
            out += recs[start:i]
            start = j
        out += recs[start:]
        return out


class CommittedReader:
    """Fetches for a read_committed consumer: one `PartitionView` per partition. `expire`,
    if given, is called with a producer id whose open transaction holds the LSO back (at
    most once a second per partition): the coordinator aborts it if it is past its timeout
    or rolls forward its decision if its producer died while committing."""

    def __init__(self, expire=None):
        self._views = {}
        self._ends = {}     # tp -> PartitionView from the partition's start, for end_offset
        self._expire = expire

    def forget(self, tp):
        self._views.pop(tp, None)

    def end_offset(self, tp, part):
        """The end of `tp` for a read_committed reader: its LSO (what Kafka's ListOffsets
        LATEST answers under read_committed). Exact at any position: the view starts at the
        partition's start and each call scans only what was written since the last."""
        v = self._ends.get(tp)
        if v is None or v.part is not part:
            v = self._ends[tp] = PartitionView(part, part.start_offset)
        lso = v.refresh()
        v.aborted.clear()   # only the open ranges matter here
        return lso

    def view(self, tp, part, offset):
        v = self._views.get(tp)
        if v is None or v.pos != offset or v.part is not part:  # new, or the reader seeked
            v = self._views[tp] = PartitionView(part, offset)
        return v

    def last_stable_offset(self, tp, part, offset):
        return self.view(tp, part, offset).refresh()

    def fetch(self, tp, part, st, max_records, max_bytes=1 << 62):
        """Like `part.fetch(st, ...)`, returning only committed records below the LSO."""
        v = self.view(tp, part, st.offset)
        while True:
            lso = v.settle()
            st.limit = _HUGE if lso is None else lso
            st.txn_limit = v.known
            if lso is not None and st.offset >= lso and v.scan.seg is not None:
                self._maybe_expire(v)
                v.pos = st.offset
                return []
            recs = part.fetch(st, max_records, max_bytes)
            if st.pending is None and st.seg is not None and st.expect > st.offset:
                st.offset = st.expect  # past markers and aborted batches, as Kafka's position
            v.follow(st)
            v.pos = st.offset
            if recs:
                if v.aborted:
                    recs = v.filter(recs)
                if recs:
                    return recs
                continue  # a whole run of aborted records: read on rather than make poll() wait
            # nothing: the end of the log, or a transactional batch the view has not seen
            if st.seg is None or not v.step():
                if v.open:
                    self._maybe_expire(v)
                return []

    def _maybe_expire(self, v):
        if self._expire is None or not v.open:
            return
        now = time.monotonic()
        if now < v.next_expire:
            return
        v.next_expire = now + _EXPIRE_EVERY
        first = min(v.open, key=lambda pid: v.open[pid][0][0])
        self._expire(first)
