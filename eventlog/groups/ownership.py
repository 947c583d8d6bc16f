"""The partition ownership one member holds, shared by its two threads.

`Ownership` is the state a member's background thread (which acquires and releases the
ownership locks, `Membership`) and its consumer's thread (which moves partitions into and out
of the consumer's assignment, `Rebalance`) both act on. Every attribute is read and written
only while holding `mu`.

Invariants (`check()` asserts them; the group tests call it after every step):
- `owned` and `trying` are disjoint: a partition's lock is either held or being tried.
- While the member is joined, `consumer_tps` (the partitions in the consumer's assignment)
  is a subset of `owned`: the
  consumer reads a partition only while its member holds the partition's ownership lock,
  so at no instant do two live members consume one partition.
"""
from __future__ import annotations

import os
import threading

from eventlog.groups import files as gf
from eventlog.groups.assignors import COOPERATIVE

__all__ = ["Ownership"]


class Ownership:
    """One member's ownership state (see the module docstring)."""

    def __init__(self):
        self.mu = threading.Lock()
        self.owned = {}                  # tp -> fd of its held ownership lock
        self.trying = {}                 # tp -> fd opened, lock not yet ours
        self.target = frozenset()        # my partitions in the current generation
        self.generation = -1
        self.protocol = COOPERATIVE
        self.consumer_tps = set()        # partitions in the consumer's assignment
        self.consumer_gen = None         # generation the consumer thread last applied
        self.pending = False             # rebalance work waits for the consumer thread

    def check(self, joined=True):
        """Assert the invariants (caller holds `mu`, or no other thread runs). `joined`:
        False while the member is out of its group (its locks were released on the
        background thread; the consumer's thread has yet to report the partitions lost)."""
        both = set(self.owned) & set(self.trying)
        assert not both, f"partitions both owned and being tried: {sorted(both)}"
        if not joined:
            return
        extra = self.consumer_tps - set(self.owned)
        assert not extra, f"consumer reads partitions its member does not own: {sorted(extra)}"

    def release(self, tp):
        """Release the ownership lock of `tp` if held (caller holds `mu`)."""
        fd = self.owned.pop(tp, None)
        if fd is not None:
            gf.clear_and_close(fd)

    def release_all(self):
        """Release every ownership lock and stop trying (caller holds `mu`)."""
        for fd in self.owned.values():
            gf.clear_and_close(fd)
        for fd in self.trying.values():
            os.close(fd)
        self.owned = {}
        self.trying = {}

    def drop_in_forked_child(self):
        """The descriptors of every lock, forgotten (a forked child closes its copies)."""
        fds = list(self.owned.values()) + list(self.trying.values())
        self.owned, self.trying = {}, {}
        return fds
