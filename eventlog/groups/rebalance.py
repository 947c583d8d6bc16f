"""The consumer thread's part of a rebalance, and the listener interface it calls.

`Rebalance.run` is called from `Consumer.poll` (through `Membership.on_poll`) whenever the
member's background thread left work for the consumer's thread (`Ownership.pending`): take
newly acquired partitions into the consumer's assignment, revoke partitions that moved away
(all of them at a new eager generation), or report the partitions lost after the member left
the group, then join again.

Rules kept:
- A partition leaves the consumer's assignment (after `on_partitions_revoked`, and after an
  auto-commit when enabled) before its ownership lock is released; it enters the assignment
  only after its lock is held (`Ownership.check`).
- Callbacks run on the consumer's thread. `on_partitions_assigned` is never called with an
  empty list. A listener without `on_partitions_lost` gets `on_partitions_revoked` (Kafka's
  default). An exception from a callback is raised after the rebalance step it belongs to is
  complete (the first one; later ones are logged).
- Bounded: rounds repeat only while the background thread hands over more work meanwhile (a
  lock acquired, a new generation). A group that keeps changing could keep `poll` here for
  ever, so after `MAX_ROUNDS` rounds, or once a round would start later than
  `budget_s` after the first (a third of max_poll_interval_ms, at most 1 s: the slice `poll`
  sleeps at most), `run` returns with the work still pending; the next `poll` goes on
  without sleeping (`Membership.poll_interval` is 0 while work is pending).
"""
from __future__ import annotations

import logging

from eventlog.groups.assignors import EAGER

__all__ = ["Rebalance", "ConsumerRebalanceListener", "MAX_ROUNDS"]

log = logging.getLogger("eventlog.group")

MAX_ROUNDS = 100


class ConsumerRebalanceListener:
    """Base class for `subscribe(listener=...)`, as Kafka's ConsumerRebalanceListener.

    Override what you need; the methods run inside `poll`, on the consumer's thread.
    `on_partitions_lost` defaults to `on_partitions_revoked`, as in Kafka.
    """

    def on_partitions_revoked(self, revoked):
        """Called before partitions leave this member (commit their offsets here)."""

    def on_partitions_assigned(self, assigned):
        """Called after partitions were given to this member."""

    def on_partitions_lost(self, lost):
        """Called when partitions were taken away without a chance to commit."""
        self.on_partitions_revoked(lost)

    def on_max_poll_interval_exceeded(self, reason):
        """Called first (before `on_partitions_lost`) in the `poll` after this member left
        its group because `poll` was not called for max_poll_interval_ms (librdkafka's
        _MAX_POLL_EXCEEDED); `reason` says by how much."""


class Rebalance:
    """The consumer-thread side of one membership (see the module docstring).

    `member` is the `Membership` (its public `left_reason`, `rejoin()` and `mark_polled()`),
    `own` its `Ownership`, `control` the consumer's `AssignmentControl`."""

    def __init__(self, member, own, control, listener, clock, budget_s):
        self._member = member
        self._own = own
        self._control = control
        self._listener = listener
        self._clock = clock
        self._budget_s = budget_s

    def set_listener(self, listener):
        self._listener = listener

    def callback(self, name, tps, err):
        """Call the listener's `name` (if any); returns the first error to raise."""
        l = self._listener
        if l is None:
            return err
        fn = getattr(l, name, None)
        if fn is None and name == "on_partitions_lost":
            fn = getattr(l, "on_partitions_revoked", None)
        if fn is None:
            return err
        try:
            fn(tps if name == "on_max_poll_interval_exceeded" else list(tps))
        except Exception as e:
            log.warning("%s.%s raised %r", type(l).__name__, name, e)
            return err if err is not None else e
        return err

    def _autocommit(self, tps):
        c = self._control
        if not c.enable_auto_commit:
            return
        offsets = c.positions(tps)
        if offsets:
            try:
                c.commit(offsets)
            except Exception as e:  # already lost (poll timeout): nothing more to do
                log.warning("auto-commit before revoking %s failed: %r", sorted(offsets), e)

    def run(self):
        own, member = self._own, self._member
        err = None
        start = self._clock.monotonic()
        for _ in range(MAX_ROUNDS):
            with own.mu:
                own.pending = False
                left = member.left_reason
                lost = sorted(own.consumer_tps) if left is not None else None
                if left is not None:
                    own.consumer_tps = set()
            if left is not None:
                self._control.assign([])
                if member.poll_timed_out:
                    err = self.callback("on_max_poll_interval_exceeded", left, err)
                if lost:
                    err = self.callback("on_partitions_lost", lost, err)
                member.rejoin()
                continue
            with own.mu:
                gen, target = own.generation, own.target
                if own.protocol == EAGER and gen != own.consumer_gen:
                    revoke = set(own.consumer_tps)
                else:
                    revoke = own.consumer_tps - target
            if revoke:
                self._autocommit(revoke)
                err = self.callback("on_partitions_revoked", sorted(revoke), err)
                with own.mu:
                    own.consumer_tps -= revoke
                    keep = set(own.consumer_tps)
                self._control.assign(keep)
                with own.mu:
                    for tp in revoke:
                        if tp not in own.target and tp not in own.consumer_tps:
                            own.release(tp)
            with own.mu:
                own.consumer_gen = gen
                newly = {tp for tp in own.owned if tp in own.target} - own.consumer_tps
                own.consumer_tps |= newly
                now_tps = set(own.consumer_tps)
            if newly:
                self._control.assign(now_tps)
                err = self.callback("on_partitions_assigned", sorted(newly), err)
            member.mark_polled()
            with own.mu:
                if not own.pending and member.left_reason is None:
                    break
            if self._clock.monotonic() - start > self._budget_s:
                break
        if err is not None:
            raise err
