"""Assignors as pure functions: completeness, exclusivity, balance and stickiness, with
hypothesis over member sets, subscriptions, partition counts and previous assignments."""
import math
import os

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from eventlog import TopicPartition
from eventlog.groups.assignors import (BUILTIN, CooperativeStickyAssignor, RangeAssignor,
                                 RoundRobinAssignor, StickyAssignor, check_assignment,
                                 resolve_assignors)
from eventlog.errors import InvalidArgumentError, InvalidTypeError

TP = TopicPartition
ALL = [RangeAssignor(), RoundRobinAssignor(), StickyAssignor(), CooperativeStickyAssignor()]
STICKY = [StickyAssignor(), CooperativeStickyAssignor()]
SETTINGS = settings(max_examples=int(os.environ.get("EVENTLOG_HYPOTHESIS_EXAMPLES", 80)), deadline=None, suppress_health_check=[HealthCheck.too_slow])

topic_names = st.sampled_from(["a", "b", "c", "orders", "t.x"])
member_ids = st.text(alphabet="mnopqrs-0123", min_size=1, max_size=6)


@st.composite
def groups(draw, equal=None):
    ppt = draw(st.dictionaries(topic_names, st.integers(1, 12), min_size=1, max_size=4))
    topics = sorted(ppt) + draw(st.lists(st.just("missing"), max_size=1))
    ids = draw(st.lists(member_ids, min_size=1, max_size=7, unique=True))
    same = draw(st.booleans()) if equal is None else equal
    if same:
        sub = draw(st.lists(st.sampled_from(topics), min_size=1, unique=True))
        members = {m: sorted(sub) for m in ids}
    else:
        members = {m: sorted(draw(st.lists(st.sampled_from(topics), min_size=1, unique=True)))
                   for m in ids}
    universe = [TP(t, p) for t in sorted(ppt) for p in range(ppt[t])]
    # a previous assignment: random, possibly stale (departed members, vanished partitions,
    # partitions listed twice, partitions of topics no longer subscribed)
    prev_ids = draw(st.lists(st.sampled_from(ids + ["gone-1", "gone-2"]), unique=True, max_size=9))
    extra = [TP("a", 99), TP("zz", 0)]
    current = {m: draw(st.lists(st.sampled_from(universe + extra), max_size=10)) for m in prev_ids}
    return members, ppt, current


def subscribed_partitions(members, ppt):
    return {TP(t, p) for subs in members.values() for t in subs if t in ppt for p in range(ppt[t])}


@pytest.mark.parametrize("assignor", ALL, ids=lambda a: a.name)
@SETTINGS
@given(g=groups())
def test_every_partition_exactly_once_to_a_subscriber(assignor, g):
    members, ppt, current = g
    out = assignor.assign(members, ppt, current)
    norm = check_assignment(out, members, ppt)       # raises on any fault
    assert set(norm) == set(members)
    given_ = [tp for tps in norm.values() for tp in tps]
    assert sorted(given_) == sorted(subscribed_partitions(members, ppt))
    # deterministic: same input, same output (every process computes the same)
    assert assignor.assign(dict(reversed(list(members.items()))), ppt, current) == out


@SETTINGS
@given(g=groups())
def test_range_balances_each_topic(g):
    members, ppt, current = g
    out = RangeAssignor().assign(members, ppt, current)
    for t, n in ppt.items():
        subs = [m for m in members if t in members[m]]
        counts = [sum(tp.topic == t for tp in out[m]) for m in subs]
        if counts:
            assert max(counts) - min(counts) <= 1
            # ranges are contiguous and in member-id order
            order = sorted(subs)
            flat = [tp.partition for m in order for tp in sorted(out[m]) if tp.topic == t]
            assert flat == list(range(n))


@pytest.mark.parametrize("assignor", [RoundRobinAssignor(), StickyAssignor(), CooperativeStickyAssignor()],
                         ids=lambda a: a.name)
@SETTINGS
@given(g=groups(equal=True))
def test_equal_subscriptions_balanced_within_one(assignor, g):
    members, ppt, current = g
    out = assignor.assign(members, ppt, current)
    counts = [len(v) for v in out.values()]
    assert max(counts) - min(counts) <= 1


@pytest.mark.parametrize("assignor", STICKY, ids=lambda a: a.name)
@SETTINGS
@given(g=groups(equal=False))
def test_sticky_different_subscriptions_no_improving_move(assignor, g):
    members, ppt, current = g
    out = assignor.assign(members, ppt, current)
    count = {m: len(v) for m, v in out.items()}
    for m, tps in out.items():
        for tp in tps:
            for other in members:
                if tp.topic in members[other]:
                    assert count[m] - count[other] <= 1, (m, other, tp, count)


def valid_previous(members, ppt, current):
    """What each live member held before that it may keep (valid, subscribed, first claim)."""
    held, taken = {}, set()
    for m in sorted(current):
        if m not in members:
            continue
        for tp in sorted(current[m]):
            if tp.topic in members[m] and tp.topic in ppt and tp.partition < ppt[tp.topic] and tp not in taken:
                taken.add(tp)
                held.setdefault(m, set()).add(tp)
    return held


@pytest.mark.parametrize("assignor", STICKY, ids=lambda a: a.name)
@SETTINGS
@given(g=groups(equal=True))
def test_sticky_keeps_what_balance_allows(assignor, g):
    members, ppt, current = g
    out = assignor.assign(members, ppt, current)
    n = len(subscribed_partitions(members, ppt))
    floor = n // len(members)
    for m, held in valid_previous(members, ppt, current).items():
        kept = len(held & set(out[m]))
        assert kept >= min(len(held), floor), (m, held, out[m])
        if len(out[m]) >= len(held):      # never swaps a partition it had for another
            assert held <= set(out[m]), (m, held, out[m])


@pytest.mark.parametrize("assignor", STICKY, ids=lambda a: a.name)
@SETTINGS
@given(n_members=st.integers(2, 8), n_parts=st.integers(1, 40), data=st.data())
def test_sticky_member_leaves_or_joins_moves_the_minimum(assignor, n_members, n_parts, data):
    ids = [f"m{i}" for i in range(n_members)]
    ppt = {"t": n_parts}
    members = {m: ["t"] for m in ids}
    before = assignor.assign(members, ppt, {})
    # one member leaves: only its partitions move
    gone = data.draw(st.sampled_from(ids))
    rest = {m: ["t"] for m in ids if m != gone}
    after = assignor.assign(rest, ppt, before)
    for m in rest:
        assert set(before[m]) <= set(after[m]) or len(before[m]) > math.ceil(n_parts / len(rest))
    moved = sum(len(set(after[m]) - set(before[m])) for m in rest)
    assert moved == len(before[gone])
    # one member joins: it gets a fair share, taken only from those above it
    grown = dict(members, new=["t"])
    joined = assignor.assign(grown, ppt, before)
    assert len(joined["new"]) == n_parts // len(grown) or len(joined["new"]) == math.ceil(n_parts / len(grown))
    moved = sum(len(set(before[m]) - set(joined[m])) for m in members)
    assert moved == len(joined["new"])


def test_range_and_roundrobin_examples_match_kafka():
    members = {"c0": ["t0", "t1"], "c1": ["t0", "t1"]}
    ppt = {"t0": 3, "t1": 3}
    assert RangeAssignor().assign(members, ppt, {}) == {
        "c0": [TP("t0", 0), TP("t0", 1), TP("t1", 0), TP("t1", 1)],
        "c1": [TP("t0", 2), TP("t1", 2)]}
    assert RoundRobinAssignor().assign(members, ppt, {}) == {
        "c0": [TP("t0", 0), TP("t0", 2), TP("t1", 1)],
        "c1": [TP("t0", 1), TP("t1", 0), TP("t1", 2)]}
    # Kafka's documented round-robin example with different subscriptions
    members = {"c0": ["t0"], "c1": ["t0", "t1"], "c2": ["t0", "t1", "t2"]}
    ppt = {"t0": 1, "t1": 2, "t2": 3}
    assert RoundRobinAssignor().assign(members, ppt, {}) == {
        "c0": [TP("t0", 0)], "c1": [TP("t1", 0)],
        "c2": [TP("t1", 1), TP("t2", 0), TP("t2", 1), TP("t2", 2)]}


def test_sticky_keeps_partitions_when_a_member_joins():
    members = {"a": ["t"], "b": ["t"]}
    ppt = {"t": 6}
    cur = {"a": [TP("t", 0), TP("t", 1), TP("t", 2)], "b": [TP("t", 3), TP("t", 4), TP("t", 5)]}
    out = CooperativeStickyAssignor().assign(dict(members, c=["t"]), ppt, cur)
    assert len(out["a"]) == len(out["b"]) == len(out["c"]) == 2
    assert set(out["a"]) <= set(cur["a"]) and set(out["b"]) <= set(cur["b"])


def test_resolve_strategies():
    assert [a.name for a in resolve_assignors("range")] == ["range"]
    assert [a.name for a in resolve_assignors(["cooperative-sticky", "range"])] == ["cooperative-sticky", "range"]
    assert resolve_assignors("org.apache.kafka.clients.consumer.RoundRobinAssignor")[0].name == "roundrobin"
    assert resolve_assignors(BUILTIN["sticky"])[0] is BUILTIN["sticky"]
    with pytest.raises(InvalidArgumentError, match="unknown partition_assignment_strategy"):
        resolve_assignors("fair")
    with pytest.raises(InvalidTypeError, match="pass an instance"):
        resolve_assignors(RangeAssignor)
    with pytest.raises(InvalidTypeError, match="name"):
        resolve_assignors(object())
    with pytest.raises(InvalidArgumentError, match="twice"):
        resolve_assignors(["range", RangeAssignor()])
    with pytest.raises(InvalidArgumentError):
        resolve_assignors([])


def test_check_assignment_refuses_bad_results():
    members = {"a": ["t"], "b": ["t"]}
    ppt = {"t": 2}
    with pytest.raises(InvalidArgumentError, match="both"):
        check_assignment({"a": [TP("t", 0), TP("t", 1)], "b": [TP("t", 1)]}, members, ppt)
    with pytest.raises(InvalidArgumentError, match="unassigned"):
        check_assignment({"a": [TP("t", 0)]}, members, ppt)
    with pytest.raises(InvalidArgumentError, match="not a member"):
        check_assignment({"x": [TP("t", 0), TP("t", 1)]}, members, ppt)
    with pytest.raises(InvalidArgumentError, match="does not exist"):
        check_assignment({"a": [TP("t", 0), TP("t", 1), TP("t", 2)]}, members, ppt)
    with pytest.raises(InvalidArgumentError, match="not subscribed"):
        check_assignment({"a": [TP("t", 0), TP("t", 1)]}, {"a": ["u"], "b": ["t"]}, {"t": 2, "u": 0})


# -- a stateful model: members join, leave and change subscriptions; topics grow ----------------
# After every step each assignor's output is checked (`check_assignment`: every subscribed
# partition exactly once, to a subscriber) and, for the sticky ones, stickiness: a member keeps
# what balance allows of what it held, and never swaps a partition it had for another.

from hypothesis.stateful import RuleBasedStateMachine, invariant, precondition, rule  # noqa: E402

STATEFUL_TOPICS = ["a", "b", "c"]


class AssignorMachine(RuleBasedStateMachine):
    assignor = None          # set by the subclasses below

    def __init__(self):
        super().__init__()
        self.members = {}                     # member id -> sorted topics
        self.ppt = {"a": 3, "b": 2, "c": 5}
        self.current = {}                     # the last generation's assignment
        self.n = 0

    def _rebalance(self):
        if not self.members:
            self.current = {}
            return
        before = {m: list(v) for m, v in self.current.items()}
        out = check_assignment(self.assignor.assign(
            {m: list(t) for m, t in self.members.items()}, dict(self.ppt), before),
            self.members, self.ppt)
        if self.assignor.name in ("sticky", "cooperative-sticky") and \
                len({tuple(t) for t in self.members.values()}) == 1:
            n = len(subscribed_partitions(self.members, self.ppt))
            floor = n // len(self.members)
            for m, held in valid_previous(self.members, self.ppt, before).items():
                kept = len(held & set(out[m]))
                assert kept >= min(len(held), floor), (m, held, out[m])
                if len(out[m]) >= len(held):
                    assert held <= set(out[m]), (m, held, out[m])
        self.current = out

    @rule(topics=st.lists(st.sampled_from(STATEFUL_TOPICS), min_size=1, unique=True))
    def join(self, topics):
        self.n += 1
        self.members[f"m{self.n}"] = sorted(topics)
        self._rebalance()

    @precondition(lambda self: self.members)
    @rule(data=st.data())
    def leave(self, data):
        m = data.draw(st.sampled_from(sorted(self.members)))
        del self.members[m]
        self._rebalance()

    @precondition(lambda self: self.members)
    @rule(data=st.data(), topics=st.lists(st.sampled_from(STATEFUL_TOPICS), min_size=1, unique=True))
    def change_subscription(self, data, topics):
        m = data.draw(st.sampled_from(sorted(self.members)))
        self.members[m] = sorted(topics)
        self._rebalance()

    @rule(topic=st.sampled_from(STATEFUL_TOPICS), more=st.integers(1, 3))
    def add_partitions(self, topic, more):
        self.ppt[topic] += more
        self._rebalance()

    @invariant()
    def every_partition_exactly_once(self):
        if not self.members:
            return
        seen = [tp for tps in self.current.values() for tp in tps]
        assert len(seen) == len(set(seen)) and set(seen) == set(subscribed_partitions(self.members, self.ppt))


for _a in ALL:
    _cls = type(f"AssignorMachine_{_a.name.replace('-', '_')}", (AssignorMachine,), {"assignor": _a})
    _cls.TestCase.settings = settings(max_examples=int(os.environ.get("EVENTLOG_HYPOTHESIS_EXAMPLES", 30)),
                                      stateful_step_count=25, deadline=None,
                                      suppress_health_check=[HealthCheck.too_slow])
    globals()[f"TestAssignorMachine_{_a.name.replace('-', '_')}"] = _cls.TestCase
