"""Model-checked consumer: a hypothesis state machine appends records to a real log in a
temp directory and drives one Consumer through assign / seek / seek_to_beginning /
seek_to_end / poll / pause / resume / commit / position, checking every answer against a
simple model (per partition: the values written; per assigned partition: the position,
paused or not; the committed offsets) and `Consumer._check()` (its invariants) after every
step."""
import shutil
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import pytest

import eventlog
from eventlog.errors import IllegalStateError
from eventlog.record import TopicPartition

TPS = [TopicPartition("t", 0), TopicPartition("t", 1), TopicPartition("u", 0)]


class ConsumerMachine(RuleBasedStateMachine):
    @initialize()
    def open(self):
        self.dir = tempfile.mkdtemp(prefix="el-cons-sm-")
        self.log = eventlog.open(self.dir)
        self.log.create_topic("t", partitions=2, segment_bytes=1024, retention_ms=None)
        self.log.create_topic("u", partitions=1, segment_bytes=1024, retention_ms=None)
        self.consumer = self.log.consumer(group_id="g", auto_offset_reset="earliest",
                                          enable_auto_commit=False)
        self.data = {tp: [] for tp in TPS}    # the values written, by offset
        self.pos = {}                          # assigned tp -> position (model)
        self.paused = set()
        self.committed = {}                    # tp -> committed offset
        self.resolved = set()                  # assigned tps whose position the consumer knows

    def teardown(self):
        if hasattr(self, "log"):
            self.consumer.close(autocommit=False)
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)

    def _part(self, tp):
        return self.log.topic(tp.topic).partition(tp.partition)

    @rule(tp=st.sampled_from(TPS), n=st.integers(1, 30), size=st.integers(0, 100))
    def append(self, tp, n, size):
        first = len(self.data[tp])
        values = [(first + i).to_bytes(4, "big") + bytes(size) for i in range(n)]
        r = self._part(tp).append_batch([(None, v) for v in values])
        assert r == range(first, first + n)
        self.data[tp] += values

    @rule(tps=st.sets(st.sampled_from(TPS)))
    def assign(self, tps):
        self.consumer.assign(sorted(tps))
        # partitions that stay keep their positions; new ones start from the committed
        # offset, else auto_offset_reset="earliest" (0: nothing is deleted here)
        self.pos = {tp: self.pos[tp] if tp in self.pos else self.committed.get(tp, 0) for tp in tps}
        self.resolved &= set(tps)
        self.paused &= set(tps)
        assert self.consumer.assignment() == set(tps)

    @precondition(lambda self: self.pos)
    @rule(data=st.data())
    def seek(self, data):
        tp = data.draw(st.sampled_from(sorted(self.pos)))
        offset = data.draw(st.integers(0, len(self.data[tp])))
        self.consumer.seek(tp, offset)
        self.pos[tp] = offset
        self.resolved.add(tp)

    @rule()
    def seek_to_beginning(self):
        self.consumer.seek_to_beginning()
        for tp in self.pos:
            self.pos[tp] = 0
        self.resolved = set(self.pos)

    @rule()
    def seek_to_end(self):
        self.consumer.seek_to_end()
        for tp in self.pos:
            self.pos[tp] = len(self.data[tp])
        self.resolved = set(self.pos)

    @precondition(lambda self: self.pos)
    @rule(data=st.data())
    def pause(self, data):
        tps = data.draw(st.sets(st.sampled_from(sorted(self.pos)), min_size=1))
        self.consumer.pause(sorted(tps))
        self.paused |= tps

    @precondition(lambda self: self.pos)
    @rule(data=st.data())
    def resume(self, data):
        tps = data.draw(st.sets(st.sampled_from(sorted(self.pos)), min_size=1))
        self.consumer.resume(sorted(tps))
        self.paused -= tps

    @rule(max_records=st.integers(1, 40))
    def poll(self, max_records):
        if not self.pos:
            with pytest.raises(IllegalStateError, match="no partitions"):
                self.consumer.poll(timeout=0, max_records=max_records)
            return
        recs = self.consumer.poll(timeout=0, max_records=max_records)
        assert len(recs) <= max_records
        available = sum(len(self.data[tp]) - p for tp, p in self.pos.items() if tp not in self.paused)
        if available:
            assert recs, "records are there, poll returned none"
        by_tp = {}
        for r in recs:
            by_tp.setdefault(TopicPartition(r.topic, r.partition), []).append(r)
        for tp, got in by_tp.items():
            assert tp in self.pos and tp not in self.paused, tp
            p = self.pos[tp]
            assert [r.offset for r in got] == list(range(p, p + len(got)))
            assert [r.value for r in got] == self.data[tp][p:p + len(got)]
            self.pos[tp] = p + len(got)
            self.resolved.add(tp)

    @precondition(lambda self: self.pos)
    @rule(data=st.data())
    def position(self, data):
        tp = data.draw(st.sampled_from(sorted(self.pos)))
        assert self.consumer.position(tp) == self.pos[tp]
        self.resolved.add(tp)

    @rule()
    def commit(self):
        before = dict(self.committed)
        self.consumer.commit()
        for tp in self.pos:
            got = self.consumer.committed(tp)
            if tp in self.resolved:
                assert got == self.pos[tp], (tp, got, self.pos[tp])
            else:
                # a poll that filled max_records early may not have looked at tp: the
                # consumer commits only positions it knows
                assert got in (before.get(tp), self.pos[tp]), (tp, got, before.get(tp), self.pos[tp])
            if got is not None:
                self.committed[tp] = got

    @invariant()
    def consistent(self):
        if not hasattr(self, "consumer"):
            return
        self.consumer._check()
        assert self.consumer.assignment() == set(self.pos)
        assert self.consumer.paused() == self.paused
        for tp in TPS:
            assert self._part(tp).end_offset == len(self.data[tp])
            assert self.consumer.committed(tp) == self.committed.get(tp)


ConsumerMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_consumer_state_machine = ConsumerMachine.TestCase
