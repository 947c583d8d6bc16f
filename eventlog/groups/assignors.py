"""Partition assignors: pure functions from (members, subscriptions, partitions, the current
assignment) to a new assignment. No I/O, no clocks: the group leader calls one of these.

An assignor is any object with
- `name` (str): what members list in `partition_assignment_strategy`;
- `protocol`: ``"eager"`` (every member revokes everything at each new generation, then
  takes its new partitions) or ``"cooperative"`` (KIP-429: members revoke only the
  partitions that move away; the others keep being consumed through the rebalance);
- `assign(members, partitions_per_topic, current_assignment) -> {member: [TopicPartition]}`
  where `members` is ``{member_id: [subscribed topic names]}``, `partitions_per_topic` is
  ``{topic: partition count}`` (topics that do not exist are absent), and
  `current_assignment` is ``{member_id: [TopicPartition]}`` from the previous generation
  (members that left are absent; it may name partitions that no longer exist).

This mirrors Kafka's `ConsumerPartitionAssignor` (name, supported protocols, assign).

Invariants every built-in assignor keeps (checked by `check_assignment`, and by the
hypothesis tests in tests/test_group_assignors.py):
- every partition of every topic some member subscribes to is given to exactly one member,
  and only to a member subscribed to its topic; nothing else is given;
- the result has an entry (possibly empty) for every member, and is deterministic: the
  same input gives the same output in every process (members are ordered by id);
- balance: `range` within one partition per topic among that topic's subscribers;
  `roundrobin`, `sticky` and `cooperative-sticky` within one partition overall when all
  members subscribe to the same topics; with different subscriptions, `sticky` leaves no
  partition that could move to an eligible member holding two or more fewer;
- stickiness (`sticky`, `cooperative-sticky`): a member keeps every partition it had, as long
  as it is still subscribed and the partition exists, except those it must give up for
  balance; with equal subscriptions it keeps at least min(what it had, floor(N / members)).
"""
from __future__ import annotations

from eventlog.errors import InvalidArgumentError, InvalidTypeError
from eventlog.record import TopicPartition

__all__ = ["ConsumerPartitionAssignor", "RangeAssignor", "RoundRobinAssignor", "StickyAssignor",
           "CooperativeStickyAssignor", "resolve_assignors", "check_assignment", "BUILTIN"]

EAGER = "eager"
COOPERATIVE = "cooperative"


class ConsumerPartitionAssignor:
    """Base class for assignors (subclassing is optional: any object with `name`, `protocol`
    and `assign` will do)."""

    name: str = ""
    protocol: str = EAGER

    def assign(self, members, partitions_per_topic, current_assignment):
        raise NotImplementedError

    def __repr__(self):
        return f"<{type(self).__name__} {self.name!r} ({self.protocol})>"


def _all_partitions(members, partitions_per_topic):
    topics = sorted({t for subs in members.values() for t in subs if t in partitions_per_topic})
    return [TopicPartition(t, p) for t in topics for p in range(partitions_per_topic[t])]


class RangeAssignor(ConsumerPartitionAssignor):
    """Kafka's default of old: per topic, the subscribers (sorted by id) get consecutive
    ranges; the first `n % k` get one more. Eager."""

    name = "range"
    protocol = EAGER

    def assign(self, members, partitions_per_topic, current_assignment):
        out = {m: [] for m in members}
        topics = sorted({t for subs in members.values() for t in subs if t in partitions_per_topic})
        for topic in topics:
            subs = sorted(m for m in members if topic in members[m])
            per, extra = divmod(partitions_per_topic[topic], len(subs))
            start = 0
            for i, m in enumerate(subs):
                n = per + (i < extra)
                out[m].extend(TopicPartition(topic, p) for p in range(start, start + n))
                start += n
        return out


class RoundRobinAssignor(ConsumerPartitionAssignor):
    """All partitions sorted by (topic, partition), dealt to the members (sorted by id) in
    turn, skipping members not subscribed to the partition's topic (as Kafka's). Eager."""

    name = "roundrobin"
    protocol = EAGER

    def assign(self, members, partitions_per_topic, current_assignment):
        out = {m: [] for m in members}
        order = sorted(members)
        if not order:
            return out
        subs = {m: set(members[m]) for m in order}
        i = 0
        for tp in _all_partitions(members, partitions_per_topic):
            while tp.topic not in subs[order[i % len(order)]]:
                i += 1
            out[order[i % len(order)]].append(tp)
            i += 1
        return out


class StickyAssignor(ConsumerPartitionAssignor):
    """Balanced, and moves as few partitions as it can from one generation to the next.

    Equal subscriptions (the common case) are solved exactly: with N partitions and M
    members, the members holding the most keep up to ceil(N/M) (N % M of them) and the others
    up to floor(N/M); what is left over, and partitions nobody holds, go to members under
    their quota. Different subscriptions: every member keeps its valid partitions, the
    unheld ones go one by one to the eligible member holding the fewest, then partitions move
    from a member to an eligible one holding two or more fewer until none can.
    Eager, as Kafka's StickyAssignor."""

    name = "sticky"
    protocol = EAGER

    def assign(self, members, partitions_per_topic, current_assignment):
        out = {m: [] for m in members}
        if not members:
            return out
        subs = {m: frozenset(t for t in members[m] if t in partitions_per_topic) for m in members}
        universe = _all_partitions(members, partitions_per_topic)
        valid = set(universe)
        # what each live member keeps from before: valid, subscribed, not claimed twice
        # (a partition listed under two members - never written by us - goes to the first id)
        held = {m: [] for m in members}
        taken = set()
        for m in sorted(current_assignment):
            if m not in members:
                continue
            for tp in sorted(current_assignment[m]):
                tp = TopicPartition(*tp)
                if tp in valid and tp.topic in subs[m] and tp not in taken:
                    taken.add(tp)
                    held[m].append(tp)
        if len(set(subs.values())) == 1:
            return self._equal(sorted(members), universe, held)
        return self._general(sorted(members), subs, universe, held, taken)

    @staticmethod
    def _equal(order, universe, held):
        n, k = len(universe), len(order)
        per, extra = divmod(n, k)
        # the `extra` members that hold the most get the larger quota (fewest moves)
        by_held = sorted(order, key=lambda m: (-len(held[m]), m))
        quota = {m: per + (i < extra) for i, m in enumerate(by_held)}
        out = {m: held[m][:quota[m]] for m in order}
        assigned = {tp for m in order for tp in out[m]}
        pool = [tp for tp in universe if tp not in assigned]
        pi = 0
        for m in order:
            need = quota[m] - len(out[m])
            if need > 0:
                out[m].extend(pool[pi:pi + need])
                pi += need
        return {m: sorted(out[m]) for m in order}

    @staticmethod
    def _general(order, subs, universe, held, taken):
        out = {m: list(held[m]) for m in order}
        eligible = {}
        for tp in universe:
            eligible.setdefault(tp.topic, [m for m in order if tp.topic in subs[m]])
        for tp in universe:
            if tp in taken:
                continue
            cands = eligible[tp.topic]
            best = min(cands, key=lambda m: (len(out[m]), m))
            out[best].append(tp)
        # move from a member to an eligible one with >= 2 fewer until no such move remains;
        # each move lowers the sum of squared counts, so this ends
        while True:
            moved = False
            for donor in sorted(order, key=lambda m: (-len(out[m]), m)):
                cd = len(out[donor])
                for tp in reversed(out[donor]):
                    cands = [m for m in eligible[tp.topic] if len(out[m]) <= cd - 2]
                    if cands:
                        best = min(cands, key=lambda m: (len(out[m]), m))
                        out[donor].remove(tp)
                        out[best].append(tp)
                        moved = True
                        break
                if moved:
                    break
            if not moved:
                break
        return {m: sorted(out[m]) for m in order}


class CooperativeStickyAssignor(StickyAssignor):
    """The sticky assignment with the cooperative protocol (KIP-429): a rebalance revokes only
    the partitions that move; all others are consumed straight through it. The default."""

    name = "cooperative-sticky"
    protocol = COOPERATIVE


BUILTIN = {a.name: a for a in (RangeAssignor(), RoundRobinAssignor(), StickyAssignor(),
                                CooperativeStickyAssignor())}
# Kafka's class names, so configurations written for a Kafka client work unchanged
_ALIASES = {
    "org.apache.kafka.clients.consumer.RangeAssignor": "range",
    "org.apache.kafka.clients.consumer.RoundRobinAssignor": "roundrobin",
    "org.apache.kafka.clients.consumer.StickyAssignor": "sticky",
    "org.apache.kafka.clients.consumer.CooperativeStickyAssignor": "cooperative-sticky",
    "RangeAssignor": "range", "RoundRobinAssignor": "roundrobin", "StickyAssignor": "sticky",
    "CooperativeStickyAssignor": "cooperative-sticky",
}


def resolve_assignors(strategy):
    """`partition_assignment_strategy` (a name, an assignor object, or a list of them, in
    order of preference) -> a non-empty list of assignor objects with distinct names."""
    items = [strategy] if isinstance(strategy, str) or not isinstance(strategy, (list, tuple)) \
        else list(strategy)
    if not items:
        raise InvalidArgumentError("partition_assignment_strategy must name at least one assignor")
    out = []
    for item in items:
        if isinstance(item, str):
            a = BUILTIN.get(_ALIASES.get(item, item))
            if a is None:
                raise InvalidArgumentError(
                    f"unknown partition_assignment_strategy {item!r}; use one of "
                    f"{', '.join(map(repr, BUILTIN))} or an assignor object (see docs/groups.md)")
        elif isinstance(item, type):
            raise InvalidTypeError(f"partition_assignment_strategy takes assignor objects, got the "
                                   f"class {item.__name__}: pass an instance, {item.__name__}()")
        else:
            a = item
            name = getattr(a, "name", None)
            if callable(name):   # kafka-python style: name() as a method
                name = name()
            if not isinstance(name, str) or not name or not callable(getattr(a, "assign", None)):
                raise InvalidTypeError(
                    f"an assignor needs a non-empty str `name` and an `assign(members, "
                    f"partitions_per_topic, current_assignment)` method; got {a!r}")
            if getattr(a, "protocol", EAGER) not in (EAGER, COOPERATIVE):
                raise InvalidArgumentError(f"assignor {name!r}: protocol must be 'eager' or "
                                           f"'cooperative', got {a.protocol!r}")
        if any(assignor_name(o) == assignor_name(a) for o in out):
            raise InvalidArgumentError(f"assignor {assignor_name(a)!r} is listed twice")
        out.append(a)
    return out


def assignor_name(a):
    name = a.name
    return name() if callable(name) else name


def assignor_protocol(a):
    return getattr(a, "protocol", EAGER)


def check_assignment(result, members, partitions_per_topic):
    """Normalise an assignor's result and check the invariants every assignment must keep
    (each subscribed partition given exactly once, to a subscriber). Returns
    {member: sorted [TopicPartition]}; raises InvalidArgumentError naming the fault."""
    if not isinstance(result, dict):
        raise InvalidArgumentError(f"assign() must return a dict {{member: [TopicPartition]}}, got {result!r}")
    out = {m: [] for m in members}
    owner = {}
    for m, tps in result.items():
        if m not in members:
            raise InvalidArgumentError(f"assign() gave partitions to {m!r}, which is not a member")
        for tp in tps:
            tp = TopicPartition(*tp)
            n = partitions_per_topic.get(tp.topic)
            if n is None or not 0 <= tp.partition < n:
                raise InvalidArgumentError(f"assign() gave {tp}, which does not exist")
            if tp.topic not in members[m]:
                raise InvalidArgumentError(f"assign() gave {tp} to {m!r}, which is not subscribed to {tp.topic!r}")
            if tp in owner:
                raise InvalidArgumentError(f"assign() gave {tp} to both {owner[tp]!r} and {m!r}")
            owner[tp] = m
            out[m].append(tp)
    missing = [tp for tp in _all_partitions(members, partitions_per_topic) if tp not in owner]
    if missing:
        raise InvalidArgumentError(f"assign() left {len(missing)} partition(s) unassigned, e.g. {missing[:3]}")
    return {m: sorted(v) for m, v in out.items()}
