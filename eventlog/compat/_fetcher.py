"""Fetcher: hands a facade consumer's records to the application one at a time (or in
batches), with client-visible positions.

Rules kept: the records handed out are exactly those taken from the core consumer, in order,
each once; the position a facade reports or commits for a partition is that of the next
record not yet handed out (records fetched but not handed out are given back to the consumer
by `sync`, so seeks, pauses, revocations and commits see the application's position).
"""
from __future__ import annotations

import collections

from eventlog.record import TopicPartition


class _Run:
    __slots__ = ("tp", "recs", "i")

    def __init__(self, tp, recs):
        self.tp = tp
        self.recs = recs
        self.i = 0


class Fetcher:
    """Wraps an eventlog Consumer: records are fetched in chunks and handed to the client one
    by one or a few at a time; `position(tp)` is the next record not handed out yet.

    The consumer's own positions run ahead of the client's by what is buffered here. Before
    anything that moves positions or changes the assignment, `sync()` seeks the consumer
    back to the first unhanded record of each partition and empties the buffer. Group
    rebalances happen only inside the consumer's `poll`, which is called only with an empty
    buffer: so buffered records always belong to the current assignment.
    """

    def __init__(self, consumer, chunk=500):
        self.c = consumer
        self.chunk = chunk
        self.runs = collections.deque()
        self.valid = set()      # partitions whose position is known (polled or seeked)

    def buffered(self):
        return sum(len(r.recs) - r.i for r in self.runs)

    def _first(self, tp):
        for r in self.runs:
            if r.tp == tp and r.i < len(r.recs):
                return r.recs[r.i].offset
        return None

    def position(self, tp):
        off = self._first(tp)
        if off is not None:
            return off
        return self.c.position(tp)

    def positions(self, tps=None):
        """{tp: client position} of the partitions whose position is known."""
        assigned = self.c.assignment()
        tps = assigned if tps is None else [tp for tp in tps if tp in assigned]
        out = {}
        for tp in tps:
            if tp in self.valid:
                out[tp] = self.position(tp)
        return out

    def sync(self, tps=None):
        """Give buffered records (of `tps`, default all) back to the consumer."""
        if not self.runs:
            return
        keep = collections.deque()
        done = set()
        assigned = None
        for r in self.runs:
            if r.i >= len(r.recs):
                continue
            if tps is not None and r.tp not in tps:
                keep.append(r)
                continue
            if r.tp not in done:
                done.add(r.tp)
                if assigned is None:
                    assigned = self.c.assignment()
                if r.tp in assigned:
                    self.c.seek(r.tp, r.recs[r.i].offset)
        self.runs = keep

    def forget(self, tps):
        """Drop buffered records of `tps` without seeking (they are no longer assigned)."""
        self.runs = collections.deque(r for r in self.runs if r.tp not in tps)
        self.valid -= set(tps)

    def fill(self, timeout, paused=frozenset()):
        """Fetch more records into the buffer when it is empty; return True if it has some."""
        if self.runs and any(r.i < len(r.recs) for r in self.runs):
            return True
        self.runs.clear()
        recs = self.c.poll(timeout=timeout, max_records=self.chunk)
        for tp in self.c.assignment():
            if tp not in paused:
                self.valid.add(tp)
        if not recs:
            return False
        start = 0
        tp = None
        for i, r in enumerate(recs):
            t = (r.topic, r.partition)
            if t != tp:
                if tp is not None:
                    self.runs.append(_Run(TopicPartition(*tp), recs[start:i]))
                tp, start = t, i
        self.runs.append(_Run(TopicPartition(*tp), recs[start:]))
        return True

    def take(self, n):
        """Up to `n` buffered records as [(tp, [records])] runs (in order)."""
        out = []
        while n > 0 and self.runs:
            r = self.runs[0]
            left = len(r.recs) - r.i
            if left <= 0:
                self.runs.popleft()
                continue
            k = min(left, n)
            out.append((r.tp, r.recs[r.i:r.i + k]))
            r.i += k
            n -= k
            if r.i >= len(r.recs):
                self.runs.popleft()
        return out

    def take_one(self):
        while self.runs:
            r = self.runs[0]
            if r.i < len(r.recs):
                rec = r.recs[r.i]
                r.i += 1
                if r.i >= len(r.recs):
                    self.runs.popleft()
                return rec
            self.runs.popleft()
        return None

    def unread(self, tp, rec):
        """Put back one record taken by take_one (a deserializer failed on it)."""
        self.runs.appendleft(_Run(tp, [rec]))
