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

Only JOINED members acquire locks, lead, and commit. Entering JOINED forgets which
assignment file was applied (`_applied_key`), so the current one is applied again. Work for
the consumer's thread is signalled apart from the state (`Ownership.pending`, plus a byte
in the wake file), since both JOINED and LEFT produce it.

How it works
- Liveness: a member holds LOCK_EX on `members/<stem>.lock` for its lifetime. The kernel
  drops a dead process's flocks at once, and closing a descriptor opened for writing is an
  inotify IN_CLOSE_WRITE event, so the leader (which watches `members/`) learns of a death
  within milliseconds, then proves it with LOCK_NB before acting. No heartbeats.
- Leadership: every member keeps `leader.lock` open and tries LOCK_NB whenever the group
  directory changes (the leader's death is an IN_CLOSE_WRITE there) and at least every
  0.25 s; the first to get it leads until it leaves or dies. Only the leader writes
  `assignment.json`, and only while holding the lock, so there is one writer at a time.
- Assignment: the leader scans members and topic metadata (on changes in `members/`,
  `topics/`, the subscribed topics' directories, and every 0.25 s), and publishes a new
  generation when the members, a member's (resolved) subscription, a subscribed topic's
  partition count, or the chosen assignor changed. The assignor is the first of the
  leader's `partition_assignment_strategy` list that every member lists (else the leader's
  first); its protocol ("eager" | "cooperative") is recorded with the generation.
- Ownership: a member consumes a partition only while it holds `owners/<t>/<p>.lock`.
  A member's background thread acquires the locks of its assigned partitions with LOCK_NB
  (retrying on inotify events in `owners/<t>/` and on a short backoff), and hands them to
  the consumer thread, which takes them into the consumer's assignment inside `poll`. A
  partition leaves the consumer's assignment (after `on_partitions_revoked`, and after an
  auto-commit when enabled) before its lock is released: at no instant do two live members
  consume it. Eager protocol: at every new generation the consumer revokes all its
  partitions, then takes its new ones. Cooperative (KIP-429): only partitions that move
  away are revoked; the rest are consumed straight through the rebalance. The new owner
  does not wait for a second rebalance: it waits for the old owner's lock.
- Fencing: `commit` writes each partition's offset while holding its ownership lock (under
  the membership's mutex, so the background thread cannot release it meanwhile), with the
  member id and generation in the offset metadata. A member that does not hold the lock
  gets `CommitFailedError` and nothing is written. Nobody takes a lock from a live holder
  (flock cannot be stolen), so a stale member can never move a committed offset.
- Stuck members: a member whose consumer has not called `poll` for `max_poll_interval_ms`
  leaves the group on its own (its background thread releases every lock and, for a
  dynamic member, deletes its files). Its commits then fail; its next `poll` calls
  `on_partitions_lost` and joins again (as a new member, or the same static one).
- Static membership: the member id is the `group_instance_id`; its files survive `close`
  and death. The leader keeps a departed static member in the group, with its partitions
  unassigned to anyone else, for its `session_timeout_ms` (counted from when this leader
  first saw it gone); if it comes back within that time it takes its partitions back with
  no new generation, so the others see nothing. Two live members with one instance id are
  refused (`IllegalStateError` at `subscribe`): a flock cannot fence the older one.
- Waking the consumer: the background thread sets a flag and writes a byte to
  `wake/<stem>/w`, a directory the consumer's own DirWatcher watches, so a `poll` that
  sleeps for records wakes at once to take its new partitions or revoke old ones.
- Callbacks (`on_partitions_revoked/assigned/lost`) run inside `poll` (or `close`) on the
  thread calling it, as Kafka's ConsumerRebalanceListener. `on_partitions_assigned` gets
  partitions as their locks are acquired (so possibly in several calls per generation,
  never with an empty list). A listener without `on_partitions_lost` gets
  `on_partitions_revoked` instead (as Kafka's default). An exception from a callback is
  raised from `poll` after the rebalance step it belongs to is complete.

Limits (stated, not hidden): a process that is alive but frozen (SIGSTOP, a debugger) keeps
its locks, so its partitions do not move and, if it leads, no rebalance happens, until it
runs again or dies; `max_poll_interval_ms` is enforced by the member's own thread, so it needs
the process to run. `session_timeout_ms` matters only for static members. Processes must
share one kernel (one machine, a local file system).
"""
from __future__ import annotations

import enum
import inspect
import json
import logging
import os
import shutil
import socket
import threading
import time
import uuid

from eventlog._os.clock import SYSTEM_CLOCK
from eventlog._os.fs import fork_generation, release_in_forked_child
from eventlog.errors import (CommitFailedError, ForkedProcessError, IllegalStateError,
                             InvalidTypeError, KafkaTimeoutError)
from eventlog.groups import files as gf
from eventlog.groups.assignors import (COOPERATIVE, EAGER, assignor_name, assignor_protocol,
                                       resolve_assignors)
from eventlog.groups.leader import TICK_S, Leader
from eventlog.groups.ownership import Ownership
from eventlog.groups.rebalance import Rebalance
from eventlog.groups.subscription import Subscription, TopicMeta, tps_from
from eventlog._os.wakeup import DirWatcher
from eventlog.offsets import Committer

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
_STATIC_RETRY_S = 1.0       # a restarting static member waits this long for a reaper/prober
_GROUP_LOCK_WAIT_S = 30.0   # a joiner waits this long for an admin reset/delete to finish


def coordinator_factory(store, clock=SYSTEM_CLOCK):
    """The factory a Log gives its consumers: `factory(control, **subscription)` makes the
    `Membership` of the consumer behind `control`, with the Log's offset `store` (for the
    group directory) and `clock` (for max_poll_interval_ms and session timeouts)."""
    def make(control, **kwargs):
        return Membership(control, group_store=store, clock=clock, **kwargs)
    return make


class Membership:
    """A consumer's membership of its group (see the module docstring). Methods other than
    `close` are called on the consumer's thread."""

    def __init__(self, control, *, group_store, clock=SYSTEM_CLOCK, topics=None, pattern=None,
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

        self._key = None                  # member id
        self._stem = None
        self._member_fd = -1
        self._group_fd = -1
        self._leader_fd = -1
        self._leader = None               # a Leader while this member holds leader.lock
        self._wake_fd = -1
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
            gf.write_json(self._paths.member_json(self._stem), self._member_doc())

    def commit(self, offsets, topic_ids=None, metadata=None):
        """Write `offsets` ({tp: next offset}) while holding each partition's ownership lock;
        CommitFailedError (and nothing written) unless this member owns all of them.
        `topic_ids` ({topic: id}) names the topic incarnations the offsets belong to;
        `metadata` ({tp: str or None}) is the application's, stored beside the member id and
        generation that fence the commit."""
        self._check_fork()
        own = self._own
        with own.mu:
            if self._state in (S.STOPPING, S.CLOSED):
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
        one = getattr(store, "commit_partition", None)
        with_ids = self._control.store_accepts_topic_ids
        if one is not None and not _takes(one, "committer"):
            one = None
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
        fds = self._own.drop_in_forked_child()
        for name in ("_leader_fd", "_wake_fd", "_member_fd", "_group_fd"):
            fd = getattr(self, name)
            setattr(self, name, -1)
            fds.append(fd)
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
        """Become a member: group.lock (shared), member lock, wake dir, member file."""
        p = self._paths
        self._group_fd = self._lock_group_shared()
        # after the lock: a delete() that ran just before may have removed the directory
        self._fstore.ensure_group_dir(self._group)
        for d in (p.members, p.owners, p.wake):
            os.makedirs(d, exist_ok=True)
        if self._instance_id is not None:
            key = self._instance_id
            stem = gf.member_stem(key)
            fd = self._lock_static(p.member_lock(stem), key)
        else:
            while True:
                key = f"{self._client_id}-{uuid.uuid4().hex}"
                stem = gf.member_stem(key)
                try:
                    fd = gf.open_rw(p.member_lock(stem), exclusive=True)
                except FileExistsError:
                    continue
                # a reaper may take a lock file with no .json for a dead member's and delete
                # it between our create and our lock: then start again with a new id
                if gf.try_lock(fd) and gf.lock_fresh(fd, p.member_lock(stem)):
                    break
                os.close(fd)
        self._key, self._stem, self._member_fd = key, stem, fd
        wake_dir = p.wake_dir(stem)
        os.makedirs(wake_dir, exist_ok=True)
        self._wake_fd = gf.open_rw(os.path.join(wake_dir, "w"))
        self._wake_dir = wake_dir
        self._control.watch_wakeups(wake_dir)
        self._joined_ms = self._clock.now_ms()
        gf.write_json(p.member_json(stem), self._member_doc())
        self._last_poll = self._clock.monotonic()
        for d in (p.dir, p.members):
            self._bgw.watch(d)
        if self._leader_fd < 0:
            self._leader_fd = gf.open_rw(p.leader_lock)

    def _lock_group_shared(self):
        path = self._paths.group_lock
        deadline = self._clock.monotonic() + _GROUP_LOCK_WAIT_S
        delay = 0.001
        while True:
            try:
                fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            except FileNotFoundError:       # no group directory (yet, or deleted just now)
                self._fstore.ensure_group_dir(self._group)
                continue
            if gf.try_lock(fd, shared=True):
                if gf.lock_fresh(fd, path):
                    return fd
            os.close(fd)
            if self._clock.monotonic() > deadline:
                raise KafkaTimeoutError(
                    f"could not join group {self._group!r}: an admin operation (reset_offsets or "
                    f"delete) has held {path} for {_GROUP_LOCK_WAIT_S:.0f} s")
            self._clock.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _lock_static(self, path, key):
        deadline = self._clock.monotonic() + _STATIC_RETRY_S
        while True:
            fd = gf.open_rw(path)
            if gf.try_lock(fd):
                if gf.lock_fresh(fd, path):
                    return fd
            os.close(fd)
            if self._clock.monotonic() > deadline:
                doc = gf.read_member(self._paths, gf.member_stem(key)) or {}
                raise IllegalStateError(
                    f"group_instance_id {key!r} is in use by a live member of group "
                    f"{self._group!r} (pid {doc.get('pid')} on {doc.get('host')}): instance ids "
                    f"must be unique among running consumers; stop that one first")
            self._clock.sleep(0.005)

    def _release_all(self, delete_files):
        """Give up every lock (caller holds the mutex, or the object is not yet shared)."""
        self._own.release_all()
        if self._leader is not None:
            self._leader.unwatch()
        if self._leader_fd >= 0:
            if self._leader is not None:
                try:
                    os.ftruncate(self._leader_fd, 0)
                except OSError:
                    pass
            os.close(self._leader_fd)
            self._leader_fd = -1
        self._leader = None
        if self._wake_fd >= 0:
            os.close(self._wake_fd)
            self._wake_fd = -1
        if self._member_fd >= 0:
            p = self._paths
            if delete_files:
                # .json first, .lock last and while still holding it (see groups.files)
                try:
                    os.unlink(p.member_json(self._stem))
                except FileNotFoundError:
                    pass
                shutil.rmtree(p.wake_dir(self._stem), ignore_errors=True)
                try:
                    os.unlink(p.member_lock(self._stem))
                except FileNotFoundError:
                    pass
            os.close(self._member_fd)
            self._member_fd = -1
        if self._group_fd >= 0:
            os.close(self._group_fd)
            self._group_fd = -1

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
        """Write to the consumer's wake file (the caller set `pending` under the mutex)."""
        fd = self._wake_fd
        if fd >= 0:
            try:
                os.pwrite(fd, b"w", 0)
            except OSError:
                pass

    def _touch(self, now):
        """Record the poll time in the member lock file's mtime (IN_ATTRIB wakes nobody)."""
        self._last_touch = now
        fd = self._member_fd
        if fd >= 0:
            try:
                os.utime(fd)
            except OSError:
                pass

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
        if self._leader is None and self._leader_fd >= 0 and gf.try_lock(self._leader_fd):
            gf.set_content(self._leader_fd, json.dumps({"member_id": self._key,
                                                        "pid": os.getpid()}).encode())
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
            doc = gf.read_json(path)
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


def _takes(fn, name):
    try:
        params = inspect.signature(fn).parameters.values()
    except (TypeError, ValueError):
        return False
    return any(p.name == name or p.kind is p.VAR_KEYWORD for p in params)
