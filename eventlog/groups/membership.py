"""Consumer groups among local processes: membership, leadership, assignment, ownership and
fenced commits, coordinated only through files and flocks (no broker, no heartbeats).

This module owns `Membership`: one consumer's life in its group (joining, the background
thread, acquiring and releasing ownership locks, fenced commits, leaving). The rest of the
group layer: `files` (the group files and lock primitives), `subscription` (subscriptions,
topic metadata), `ownership` (the state both of a member's threads share), `leader` (the
leader's scan and publishing), `rebalance` (the consumer thread's part of a rebalance, the
listener), `assignors`, and `admin` (`ConsumerGroup`, the admin view, `log.group(id)`).
A `Membership` is made by the coordinator factory the Log gives its consumers
(`Consumer.subscribe` calls it with the consumer's `AssignmentControl`); it drives the
consumer only through that control.

States (the one table of them; `_to` refuses any transition not listed here)

    state     event                                          next      effect
    JOINING   join succeeded (constructor)                   JOINED    background thread starts
    JOINED    poll() silent > max_poll_interval_ms (bg)      LEFT      every lock released, target
                                                                       emptied, consumer woken
    LEFT      the next poll: lost reported, join again       JOINED    generation -1; the
                                                                       assignment is applied anew
    LEFT      that join fails (KafkaTimeoutError, ...)       LEFT      the next poll tries again
    JOINED    close() (any thread)                           STOPPING  background thread stops
    LEFT      close()                                        STOPPING
    STOPPING  thread joined, revoked, locks released         CLOSED
    any       the process forked (in the child)              CLOSED    the child closes its copies
                                                                       of the lock descriptors

Only JOINED members acquire locks and lead; JOINED and STOPPING members commit (close()
calls on_partitions_revoked while the locks are still held, and a listener commits there). Entering JOINED forgets which
assignment file was applied (`_applied_key`), so the current one is applied again. Work for
the consumer's thread is signalled apart from the state (`Ownership.pending`, plus a byte
in the wake file), since both JOINED and LEFT produce it.

How the group layer works (liveness, leadership, assignment, ownership, fencing, stuck
and static members, callbacks, limits): see the package docstring, `eventlog.groups`.
"""
from __future__ import annotations

import enum
import json
import logging
import os
import socket
import threading
import time

from eventlog._os.clock import SYSTEM
from eventlog._os.fs import fork_generation, release_in_forked_child
from eventlog.errors import CommitFailedError, ForkedProcessError, IllegalStateError, InvalidTypeError
from eventlog._os.fs import read_json_or_none
from eventlog.groups import files as gf
from eventlog.groups.assignors import (COOPERATIVE, EAGER, assignor_name, assignor_protocol,
                                       resolve_assignors)
from eventlog.groups.leader import TICK_S, Leader
from eventlog.groups.ownership import Ownership
from eventlog.groups.rebalance import Rebalance
from eventlog.groups.seat import Seat
from eventlog.groups.subscription import Subscription, TopicMeta, tps_from
from eventlog._os.wakeup import DirWatcher
from eventlog.offsets import Committer, accepts_committer

__all__ = ["Membership", "MemberState", "TRANSITIONS", "coordinator_factory"]

log = logging.getLogger("eventlog.group")


class MemberState(enum.Enum):
    JOINING = "joining"
    JOINED = "joined"
    LEFT = "left"
    STOPPING = "stopping"
    CLOSED = "closed"


S = MemberState
#: the transitions of the table in the module docstring: state -> the states it may go to
TRANSITIONS = {
    S.JOINING: {S.JOINED, S.CLOSED},
    S.JOINED: {S.LEFT, S.STOPPING, S.CLOSED},
    S.LEFT: {S.JOINED, S.LEFT, S.STOPPING, S.CLOSED},
    S.STOPPING: {S.CLOSED},
    S.CLOSED: {S.CLOSED},
}

_NOT_APPLIED = object()     # `_applied_key` after entering JOINED: apply the assignment again
_ACQUIRE_MIN_S = 0.005      # retry backoff for an ownership lock someone still holds
_ACQUIRE_MAX_S = 0.1
_TOUCH_S = 1.0              # how often a polling member refreshes its last-poll time


def coordinator_factory(store, clock=SYSTEM):
    """The factory a Log gives its consumers: `factory(control, **subscription)` makes the
    `Membership` of the consumer behind `control`, with the Log's offset `store` (for the
    group directory) and `clock` (for max_poll_interval_ms and session timeouts)."""
    def make(control, **kwargs):
        return Membership(control, group_store=store, clock=clock, **kwargs)
    return make


class Membership:
    """A consumer's membership of its group (see the module docstring). Methods other than
    `close` are called on the consumer's thread."""

    def __init__(self, control, *, group_store, clock=SYSTEM, topics=None, pattern=None,
                 listener=None, partition_assignment_strategy="cooperative-sticky",
                 max_poll_interval_ms=300_000, group_instance_id=None, session_timeout_ms=45_000,
                 client_id=None):
        self._sub = Subscription(topics, pattern)
        if group_instance_id is not None and (not isinstance(group_instance_id, str) or not group_instance_id):
            raise InvalidTypeError(f"group_instance_id must be a non-empty str or None, got {group_instance_id!r}")
        if client_id is not None and not isinstance(client_id, str):
            raise InvalidTypeError(f"client_id must be a str or None, got {client_id!r}")
        _check_listener(listener)
        self._assignors = resolve_assignors(partition_assignment_strategy)
        self._control = control
        self._clock = clock
        self._group = control.group_id
        self._store = control.offset_store
        self._instance_id = group_instance_id
        self._client_id = client_id if client_id is not None else "consumer"
        self._max_poll_s = max_poll_interval_ms / 1000.0
        self._max_poll_ms = max_poll_interval_ms
        self._session_timeout_ms = session_timeout_ms
        self._fstore = group_store
        self._paths = gf.GroupPaths(control.log_path, self._group, group_store.group_dir(self._group))
        self._meta = TopicMeta(self._paths)
        self._pid = os.getpid()
        self._fork = fork_generation()

        self._own = Ownership()           # guarded by self._own.mu, as is the state
        self._state = S.JOINING
        self._left = None                 # why we left the group (LEFT), or None
        self._poll_timed_out = False      # LEFT because max_poll_interval_ms was exceeded
        self._max_poll_exceeded = 0       # how many times that happened

        self._seat = Seat(self._paths, self._group, group_store)   # member files and locks
        self._key = None                  # member id
        self._stem = None
        self._leader = None               # a Leader while this member holds leader.lock
        self._wake_dir = None
        self._last_poll = clock.monotonic()
        self._last_touch = float("-inf")
        self._assign_key = None           # stat of assignment.json last read
        self._assign_doc = None
        self._applied_key = _NOT_APPLIED  # stat of the assignment whose target is applied
        self._acquire_delay = _ACQUIRE_MIN_S
        self._watched_owner_topics = set()
        self._bg_error = None
        self._rebalance = Rebalance(self, self._own, control, listener, clock,
                                    budget_s=min(1.0, self._max_poll_s / 3))

        self._bgw = DirWatcher()
        release_in_forked_child(self)     # before any lock is taken
        try:
            self._join()
            self._to(S.JOINED)
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"eventlog-group[{self._group}]")
            self._thread.start()
        except BaseException:
            self._release_all(delete_files=True)
            self._bgw.close()
            raise

    def __repr__(self):
        return (f"<Membership group={self._group!r} member={self._key!r} state={self._state.value} "
                f"gen={self._own.generation} owned={len(self._own.owned)}"
                f"{' leader' if self._leader is not None else ''}>")

    def _to(self, new):
        """Move to state `new` (see the table); the caller holds `_own.mu` or is alone."""
        if new not in TRANSITIONS[self._state]:
            raise AssertionError(f"membership of {self._group!r}: no transition {self._state} -> {new}")
        if new is S.JOINED:
            self._applied_key = _NOT_APPLIED
        self._state = new

    # -- what the consumer (and the rebalance) call ---------------------------------------------

    @property
    def member_id(self):
        return self._key

    @property
    def generation(self):
        return self._own.generation

    @property
    def state(self):
        """The `MemberState` now."""
        return self._state

    @property
    def protocol(self):
        """The rebalance protocol of the current generation ("eager" | "cooperative")."""
        return self._own.protocol

    @property
    def left_reason(self):
        """Why this member is out of its group (LEFT), or None while it is a member."""
        return self._left

    @property
    def poll_timed_out(self):
        """True while this member is out of the group because poll() was not called for
        max_poll_interval_ms (until the next poll joins again)."""
        return self._poll_timed_out

    @property
    def max_poll_exceeded_count(self):
        """How many times this member left its group for exceeding max_poll_interval_ms."""
        return self._max_poll_exceeded

    def topics(self):
        """The topics this member is subscribed to (for a pattern: those matching now)."""
        if self._sub.topics is not None:
            return list(self._sub.topics)
        return [t for t in self._meta.all_topics() if self._sub.matches(t)]

    def poll_interval(self):
        """Longest time `poll` may sleep before calling `on_poll` again: 0 when there is
        rebalance work for the consumer thread; otherwise well within max_poll_interval_ms,
        so that a consumer waiting inside poll() is never taken for a stalled one."""
        return 0.0 if self._own.pending else min(1.0, self._max_poll_s / 3)

    def mark_polled(self):
        """Record that the consumer's thread is polling now."""
        self._last_poll = self._clock.monotonic()

    def on_poll(self):
        """Called by `poll` at every loop iteration, on the consumer's thread."""
        now = self._clock.monotonic()
        self._last_poll = now
        if now - self._last_touch >= _TOUCH_S:
            self._touch(now)
        if self._own.pending:
            self._check_fork()
            self._rebalance.run()

    def can_update_subscription(self):
        """True if a new subscription can be taken in place (cooperative protocol, joined):
        only partitions that move are revoked, the new ones are assigned."""
        with self._own.mu:
            return (self._state is S.JOINED and self._own.protocol == COOPERATIVE
                    and assignor_protocol(self._assignors[0]) == COOPERATIVE)

    def update_subscription(self, topics=None, pattern=None, listener=None):
        """Change what this member subscribes to without leaving the group (KIP-429): the
        member file is rewritten, the leader publishes a new generation, and the cooperative
        protocol revokes only the partitions of topics no longer subscribed."""
        sub = Subscription(topics, pattern)
        _check_listener(listener)
        with self._own.mu:
            if self._state is not S.JOINED:
                raise IllegalStateError(f"update_subscription: the member is {self._state.value}")
            self._sub = sub
            self._rebalance.set_listener(listener)
            self._applied_key = _NOT_APPLIED    # re-filter the target by the new subscription
            self._seat.write_doc(self._member_doc())

    def commit(self, offsets, topic_ids=None, metadata=None):
        """Write `offsets` ({tp: next offset}) while holding each partition's ownership lock;
        CommitFailedError (and nothing written) unless this member owns all of them.
        `topic_ids` ({topic: id}) names the topic incarnations the offsets belong to;
        `metadata` ({tp: str or None}) is the application's, stored beside the member id and
        generation that fence the commit."""
        self._check_fork()
        own = self._own
        with own.mu:
            # STOPPING still holds its locks: close() runs on_partitions_revoked, which may commit
            if self._state is S.CLOSED:
                raise CommitFailedError(f"commit refused: this consumer left group {self._group!r} (closed)")
            if self._left is not None:
                raise CommitFailedError(
                    f"commit refused: member {self._key!r} left group {self._group!r} because "
                    f"{self._left}; its partitions may have been given to another member. The "
                    f"next poll() rejoins the group; records since the last commit will be "
                    f"processed again")
            missing = sorted(tp for tp in offsets if tp not in own.owned)
            if missing:
                raise CommitFailedError(
                    f"commit refused: member {self._key!r} of group {self._group!r} does not own "
                    f"{', '.join(map(str, missing))} (generation {own.generation}); the group "
                    f"rebalanced and another member may own them now")
            self._write_commit(offsets, topic_ids or {}, metadata or {})

    def _write_commit(self, offsets, ids, metadata):
        store = self._store
        committer = Committer(self._key, self._own.generation)
        one = store.commit_partition if accepts_committer(store) else None
        with_ids = self._control.store_accepts_topic_ids
        fence = json.dumps({"member_id": self._key, "generation": self._own.generation},
                           separators=(",", ":"))
        for tp, off in offsets.items():
            tid = ids.get(tp.topic) if with_ids else None
            if one is not None:
                kw = {} if tid is None else {"topic_id": tid}
                one(self._group, tp, off, metadata.get(tp, ""), committer=committer, **kw)
            else:    # a store without committer records: the fencing data is the metadata
                md = {tp: metadata.get(tp, fence)}
                if tid is None:
                    store.commit(self._group, {tp: off}, md)
                else:
                    store.commit(self._group, {tp: off}, md, topic_ids={tp.topic: tid})

    def check(self):
        """Assert the membership's invariants, on the consumer's thread: those of
        `Ownership.check`, and that the consumer's actual assignment is among the partitions
        whose locks this member holds. (A member that LEFT released its locks on its
        background thread; its consumer keeps the partitions until its next poll reports
        them lost: that state is the documented cost of a stalled consumer, not checked.)"""
        with self._own.mu:
            self._own.check(joined=self._state is S.JOINED)
            if self._state is S.JOINED:
                extra = set(self._control.assignment()) - set(self._own.owned)
                assert not extra, f"the consumer reads {sorted(extra)} without owning them"

    def close(self):
        """Leave the group: stop the background thread, revoke (callback) and release every
        partition, give up leadership; a dynamic member deletes its files, a static one keeps
        them (the group holds its partitions for session_timeout_ms)."""
        own = self._own
        with own.mu:
            if self._state in (S.STOPPING, S.CLOSED):
                return
            self._to(S.STOPPING)
        self._bgw.close()
        if threading.current_thread() is not self._thread:
            self._thread.join()
        if self._fork == fork_generation():
            with own.mu:
                revoked = sorted(own.consumer_tps) if self._left is None else []
            if revoked:   # an exception is logged by the callback; close() itself does not fail
                self._rebalance.callback("on_partitions_revoked", revoked, None)
            with own.mu:
                self._to(S.CLOSED)
                own.consumer_tps = set()
                self._release_all(delete_files=self._instance_id is None)
            try:
                self._control.assign([])
            except Exception:
                pass
            self._control.unwatch_wakeups(self._wake_dir)
        else:
            self._state = S.CLOSED

    # -- joining and leaving ------------------------------------------------------------------

    def _check_fork(self):
        if self._fork != fork_generation():
            raise ForkedProcessError(
                f"the Consumer of group {self._group!r} was subscribed in process {self._pid} and "
                f"used in forked child {os.getpid()}: its group membership belongs to the parent; "
                f"open the log in the child (eventlog.open) and create a new Consumer there")

    def _after_fork_in_child(self):
        """In a forked child (see `_os.fs`): close the child's copies of every lock descriptor,
        so that the parent's death releases its member, ownership and leader locks at once.
        Takes no lock (the background thread may have held the mutex at the fork)."""
        fds = self._own.drop_in_forked_child() + self._seat.forget_fds()
        self._leader = None
        self._state = S.CLOSED   # nothing of it is this process's: close() does nothing more
        for fd in fds:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass

    def _member_doc(self):
        return {
            "format": gf.FORMAT, "member_id": self._key, "group_instance_id": self._instance_id,
            "client_id": self._client_id, "host": socket.gethostname(), "pid": os.getpid(),
            "topics": self._sub.topics, "pattern": self._sub.pattern,
            "assignors": [assignor_name(a) for a in self._assignors],
            "session_timeout_ms": self._session_timeout_ms,
            "max_poll_interval_ms": self._max_poll_ms, "joined_ms": self._joined_ms,
        }

    def _join(self):
        """Become a member (see `Seat.take`), write the member file, watch the group."""
        self._key = self._seat.take(self._instance_id, self._client_id)
        self._stem = self._seat.stem
        self._wake_dir = self._seat.wake_dir
        self._control.watch_wakeups(self._wake_dir)
        self._joined_ms = self._clock.now_ms()
        self._seat.write_doc(self._member_doc())
        self._last_poll = self._clock.monotonic()
        for d in (self._paths.dir, self._paths.members):
            self._bgw.watch(d)

    def _release_all(self, delete_files):
        """Give up every lock (caller holds the mutex, or the object is not yet shared)."""
        self._own.release_all()
        if self._leader is not None:
            self._leader.unwatch()
        self._leader = None
        self._seat.release(delete_files)

    def _leave(self, reason):
        """The background thread leaves the group (poll timeout). Caller holds the mutex."""
        log.warning("member %s leaves group %r: %s", self._key, self._group, reason)
        self._release_all(delete_files=self._instance_id is None)
        self._to(S.LEFT)
        self._left = reason
        self._poll_timed_out = True
        self._max_poll_exceeded += 1
        self._own.target = frozenset()
        self._own.pending = True

    def rejoin(self):
        """Join again after leaving (LEFT -> JOINED), on the consumer's thread."""
        own = self._own
        with own.mu:
            try:
                self._join()  # its member file wakes our background thread (members/ is watched)
            except BaseException:
                # still out of the group: undo the partial join; the next poll tries again
                self._release_all(delete_files=self._instance_id is None)
                self._to(S.LEFT)
                own.pending = True
                raise
            self._to(S.JOINED)
            self._left = None
            self._poll_timed_out = False
            own.consumer_gen = None
            own.generation = -1
            own.pending = True

    def _wake_consumer(self):
        """Wake the consumer's poll (the caller set `pending` under the mutex)."""
        self._seat.wake()

    def _touch(self, now):
        """Record the poll time in the member lock file's mtime (IN_ATTRIB wakes nobody)."""
        self._last_touch = now
        self._seat.touch()

    # -- the background thread -----------------------------------------------------------------

    def _stopping(self):
        return self._state in (S.STOPPING, S.CLOSED)

    def _run(self):
        delay = 0.0
        while not self._stopping():
            try:
                delay = self._step()
                self._bg_error = None
            except Exception as e:  # keep the member alive; the cause is logged once
                if self._stopping():
                    break
                if repr(e) != repr(self._bg_error):
                    log.exception("group %r member %s: background step failed", self._group, self._key)
                self._bg_error = e
                delay = TICK_S
            if self._stopping():
                break
            try:
                self._bgw.wait(delay)
            except Exception:
                if self._stopping():
                    break
                time.sleep(TICK_S)   # an error backoff in real time, not group timing

    def _step(self):
        """One look at the group; returns how long to sleep at most before the next."""
        now = self._clock.monotonic()
        delay = TICK_S
        with self._own.mu:
            if self._state is not S.JOINED:
                return TICK_S
            idle = now - self._last_poll
            if idle > self._max_poll_s:
                self._leave(f"poll() was not called for {idle * 1000:.0f} ms "
                            f"(max_poll_interval_ms={self._max_poll_ms})")
                wake = True   # _leave set pending
            else:
                wake = False
                delay = min(delay, self._max_poll_s - idle + 0.001)
        if wake:
            self._wake_consumer()
            return TICK_S
        if self._leader is None and self._seat.try_lead():
            self._leader = Leader(group=self._group, member_id=self._key, paths=self._paths,
                                  meta=self._meta, assignors=self._assignors, watcher=self._bgw,
                                  clock=self._clock)
            log.info("member %s leads group %r", self._key, self._group)
        if self._leader is not None:
            delay = min(delay, self._leader.scan(now, self._read_assignment()))
        delay = min(delay, self._follow())
        return max(delay, 0.0)

    def _read_assignment(self):
        """assignment.json, re-read only when its stat changed (it is replaced atomically)."""
        path = self._paths.assignment
        key = gf.stat_key(path)
        if key != self._assign_key:
            doc = read_json_or_none(path)
            if isinstance(doc, dict) or key is None:   # else damaged: keep what we had
                self._assign_key = key
                self._assign_doc = doc if isinstance(doc, dict) else None
        return self._assign_doc

    def _follow(self):
        """Read the assignment; acquire my partitions' locks; release ones not consumed."""
        p = self._paths
        own = self._own
        doc = self._read_assignment()
        delay = TICK_S
        with own.mu:
            if self._state is not S.JOINED:
                return TICK_S
            if self._assign_key != self._applied_key:
                self._applied_key = self._assign_key
                gen = doc.get("generation", 0) if doc else 0
                mine = (doc.get("members") or {}).get(self._key) if doc else None
                target = frozenset(tp for tp in tps_from((mine or {}).get("partitions"))
                                   if self._sub.matches(tp.topic))
                proto = doc.get("protocol", COOPERATIVE) if doc else COOPERATIVE
                own.generation = gen if type(gen) is int else 0
                own.protocol = proto if proto in (EAGER, COOPERATIVE) else COOPERATIVE
                if target != own.target:
                    self._acquire_delay = _ACQUIRE_MIN_S
                own.target = target
                for topic in {tp.topic for tp in target} - self._watched_owner_topics:
                    d = p.owner_dir(topic)
                    os.makedirs(d, exist_ok=True)
                    self._bgw.watch(d)
                    self._watched_owner_topics.add(topic)
            target = own.target
            # locks I hold but the consumer never took, and that are no longer mine: let go
            for tp in [tp for tp in own.owned if tp not in target and tp not in own.consumer_tps]:
                own.release(tp)
            for tp in [tp for tp in own.trying if tp not in target]:
                os.close(own.trying.pop(tp))
            want = [tp for tp in sorted(target) if tp not in own.owned]
            if want:
                content = json.dumps({"member_id": self._key, "generation": own.generation,
                                      "pid": os.getpid()}).encode()
                for tp in want:
                    fd = own.trying.get(tp)
                    if fd is None:
                        os.makedirs(p.owner_dir(tp.topic), exist_ok=True)
                        fd = own.trying[tp] = gf.open_rw(p.owner_lock(tp))
                    if gf.try_lock(fd):
                        del own.trying[tp]
                        gf.set_content(fd, content)
                        own.owned[tp] = fd
                if own.trying:
                    delay = self._acquire_delay
                    self._acquire_delay = min(self._acquire_delay * 2, _ACQUIRE_MAX_S)
            # anything for the consumer thread: partitions to take, to revoke, or an eager
            # generation change to go through
            ctps = own.consumer_tps
            wake = bool(ctps - target) or any(tp in target and tp not in ctps for tp in own.owned) \
                or (own.protocol == EAGER and own.generation != own.consumer_gen and bool(ctps))
            write = wake and not own.pending
            if wake:
                own.pending = True
        if write:
            self._wake_consumer()
        return delay


def _check_listener(listener):
    if listener is not None and not any(
            callable(getattr(listener, n, None))
            for n in ("on_partitions_revoked", "on_partitions_assigned", "on_partitions_lost")):
        raise InvalidTypeError(
            f"listener must have on_partitions_revoked / on_partitions_assigned / "
            f"on_partitions_lost methods (a ConsumerRebalanceListener), got {listener!r}")
