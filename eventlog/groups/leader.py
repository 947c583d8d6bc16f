"""Leadership and assignment: what the group's leader does while it holds `leader.lock`.

Owns the leader's scan of the group (members, their subscriptions, the subscribed topics'
partition counts) and the publishing of generations in `assignment.json`. Driven from the
leading member's background thread (`Membership`): one `Leader` lives exactly as long as its
member holds `leader.lock`, and only its `scan` writes `assignment.json`, so there is one
writer at a time.

Rules kept:
- A new generation is published only when something that matters changed: the set of
  members, a member's resolved subscription, a subscribed topic's partition count, or the
  chosen assignor. Otherwise the file is left alone (readers re-read it on a stat change).
- The assignor is the first of the leader's strategies that every member lists (else the
  leader's first); its protocol ("eager" | "cooperative") is recorded with the generation.
  Its output is checked (`check_assignment`: every subscribed partition exactly once, to a
  member subscribed to its topic); an assignor that fails or breaks that rule is replaced,
  for this generation, by the built-in sticky assignor of the same protocol.
- A dead member is reaped only after its lock is proven free (LOCK_NB). A departed static
  member keeps its place, and its partitions, for its `session_timeout_ms`, counted from
  when this leader first saw it gone.
"""
from __future__ import annotations

import logging
import os

from eventlog.groups import files as gf
from eventlog.groups.assignors import (BUILTIN, COOPERATIVE, assignor_name, assignor_protocol,
                                       check_assignment)
from eventlog.groups.subscription import resolve_subscription, tp_list, tps_from

__all__ = ["Leader", "TICK_S"]

log = logging.getLogger("eventlog.group")

TICK_S = 0.25    # background re-check period (events usually come first)


class Leader:
    """The leader's part of one member (see the module docstring)."""

    def __init__(self, *, group, member_id, paths, meta, assignors, watcher, clock):
        self._group = group
        self._key = member_id
        self._paths = paths
        self._meta = meta
        self._assignors = assignors
        self._bgw = watcher
        self._clock = clock
        self._departed = {}               # static member id -> monotonic time first seen gone
        self._watched_topic_dirs = set()

    def scan(self, now, current):
        """Scan members and topics; publish a new generation if anything that matters
        changed. `current` is the assignment document now published (or None). Returns how
        long the caller may sleep at most before the next scan."""
        p = self._paths
        delay = TICK_S
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

        subs = {mid: resolve_subscription(doc, all_topics) for mid, doc in members.items()}
        wanted_topics = sorted({t for ts in subs.values() for t in ts})
        ppt = {}
        for t in wanted_topics:
            n = self._meta.count(t)
            if n is not None:
                ppt[t] = n
        self._watch_topics(wanted_topics, any(d.get("pattern") is not None for d in members.values()))

        assignor = self._choose_assignor(members)
        cur = current
        if cur is not None and self._same(cur, members, subs, ppt, assignor):
            return delay
        if cur is None and not members:
            return delay
        previous = {}
        if cur is not None:
            for mid, entry in (cur.get("members") or {}).items():
                if mid in members and isinstance(entry, dict):
                    previous[mid] = tps_from(entry.get("partitions"))
        result = self._run_assignor(assignor, subs, ppt, previous)
        gen = (cur.get("generation", 0) if cur is not None and type(cur.get("generation")) is int else 0) + 1
        doc = {
            "format": gf.FORMAT, "generation": gen, "assignor": assignor_name(assignor),
            "protocol": assignor_protocol(assignor), "leader": self._key,
            "time_ms": self._clock.now_ms(), "partitions_per_topic": ppt,
            "members": {mid: {"topics": subs[mid], "partitions": tp_list(result.get(mid, ()))}
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
            self.unwatch(d)

    def unwatch(self, d=None):
        """Stop watching `d` (None: every topic directory this leader watches)."""
        for x in ([d] if d is not None else list(self._watched_topic_dirs)):
            try:
                self._bgw.unwatch(x)
            except Exception:
                pass
            self._watched_topic_dirs.discard(x)
