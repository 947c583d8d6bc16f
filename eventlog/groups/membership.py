"""Consumer groups among local processes: membership, leadership, assignment, ownership and
fenced commits, coordinated only through files and flocks (no broker, no heartbeats).

Owns the group layer's files in the group directory (see `_group_files` for the layout) and
two classes: `Membership` (one per subscribed `Consumer`, created by `Consumer.subscribe`)
and `ConsumerGroup` (the admin view, `log.group(id)`). Assignors live in `_assignors`.

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

import json
import logging
import os
import re
import shutil
import socket
import threading
import time
import uuid

import attrs

from eventlog._os.fs import fork_generation, release_in_forked_child, wrap_public_methods
from eventlog._os.fs import now_ms as _now_ms
from eventlog.groups import files as gf
from eventlog.groups.assignors import (COOPERATIVE, EAGER, BUILTIN, ConsumerPartitionAssignor,
                         CooperativeStickyAssignor, RangeAssignor, RoundRobinAssignor,
                         StickyAssignor, assignor_name, assignor_protocol, check_assignment,
                         resolve_assignors)
from eventlog.storage.topic import validate_topic_name
from eventlog._os.wakeup import DirWatcher
from eventlog.errors import (CommitFailedError, ForkedProcessError, GroupNotEmptyError,
                     IllegalStateError, InvalidArgumentError, InvalidTypeError,
                     KafkaTimeoutError, UnknownTopicError)
from eventlog.offsets import FileOffsetStore
from eventlog.record import TopicPartition

__all__ = ["Membership", "ConsumerGroup", "MemberDescription", "ConsumerPartitionAssignor",
           "RangeAssignor", "RoundRobinAssignor", "StickyAssignor", "CooperativeStickyAssignor",
           "list_groups"]

log = logging.getLogger("eventlog.group")

_FORCE = object()           # "apply the assignment again" marker
_TICK_S = 0.25              # background re-check period (events usually come first)
_ACQUIRE_MIN_S = 0.005      # retry backoff for an ownership lock someone still holds
_ACQUIRE_MAX_S = 0.1
_TOUCH_S = 1.0              # how often a polling member refreshes its last-poll time
_STATIC_RETRY_S = 1.0       # a restarting static member waits this long for a reaper/prober
_GROUP_LOCK_WAIT_S = 30.0   # a joiner waits this long for an admin reset/delete to finish




def _tp_list(tps):
    return [[tp.topic, tp.partition] for tp in sorted(tps)]


def _tps_from(doc):
    out = []
    for item in doc or ():
        if (isinstance(item, list) and len(item) == 2 and isinstance(item[0], str)
                and type(item[1]) is int):
            out.append(TopicPartition(item[0], item[1]))
    return out


def _store_for(log_):
    return FileOffsetStore(log_.path, fsync=(log_.fsync == "batch"))


def _paths_for(log_, group):
    store = FileOffsetStore(log_.path, fsync=False)
    return gf.GroupPaths(log_.path, group, store.group_dir(group)), store


class _Subscription:
    """What a member subscribed to: a list of topic names, or a regex over topic names."""

    def __init__(self, topics, pattern):
        if (topics is None) == (pattern is None):
            raise IllegalStateError("subscribe() takes either a list of topics or pattern=..., "
                                    "not both and not neither")
        self.topics = None
        self.pattern = None
        if topics is not None:
            if isinstance(topics, str):
                topics = [topics]
            if not hasattr(topics, "__iter__"):
                raise InvalidTypeError(f"subscribe() takes a list of topic names, got {topics!r}")
            names = []
            for t in topics:
                validate_topic_name(t)
                if t not in names:
                    names.append(t)
            if not names:
                raise InvalidArgumentError("subscribe() needs at least one topic (or unsubscribe())")
            self.topics = sorted(names)
        else:
            if isinstance(pattern, re.Pattern):
                pattern = pattern.pattern
            if not isinstance(pattern, str):
                raise InvalidTypeError(f"pattern must be a regex str or re.Pattern, got {pattern!r}")
            try:
                self._re = re.compile(pattern)
            except re.error as e:
                raise InvalidArgumentError(f"pattern {pattern!r} is not a valid regex: {e}") from None
            self.pattern = pattern

    def matches(self, topic):
        if self.topics is not None:
            return topic in self.topics
        return self._re.fullmatch(topic) is not None


_pattern_cache = {}


def _resolve_subscription(doc, all_topics):
    """A member document's subscription -> sorted topic names (patterns against all_topics())."""
    topics = doc.get("topics")
    if isinstance(topics, list):
        return sorted(t for t in topics if isinstance(t, str))
    pattern = doc.get("pattern")
    if isinstance(pattern, str):
        rx = _pattern_cache.get(pattern)
        if rx is None:
            try:
                rx = re.compile(pattern)
            except re.error:
                return []
            if len(_pattern_cache) > 256:
                _pattern_cache.clear()
            _pattern_cache[pattern] = rx
        return [t for t in all_topics() if rx.fullmatch(t)]
    return []


class _TopicMeta:
    """Partition counts read straight from `topic.json` (cached by stat), so the leader's
    thread never touches the Log's topic cache that the consumer thread uses."""

    def __init__(self, paths):
        self._paths = paths
        self._cache = {}

    def count(self, topic):
        path = self._paths.topic_json(topic)
        key = gf.stat_key(path)
        if key is None:
            self._cache.pop(topic, None)
            return None
        hit = self._cache.get(topic)
        if hit is not None and hit[0] == key:
            return hit[1]
        doc = gf.read_json(path)
        n = doc.get("partitions") if isinstance(doc, dict) else None
        if type(n) is not int or n < 1:
            return None
        self._cache[topic] = (key, n)
        return n

    def all_topics(self):
        root = self._paths.topics_dir()
        try:
            names = os.listdir(root)
        except FileNotFoundError:
            return []
        out = []
        for n in names:
            if n.startswith((".", "~")):
                continue
            try:
                validate_topic_name(n)
            except Exception:
                continue
            if os.path.exists(os.path.join(root, n, "topic.json")):
                out.append(n)
        return sorted(out)


# =============================================================================================
# Membership: one consumer's life in a group


class Membership:
    """A consumer's membership of its group (created by `Consumer.subscribe`; see the module
    docstring). Methods other than `close` are called on the consumer's thread."""

    def __init__(self, consumer, *, topics=None, pattern=None, listener=None,
                 partition_assignment_strategy="cooperative-sticky", max_poll_interval_ms=300_000,
                 group_instance_id=None, session_timeout_ms=45_000, client_id=None):
        self._sub = _Subscription(topics, pattern)
        if group_instance_id is not None and (not isinstance(group_instance_id, str) or not group_instance_id):
            raise InvalidTypeError(f"group_instance_id must be a non-empty str or None, got {group_instance_id!r}")
        if client_id is not None and not isinstance(client_id, str):
            raise InvalidTypeError(f"client_id must be a str or None, got {client_id!r}")
        if listener is not None and not any(
                callable(getattr(listener, n, None))
                for n in ("on_partitions_revoked", "on_partitions_assigned", "on_partitions_lost")):
            raise InvalidTypeError(
                f"listener must have on_partitions_revoked / on_partitions_assigned / "
                f"on_partitions_lost methods (a ConsumerRebalanceListener), got {listener!r}")
        self._assignors = resolve_assignors(partition_assignment_strategy)
        self._consumer = consumer
        self._log = consumer._log
        self._group = consumer.group_id
        self._store = consumer._store
        self._listener = listener
        self._instance_id = group_instance_id
        self._client_id = client_id if client_id is not None else "consumer"
        self._max_poll_s = max_poll_interval_ms / 1000.0
        self._max_poll_ms = max_poll_interval_ms
        self._session_timeout_ms = session_timeout_ms
        self._paths, self._fstore = _paths_for(self._log, self._group)
        self._meta = _TopicMeta(self._paths)
        self._pid = os.getpid()
        self._fork = fork_generation()

        self._mu = threading.Lock()       # guards the ownership state below
        self._owned = {}                  # tp -> fd of its held ownership lock
        self._trying = {}                 # tp -> fd opened, lock not yet ours
        self._target = frozenset()        # my partitions in the current generation
        self._generation = -1
        self._protocol = COOPERATIVE
        self._consumer_tps = set()        # partitions in the consumer's assignment
        self._consumer_gen = None         # generation the consumer thread last applied
        self._dirty = False               # something for the consumer thread to do
        self._left = None                 # why we left the group (poll timeout), or None
        self._closed = False
        self._stopping = False

        self._key = None                  # member id
        self._stem = None
        self._member_fd = -1
        self._group_fd = -1
        self._leader_fd = -1
        self._is_leader = False
        self._wake_fd = -1
        self._wake_dir = None
        self._last_poll = time.monotonic()
        self._last_touch = 0.0
        self._assign_key = None           # stat of assignment.json last read
        self._assign_doc = None
        self._applied_key = _FORCE        # stat of the assignment whose target is applied
        self._acquire_delay = _ACQUIRE_MIN_S
        self._departed = {}               # leader: static member id -> monotonic first seen gone
        self._watched_owner_topics = set()
        self._watched_topic_dirs = set()
        self._bg_error = None

        self._bgw = DirWatcher()
        release_in_forked_child(self)     # before any lock is taken
        try:
            self._join()
            self._thread = threading.Thread(target=self._run, daemon=True,
                                            name=f"eventlog-group[{self._group}]")
            self._thread.start()
        except BaseException:
            self._release_all(delete_files=True)
            self._bgw.close()
            raise

    def __repr__(self):
        return (f"<Membership group={self._group!r} member={self._key!r} gen={self._generation} "
                f"owned={len(self._owned)}{' leader' if self._is_leader else ''}>")

    # -- what the consumer calls --------------------------------------------------------------

    @property
    def member_id(self):
        return self._key

    @property
    def generation(self):
        return self._generation

    def topics(self):
        """The topics this member is subscribed to (for a pattern: those matching now)."""
        if self._sub.topics is not None:
            return list(self._sub.topics)
        return [t for t in self._meta.all_topics() if self._sub.matches(t)]

    def poll_interval(self):
        """Longest time `poll` may sleep before calling `on_poll` again: 0 when there is
        rebalance work for the consumer thread; otherwise well within max_poll_interval_ms,
        so that a consumer waiting inside poll() is never taken for a stalled one."""
        return 0.0 if self._dirty else min(1.0, self._max_poll_s / 3)

    def on_poll(self):
        """Called by `poll` at every loop iteration, on the consumer's thread."""
        now = time.monotonic()
        self._last_poll = now
        if now - self._last_touch >= _TOUCH_S:
            self._touch(now)
        if self._dirty:
            self._check_fork()
            self._handle()

    def commit(self, offsets, topic_ids=None):
        """Write `offsets` ({tp: next offset}) while holding each partition's ownership lock;
        CommitFailedError (and nothing written) unless this member owns all of them.
        `topic_ids` ({topic: id}) names the topic incarnations the offsets belong to."""
        self._check_fork()
        with self._mu:
            if self._closed:
                raise CommitFailedError(f"commit refused: this consumer left group {self._group!r} (closed)")
            if self._left is not None:
                raise CommitFailedError(
                    f"commit refused: member {self._key!r} left group {self._group!r} because "
                    f"{self._left}; its partitions may have been given to another member. The "
                    f"next poll() rejoins the group; records since the last commit will be "
                    f"processed again")
            missing = sorted(tp for tp in offsets if tp not in self._owned)
            if missing:
                raise CommitFailedError(
                    f"commit refused: member {self._key!r} of group {self._group!r} does not own "
                    f"{', '.join(map(str, missing))} (generation {self._generation}); the group "
                    f"rebalanced and another member may own them now")
            meta = json.dumps({"member_id": self._key, "generation": self._generation},
                              separators=(",", ":"))
            store = self._store
            one = getattr(store, "commit_partition", None)
            ids = topic_ids or {}
            with_ids = self._consumer._store_ids
            for tp, off in offsets.items():
                tid = ids.get(tp.topic) if with_ids else None
                if one is not None:
                    if tid is None:
                        one(self._group, tp, off, meta)
                    else:
                        one(self._group, tp, off, meta, topic_id=tid)
                elif tid is None:
                    store.commit(self._group, {tp: off}, {tp: meta})
                else:
                    store.commit(self._group, {tp: off}, {tp: meta}, topic_ids={tp.topic: tid})

    def close(self):
        """Leave the group: stop the background thread, revoke (callback) and release every
        partition, give up leadership; a dynamic member deletes its files, a static one keeps
        them (the group holds its partitions for session_timeout_ms)."""
        if self._closed:
            return
        self._stopping = True
        self._bgw.close()
        if threading.current_thread() is not self._thread:
            self._thread.join()
        if self._fork == fork_generation():
            with self._mu:
                revoked = sorted(self._consumer_tps) if self._left is None else []
            if revoked:   # an exception is logged by _callback; close() itself does not fail
                self._callback("on_partitions_revoked", revoked, None)
            with self._mu:
                self._closed = True
                self._consumer_tps = set()
                self._release_all(delete_files=self._instance_id is None)
            try:
                self._consumer._set_assignment([])
            except Exception:
                pass
            self._unwatch_wake()
        else:
            self._closed = True

    # -- joining and leaving ------------------------------------------------------------------

    def _check_fork(self):
        if self._fork != fork_generation():
            raise ForkedProcessError(
                f"the Consumer of group {self._group!r} was subscribed in process {self._pid} and "
                f"used in forked child {os.getpid()}: its group membership belongs to the parent; "
                f"open the log in the child (eventlog.open) and create a new Consumer there")

    def _after_fork_in_child(self):
        """In a forked child (see `_fs`): close the child's copies of every lock descriptor,
        so that the parent's death releases its member, ownership and leader locks at once.
        Takes no lock (the background thread may have held _mu at the fork)."""
        fds = list(self._owned.values()) + list(self._trying.values())
        self._owned, self._trying = {}, {}
        for name in ("_leader_fd", "_wake_fd", "_member_fd", "_group_fd"):
            fd = getattr(self, name)
            setattr(self, name, -1)
            fds.append(fd)
        self._is_leader = False
        self._closed = True      # nothing of it is this process's: close() does nothing more
        for fd in fds:
            if fd >= 0:
                try:
                    os.close(fd)
                except OSError:
                    pass

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
        self._watch_wake()
        doc = {
            "format": gf.FORMAT, "member_id": key, "group_instance_id": self._instance_id,
            "client_id": self._client_id, "host": socket.gethostname(), "pid": os.getpid(),
            "topics": self._sub.topics, "pattern": self._sub.pattern,
            "assignors": [assignor_name(a) for a in self._assignors],
            "session_timeout_ms": self._session_timeout_ms,
            "max_poll_interval_ms": self._max_poll_ms, "joined_ms": _now_ms(),
        }
        gf.write_json(p.member_json(stem), doc)
        self._last_poll = time.monotonic()
        for d in (p.dir, p.members):
            self._bgw.watch(d)
        if self._leader_fd < 0:
            self._leader_fd = gf.open_rw(p.leader_lock)

    def _lock_group_shared(self):
        path = self._paths.group_lock
        deadline = time.monotonic() + _GROUP_LOCK_WAIT_S
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
            if time.monotonic() > deadline:
                raise KafkaTimeoutError(
                    f"could not join group {self._group!r}: an admin operation (reset_offsets or "
                    f"delete) has held {path} for {_GROUP_LOCK_WAIT_S:.0f} s")
            time.sleep(delay)
            delay = min(delay * 2, 0.05)

    def _lock_static(self, path, key):
        deadline = time.monotonic() + _STATIC_RETRY_S
        while True:
            fd = gf.open_rw(path)
            if gf.try_lock(fd):
                if gf.lock_fresh(fd, path):
                    return fd
            os.close(fd)
            if time.monotonic() > deadline:
                doc = gf.read_member(self._paths, gf.member_stem(key)) or {}
                raise IllegalStateError(
                    f"group_instance_id {key!r} is in use by a live member of group "
                    f"{self._group!r} (pid {doc.get('pid')} on {doc.get('host')}): instance ids "
                    f"must be unique among running consumers; stop that one first")
            time.sleep(0.005)

    def _release_all(self, delete_files):
        """Give up every lock (caller holds _mu, or the object is not yet shared)."""
        for fd in self._owned.values():
            gf.clear_and_close(fd)
        for fd in self._trying.values():
            os.close(fd)
        self._owned = {}
        self._trying = {}
        if self._leader_fd >= 0:
            if self._is_leader:
                try:
                    os.ftruncate(self._leader_fd, 0)
                except OSError:
                    pass
            os.close(self._leader_fd)
            self._leader_fd = -1
        self._is_leader = False
        if self._wake_fd >= 0:
            os.close(self._wake_fd)
            self._wake_fd = -1
        if self._member_fd >= 0:
            p = self._paths
            if delete_files:
                # .json first, .lock last and while still holding it (see _group_files)
                for path in (p.member_json(self._stem),):
                    try:
                        os.unlink(path)
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
        """The background thread leaves the group (poll timeout). Caller holds _mu."""
        log.warning("member %s leaves group %r: %s", self._key, self._group, reason)
        self._release_all(delete_files=self._instance_id is None)
        self._left = reason
        self._target = frozenset()
        self._applied_key = _FORCE
        self._dirty = True

    def _rejoin(self):
        with self._mu:
            try:
                self._join()  # its member file wakes our background thread (members/ is watched)
            except BaseException:
                # still out of the group: undo the partial join; the next poll tries again
                self._release_all(delete_files=self._instance_id is None)
                self._dirty = True
                raise
            self._left = None
            self._consumer_gen = None
            self._generation = -1
            self._applied_key = _FORCE
            self._dirty = True

    def _watch_wake(self):
        w = self._consumer._watcher
        if w is None:
            w = self._consumer._watcher = DirWatcher()
        w.watch(self._wake_dir)

    def _unwatch_wake(self):
        w = self._consumer._watcher
        if w is not None and self._wake_dir is not None:
            try:
                w.unwatch(self._wake_dir)
            except Exception:
                pass

    def _wake_consumer(self):
        """Write to the consumer's wake file (the caller set _dirty under _mu)."""
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

    # -- the consumer thread's part of a rebalance -----------------------------------------------

    def _callback(self, name, tps, err):
        l = self._listener
        if l is None:
            return err
        fn = getattr(l, name, None)
        if fn is None and name == "on_partitions_lost":
            fn = getattr(l, "on_partitions_revoked", None)
        if fn is None:
            return err
        try:
            fn(list(tps))
        except Exception as e:
            log.warning("%s.%s raised %r", type(l).__name__, name, e)
            return err if err is not None else e
        return err

    def _apply(self, tps):
        """Set the consumer's assignment, skipping partitions whose topic vanished."""
        tps = sorted(tps)
        try:
            self._consumer._set_assignment(tps)
        except UnknownTopicError:
            ok = []
            for tp in tps:
                try:
                    self._log.topic(tp.topic).partition(tp.partition)
                except UnknownTopicError:
                    continue
                ok.append(tp)
            self._consumer._set_assignment(ok)

    def _autocommit(self, tps):
        c = self._consumer
        if not c.enable_auto_commit:
            return
        offsets = {}
        for tp in tps:
            a = c._assigned.get(tp)
            if a is not None and a.state is not None:
                offsets[tp] = a.state.offset
        if offsets:
            try:
                c.commit(offsets)
            except Exception as e:  # already lost (poll timeout): nothing more to do
                log.warning("auto-commit before revoking %s failed: %r", sorted(offsets), e)

    def _handle(self):
        err = None
        for _ in range(100):
            with self._mu:
                self._dirty = False
                left = self._left
                lost = sorted(self._consumer_tps) if left is not None else None
                if left is not None:
                    self._consumer_tps = set()
            if left is not None:
                self._apply([])
                if lost:
                    err = self._callback("on_partitions_lost", lost, err)
                self._rejoin()
                continue
            with self._mu:
                gen, target = self._generation, self._target
                if self._protocol == EAGER and gen != self._consumer_gen:
                    revoke = set(self._consumer_tps)
                else:
                    revoke = self._consumer_tps - target
            if revoke:
                self._autocommit(revoke)
                err = self._callback("on_partitions_revoked", sorted(revoke), err)
                with self._mu:
                    self._consumer_tps -= revoke
                    keep = set(self._consumer_tps)
                self._apply(keep)
                with self._mu:
                    for tp in revoke:
                        if tp not in self._target and tp not in self._consumer_tps:
                            fd = self._owned.pop(tp, None)
                            if fd is not None:
                                gf.clear_and_close(fd)
            with self._mu:
                self._consumer_gen = gen
                newly = {tp for tp in self._owned if tp in self._target} - self._consumer_tps
                self._consumer_tps |= newly
                now_tps = set(self._consumer_tps)
            if newly:
                self._apply(now_tps)
                err = self._callback("on_partitions_assigned", sorted(newly), err)
            self._last_poll = time.monotonic()
            with self._mu:
                if not self._dirty and self._left is None:
                    break
        if err is not None:
            raise err

    # -- the background thread -----------------------------------------------------------------

    def _run(self):
        delay = 0.0
        while not self._stopping:
            try:
                delay = self._step()
                self._bg_error = None
            except Exception as e:  # keep the member alive; the cause is logged once
                if self._stopping:
                    break
                if repr(e) != repr(self._bg_error):
                    log.exception("group %r member %s: background step failed", self._group, self._key)
                self._bg_error = e
                delay = _TICK_S
            if self._stopping:
                break
            try:
                self._bgw.wait(delay)
            except Exception:
                if self._stopping:
                    break
                time.sleep(_TICK_S)

    def _step(self):
        """One look at the group; returns how long to sleep at most before the next."""
        now = time.monotonic()
        delay = _TICK_S
        with self._mu:
            if self._closed or self._left is not None:
                return _TICK_S
            idle = now - self._last_poll
            if idle > self._max_poll_s:
                self._leave(f"poll() was not called for {idle * 1000:.0f} ms "
                            f"(max_poll_interval_ms={self._max_poll_ms})")
                wake = True   # _leave set _dirty
            else:
                wake = False
                delay = min(delay, self._max_poll_s - idle + 0.001)
        if wake:
            self._wake_consumer()
            return _TICK_S
        if not self._is_leader and self._leader_fd >= 0 and gf.try_lock(self._leader_fd):
            self._is_leader = True
            gf.set_content(self._leader_fd, json.dumps({"member_id": self._key,
                                                        "pid": os.getpid()}).encode())
            self._departed = {}
            log.info("member %s leads group %r", self._key, self._group)
        if self._is_leader:
            delay = min(delay, self._lead(now))
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
        doc = self._read_assignment()
        delay = _TICK_S
        with self._mu:
            if self._closed or self._left is not None:
                return _TICK_S
            if self._assign_key != self._applied_key:
                self._applied_key = self._assign_key
                gen = doc.get("generation", 0) if doc else 0
                mine = (doc.get("members") or {}).get(self._key) if doc else None
                target = frozenset(tp for tp in _tps_from((mine or {}).get("partitions"))
                                   if self._sub.matches(tp.topic))
                proto = doc.get("protocol", COOPERATIVE) if doc else COOPERATIVE
                self._generation = gen if type(gen) is int else 0
                self._protocol = proto if proto in (EAGER, COOPERATIVE) else COOPERATIVE
                if target != self._target:
                    self._acquire_delay = _ACQUIRE_MIN_S
                self._target = target
                for topic in {tp.topic for tp in target} - self._watched_owner_topics:
                    d = p.owner_dir(topic)
                    os.makedirs(d, exist_ok=True)
                    self._bgw.watch(d)
                    self._watched_owner_topics.add(topic)
            target = self._target
            # locks I hold but the consumer never took, and that are no longer mine: let go
            for tp in [tp for tp in self._owned if tp not in target and tp not in self._consumer_tps]:
                gf.clear_and_close(self._owned.pop(tp))
            for tp in [tp for tp in self._trying if tp not in target]:
                os.close(self._trying.pop(tp))
            want = [tp for tp in sorted(target) if tp not in self._owned]
            if want:
                content = json.dumps({"member_id": self._key, "generation": self._generation,
                                      "pid": os.getpid()}).encode()
                for tp in want:
                    fd = self._trying.get(tp)
                    if fd is None:
                        os.makedirs(p.owner_dir(tp.topic), exist_ok=True)
                        fd = self._trying[tp] = gf.open_rw(p.owner_lock(tp))
                    if gf.try_lock(fd):
                        del self._trying[tp]
                        gf.set_content(fd, content)
                        self._owned[tp] = fd
                if self._trying:
                    delay = self._acquire_delay
                    self._acquire_delay = min(self._acquire_delay * 2, _ACQUIRE_MAX_S)
            # anything for the consumer thread: partitions to take, to revoke, or an eager
            # generation change to go through
            ctps = self._consumer_tps
            wake = bool(ctps - target) or any(tp in target and tp not in ctps for tp in self._owned) \
                or (self._protocol == EAGER and self._generation != self._consumer_gen and bool(ctps))
            write = wake and not self._dirty
            if wake:
                self._dirty = True
        if write:
            self._wake_consumer()
        return delay

    # -- the leader's part ---------------------------------------------------------------------

    def _lead(self, now):
        """Scan members and topics; publish a new generation if anything that matters changed."""
        p = self._paths
        delay = _TICK_S
        members = {}          # member id -> member document (live, or static and pending)
        for stem in gf.list_member_stems(p):
            doc = gf.read_member(p, stem)
            locked = gf.is_locked(p.member_lock(stem))
            if doc is not None and locked:
                members[doc["member_id"]] = doc
                self._departed.pop(doc["member_id"], None)
                continue
            if doc is not None and doc.get("group_instance_id") is not None:
                mid = doc["member_id"]
                first = self._departed.setdefault(mid, now)
                timeout = doc.get("session_timeout_ms")
                timeout = (timeout if type(timeout) is int and timeout > 0 else 45_000) / 1000.0
                if now - first < timeout:
                    members[mid] = doc          # gone, but its partitions wait for it
                    delay = min(delay, timeout - (now - first) + 0.001)
                    continue
            if doc is None and locked:
                continue                          # joining right now (json not yet written)
            if gf.reap_member(p, stem):
                if doc is not None:
                    self._departed.pop(doc["member_id"], None)
                    log.info("group %r: member %s is gone", self._group, doc["member_id"])
        gf.remove_stale_temps(p.members)

        all_topics_cache = []

        def all_topics():
            if not all_topics_cache:
                all_topics_cache.append(self._meta.all_topics())
            return all_topics_cache[0]

        subs = {mid: _resolve_subscription(doc, all_topics) for mid, doc in members.items()}
        wanted_topics = sorted({t for ts in subs.values() for t in ts})
        ppt = {}
        for t in wanted_topics:
            n = self._meta.count(t)
            if n is not None:
                ppt[t] = n
        self._watch_topics(wanted_topics, any(d.get("pattern") is not None for d in members.values()))

        assignor = self._choose_assignor(members)
        cur = self._read_assignment()
        if cur is not None and self._same(cur, members, subs, ppt, assignor):
            return delay
        if cur is None and not members:
            return delay
        current = {}
        if cur is not None:
            for mid, entry in (cur.get("members") or {}).items():
                if mid in members and isinstance(entry, dict):
                    current[mid] = _tps_from(entry.get("partitions"))
        result = self._run_assignor(assignor, subs, ppt, current)
        gen = (cur.get("generation", 0) if cur is not None and type(cur.get("generation")) is int else 0) + 1
        doc = {
            "format": gf.FORMAT, "generation": gen, "assignor": assignor_name(assignor),
            "protocol": assignor_protocol(assignor), "leader": self._key, "time_ms": _now_ms(),
            "partitions_per_topic": ppt,
            "members": {mid: {"topics": subs[mid], "partitions": _tp_list(result.get(mid, ()))}
                        for mid in sorted(members)},
        }
        gf.write_json(p.assignment, doc)
        log.info("group %r generation %d (%s): %s", self._group, gen, assignor_name(assignor),
                 {m: len(v) for m, v in result.items()})
        return delay

    @staticmethod
    def _same(cur, members, subs, ppt, assignor):
        cm = cur.get("members")
        if not isinstance(cm, dict) or set(cm) != set(members):
            return False
        if cur.get("partitions_per_topic") != ppt or cur.get("assignor") != assignor_name(assignor):
            return False
        return all(isinstance(cm[m], dict) and cm[m].get("topics") == subs[m] for m in members)

    def _choose_assignor(self, members):
        for a in self._assignors:
            name = assignor_name(a)
            if all(name in (d.get("assignors") or ()) for d in members.values()):
                return a
        return self._assignors[0]

    def _run_assignor(self, assignor, subs, ppt, current):
        try:
            result = assignor.assign({m: list(t) for m, t in subs.items()}, dict(ppt),
                                     {m: list(v) for m, v in current.items()})
            return check_assignment(result, subs, ppt)
        except Exception:
            fallback = BUILTIN["cooperative-sticky" if assignor_protocol(assignor) == COOPERATIVE
                               else "sticky"]
            log.exception("assignor %r failed; group %r uses %r for this generation",
                          assignor_name(assignor), self._group, fallback.name)
            return check_assignment(fallback.assign(subs, ppt, current), subs, ppt)

    def _watch_topics(self, topics, pattern):
        p = self._paths
        want = set()
        if pattern or any(self._meta.count(t) is None for t in topics):
            want.add(p.topics_dir())
        for t in topics:
            want.add(os.path.dirname(p.topic_json(t)))
        for d in want - self._watched_topic_dirs:
            try:
                self._bgw.watch(d)
                self._watched_topic_dirs.add(d)
            except OSError:
                pass
        for d in self._watched_topic_dirs - want:
            try:
                self._bgw.unwatch(d)
            except Exception:
                pass
            self._watched_topic_dirs.discard(d)


# =============================================================================================
# Admin


@attrs.frozen
class MemberDescription:
    """One live member of a group, as `ConsumerGroup.members()` reports it."""

    member_id: str
    group_instance_id: str | None
    client_id: str
    host: str
    pid: int
    topics: list            # subscribed topic names (a pattern's matches at the last generation)
    pattern: str | None
    assignment: list        # [TopicPartition] given by the current generation
    owned: list             # [TopicPartition] whose ownership lock it holds now
    last_poll_ms: int       # when its consumer last called poll (within ~1 s), ms since epoch
    joined_ms: int
    is_leader: bool


@wrap_public_methods(where=lambda g: getattr(getattr(g, "_log", None), "path", None))
class ConsumerGroup:
    """Admin view of a consumer group (`log.group(group_id)`): its members, assignment,
    committed offsets and lag; resetting offsets and deleting it when no member is running.

    Reads the files on every call; holds nothing open between calls."""

    def __init__(self, log_, group_id):
        if not isinstance(group_id, str):
            raise InvalidTypeError(f"group id must be a str, got {type(group_id).__name__}: {group_id!r}")
        self._log = log_
        self.group_id = group_id
        self._paths, _ = _paths_for(log_, group_id)
        self._store = _store_for(log_)

    def __repr__(self):
        return f"<ConsumerGroup {self.group_id!r} generation={self.generation}>"

    def _assignment_doc(self):
        doc = gf.read_json(self._paths.assignment)
        return doc if isinstance(doc, dict) else {}

    @property
    def generation(self):
        """The current generation number (None if the group never had an assignment)."""
        g = self._assignment_doc().get("generation")
        return g if type(g) is int else None

    @property
    def assignor(self):
        """The name of the assignor of the current generation (or None)."""
        return self._assignment_doc().get("assignor")

    @property
    def protocol(self):
        return self._assignment_doc().get("protocol")

    def assignment(self):
        """{member id: [TopicPartition]} of the current generation (may still name a static
        member that is gone but within its session timeout)."""
        return {m: _tps_from(e.get("partitions"))
                for m, e in (self._assignment_doc().get("members") or {}).items() if isinstance(e, dict)}

    def _live(self):
        p = self._paths
        out = {}
        for stem in gf.list_member_stems(p):
            doc = gf.read_member(p, stem)
            if doc is not None and gf.is_locked(p.member_lock(stem)):
                out[doc["member_id"]] = (stem, doc)
        return out

    @staticmethod
    def _holder(data, live):
        """The live member named by a lock file's content, if the content was written by its
        current process (a static member that died and came back has a new pid: the entry
        of its former life is stale). No lock is probed: a probe could make a member's
        LOCK_NB attempt on it fail at that instant."""
        if not data:
            return None
        try:
            doc = json.loads(data)
            mid, pid = doc.get("member_id"), doc.get("pid")
        except (ValueError, AttributeError):
            return None
        entry = live.get(mid)
        if entry is None or entry[1].get("pid") != pid:
            return None
        return mid

    def owners(self):
        """{TopicPartition: member id} of the partitions some live member holds now (read
        from the lock files' contents, written by their holders)."""
        live = self._live()
        out = {}
        try:
            topics = os.listdir(self._paths.owners)
        except FileNotFoundError:
            return out
        for topic in sorted(topics):
            d = self._paths.owner_dir(topic)
            try:
                names = os.listdir(d)
            except (FileNotFoundError, NotADirectoryError):
                continue
            for n in names:
                if not n.endswith(".lock") or not n[:-5].isdigit():
                    continue
                mid = self._holder(gf.read_small_all(os.path.join(d, n)), live)
                if mid is not None:
                    out[TopicPartition(topic, int(n[:-5]))] = mid
        return dict(sorted(out.items()))

    def members(self):
        """The live members, sorted by id (a list of `MemberDescription`)."""
        live = self._live()
        assign = self.assignment()
        owners = self.owners()
        leader = self._holder(gf.read_small_all(self._paths.leader_lock), live)
        out = []
        for mid in sorted(live):
            stem, doc = live[mid]
            try:
                last = int(os.stat(self._paths.member_lock(stem)).st_mtime * 1000)
            except FileNotFoundError:
                continue
            topics = (self._assignment_doc().get("members") or {}).get(mid, {}).get("topics")
            out.append(MemberDescription(
                member_id=mid, group_instance_id=doc.get("group_instance_id"),
                client_id=str(doc.get("client_id")), host=str(doc.get("host")),
                pid=doc.get("pid") if type(doc.get("pid")) is int else -1,
                topics=topics if isinstance(topics, list) else list(doc.get("topics") or []),
                pattern=doc.get("pattern"), assignment=assign.get(mid, []),
                owned=[tp for tp, o in owners.items() if o == mid], last_poll_ms=last,
                joined_ms=doc.get("joined_ms") if type(doc.get("joined_ms")) is int else 0,
                is_leader=(mid == leader)))
        return out

    def is_empty(self):
        """True if no live member is running (static members that are gone do not count)."""
        return not self._live()

    def committed(self):
        """{TopicPartition: committed offset} of every partition the group committed."""
        return self._store.all_committed(self.group_id)

    def lag(self):
        """{TopicPartition: end offset - committed offset} for every committed partition."""
        out = {}
        for tp, off in self.committed().items():
            try:
                end = self._log.topic(tp.topic).partition(tp.partition).end_offset
            except UnknownTopicError:
                continue
            out[tp] = max(0, end - off)
        return out

    # -- operations that need an empty group ----------------------------------------------------

    def _exclusive(self, create):
        """LOCK_EX on group.lock, or GroupNotEmptyError naming the live members."""
        path = self._paths.group_lock
        if not create and not os.path.exists(path):
            return None
        os.makedirs(self._paths.dir, exist_ok=True)
        while True:
            fd = os.open(path, os.O_RDONLY | os.O_CREAT | os.O_CLOEXEC, 0o644)
            if not gf.try_lock(fd):
                os.close(fd)
                live = self._live()
                names = ", ".join(f"{m} (pid {d.get('pid')} on {d.get('host')})"
                                  for m, (_s, d) in sorted(live.items())) or "a member that is joining"
                raise GroupNotEmptyError(
                    f"group {self.group_id!r} has live members: {names}; stop them (close their "
                    f"consumers) before resetting offsets or deleting the group")
            if gf.lock_fresh(fd, path):
                return fd
            os.close(fd)

    def reset_offsets(self, to, topics=None):
        """Set the committed offsets while no member runs. `to`: "earliest", "latest", a
        timestamp in ms (the first offset at or after it; the end if none), or a dict
        {TopicPartition: offset}. With a string or timestamp, `topics` (names) chooses the
        topics, all of whose partitions are reset; default: the topics the group has committed
        offsets for. Returns {TopicPartition: new offset}. GroupNotEmptyError if members run."""
        ids = {}    # topic -> id of the incarnation the new offsets were computed from
        if isinstance(to, dict):
            plan = {TopicPartition(*tp): o for tp, o in to.items()}
            for tp, o in plan.items():
                if type(o) is not int or o < 0:
                    raise InvalidArgumentError(f"reset_offsets: offset for {tp} must be an int >= 0, got {o!r}")
                topic = self._log.topic(tp.topic)
                topic.partition(tp.partition)
                ids[tp.topic] = topic.topic_id
        else:
            if not (to in ("earliest", "latest") or (type(to) is int and to >= 0)):
                raise InvalidArgumentError(
                    f"reset_offsets(to=...) takes 'earliest', 'latest', a timestamp in ms or a dict "
                    f"{{TopicPartition: offset}}; got {to!r}")
            if topics is None:
                names = sorted({tp.topic for tp in self.committed()})
                if not names:
                    raise InvalidArgumentError(
                        f"group {self.group_id!r} has no committed offsets; name the topics: "
                        f"reset_offsets({to!r}, topics=[...])")
            else:
                names = [topics] if isinstance(topics, str) else list(topics)
            plan = {}
            for name in names:
                topic = self._log.topic(name)
                ids[name] = topic.topic_id
                for part in topic.partitions:
                    tp = TopicPartition(name, part.partition)
                    if to == "earliest":
                        plan[tp] = part.start_offset
                    elif to == "latest":
                        plan[tp] = part.end_offset
                    else:
                        off = part.offset_for_time(to)
                        plan[tp] = part.end_offset if off is None else off
        self._store.ensure_group_dir(self.group_id)
        fd = self._exclusive(create=True)
        try:
            for tp, off in sorted(plan.items()):
                self._store.commit_partition(self.group_id, tp, off,
                                             json.dumps({"reset": True}, separators=(",", ":")),
                                             topic_id=ids[tp.topic])
            self._store.remove_other_incarnations(self.group_id)
        finally:
            os.close(fd)
        return dict(sorted(plan.items()))

    def delete_offsets(self, topics):
        """Delete the group's committed offsets of `topics` (a topic name or a list of them;
        the topics need not exist any more), as Kafka's `kafka-consumer-groups
        --delete-offsets`. Offsets left behind by deleted incarnations of any topic are
        removed too. Returns {TopicPartition: offset} of the offsets deleted (of the live
        incarnations). GroupNotEmptyError while members run: a member could commit them
        again at once."""
        names = [topics] if isinstance(topics, str) else list(topics)
        for name in names:
            validate_topic_name(name)
        if not os.path.isdir(self._paths.dir):
            return {}
        fd = self._exclusive(create=True)
        try:
            gone = {tp: off for tp, off in self._store.all_committed(self.group_id).items()
                    if tp.topic in names}
            self._store.remove_other_incarnations(self.group_id)
            self._store.delete_offsets(self.group_id, [
                tp for tp in self._store.stored_entries(self.group_id) if tp.topic in names])
        finally:
            os.close(fd)
        return gone

    def delete(self):
        """Delete the group: its committed offsets and every group file. GroupNotEmptyError
        if members run. No error if the group does not exist."""
        p = self._paths
        if not os.path.isdir(p.dir):
            return
        fd = self._exclusive(create=True)
        try:
            self._store.delete_group(self.group_id)
            for d in (p.members, p.wake, p.owners):
                shutil.rmtree(d, ignore_errors=True)
            for f in (p.assignment, p.leader_lock):
                try:
                    os.unlink(f)
                except FileNotFoundError:
                    pass
            gf.remove_stale_temps(p.dir, max_age_s=0)
            os.unlink(p.group_lock)       # while held: a joiner waiting on it starts afresh
        finally:
            os.close(fd)
        # Only group.json left (unless someone joined meanwhile): remove it and the directory.
        try:
            names = os.listdir(p.dir)
        except FileNotFoundError:
            return
        if names == ["group.json"]:
            try:
                os.unlink(os.path.join(p.dir, "group.json"))
            except FileNotFoundError:
                pass
            gf.rmdir_quiet(p.dir)


def list_groups(log_):
    """Ids of the groups that have committed offsets, members or an assignment, sorted."""
    root = os.path.join(log_.path, "groups")
    found = set(_store_for(log_).groups())
    try:
        names = os.listdir(root)
    except FileNotFoundError:
        return sorted(found)
    for name in names:
        gdir = os.path.join(root, name)
        if not name.startswith(("g_", "h_")):
            continue
        has = os.path.exists(os.path.join(gdir, gf.ASSIGNMENT))
        if not has:
            try:
                has = any(n.endswith(".json") for n in os.listdir(os.path.join(gdir, gf.MEMBERS)))
            except FileNotFoundError:
                has = False
        if has:
            g = gf.group_id_of_dir(gdir, name)
            if g is not None:
                found.add(g)
    return sorted(found)


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
