"""Model-checked producer: a hypothesis state machine sends records (random topics,
partitions, keys, sizes, headers), flushes, moves the producer's clock past linger_ms and
closes, checking `Producer._check()` (its accounting invariants) and the partitions'
writer invariants after every step, and at the end that every acknowledged record is in
the log, in send order per partition, with the offset its future gave."""
import shutil
import tempfile

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

import pytest

import eventlog
from eventlog.errors import ProducerClosedError
from eventlog._os.clock import ManualClock

TOPICS = {"a": 1, "b": 3}


class ProducerMachine(RuleBasedStateMachine):
    @initialize(linger_ms=st.sampled_from([0, 5, 50]), batch_size=st.sampled_from([1, 200, 4096]))
    def open(self, linger_ms, batch_size):
        self.dir = tempfile.mkdtemp(prefix="el-prod-sm-")
        self.clock = ManualClock()
        self.log = eventlog.open(self.dir, clock=self.clock)
        for name, n in TOPICS.items():
            self.log.create_topic(name, partitions=n, segment_bytes=4096, retention_ms=None)
        self.producer = self.log.producer(linger_ms=linger_ms, batch_size=batch_size)
        self.sent = []          # (topic, value, key, headers, future), in send order
        self.closed = False

    @precondition(lambda self: not self.closed)
    @rule(topic=st.sampled_from(sorted(TOPICS)), partition=st.none() | st.integers(0, 2),
          key=st.none() | st.binary(max_size=8), size=st.integers(0, 700),
          headers=st.booleans(), tag=st.integers(0, 10**6))
    def send(self, topic, partition, key, size, headers, tag):
        if partition is not None and partition >= TOPICS[topic]:
            partition = None
        value = tag.to_bytes(4, "big") + bytes(size)
        hs = [("h", str(tag).encode())] if headers else None
        fut = self.producer.send(topic, value, key=key, headers=hs, partition=partition)
        self.sent.append((topic, partition, value, key, tuple(hs or ()), fut))

    @precondition(lambda self: not self.closed)
    @rule()
    def flush(self):
        self.producer.flush(timeout=60)
        assert all(f.done() for *_, f in self.sent)

    @precondition(lambda self: not self.closed)
    @rule(seconds=st.sampled_from([0.001, 0.01, 0.1]))
    def advance_clock(self, seconds):
        self.clock.advance(seconds)

    @precondition(lambda self: not self.closed)
    @rule()
    def close(self):
        self.producer.close(timeout=60)
        self.closed = True

    @precondition(lambda self: self.closed)
    @rule(topic=st.sampled_from(sorted(TOPICS)))
    def send_after_close_is_refused(self, topic):
        with pytest.raises(ProducerClosedError):
            self.producer.send(topic, b"late")

    @invariant()
    def producer_invariants(self):
        if hasattr(self, "producer"):
            self.producer._check()
            for name in TOPICS:
                for p in self.log.topic(name).partitions:
                    p._check()

    def teardown(self):
        if not hasattr(self, "producer"):
            return
        try:
            self.producer.close(timeout=60)
            self.producer._check()
            by_tp = {}
            for topic, partition, value, key, hs, fut in self.sent:
                md = fut.result(timeout=0)   # every record is acknowledged after close
                if partition is not None:
                    assert md.partition == partition
                by_tp.setdefault((md.topic, md.partition), []).append((md.offset, key, value, hs))
            for (topic, part), expected in by_tp.items():
                offsets = [e[0] for e in expected]
                assert offsets == sorted(offsets) and len(set(offsets)) == len(offsets)  # send order
                p = self.log.topic(topic).partition(part)
                got = []
                while len(got) < p.end_offset:
                    got += p.read(len(got), 1000)
                assert [(r.offset, r.key, r.value, tuple(r.headers)) for r in got] == expected
            # nothing else was written
            total = sum(p.end_offset for n in TOPICS for p in self.log.topic(n).partitions)
            assert total == len(self.sent)
        finally:
            self.log.close()
            shutil.rmtree(self.dir, ignore_errors=True)


ProducerMachine.TestCase.settings = settings(
    max_examples=40, stateful_step_count=30, deadline=None,
    suppress_health_check=[HealthCheck.too_slow])
test_producer_state_machine = ProducerMachine.TestCase
