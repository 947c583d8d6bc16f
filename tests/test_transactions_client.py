"""TransactionalProducer details the client facades rely on: init_transactions(timeout) while
another process holds the transactional id's lock, and a transaction that sent nothing ending
without the coordinator (as Kafka's clients end it, so a fenced producer's empty commit passes)."""
import subprocess
import sys

import pytest

import eventlog
from eventlog.errors import KafkaTimeoutError, ProducerFencedError

HOLD_LOCK = """
import sys, eventlog
log = eventlog.open(sys.argv[1])
with log.transaction_coordinator().held(sys.argv[2]):
    print("held", flush=True)
    sys.stdin.read()
"""


@pytest.fixture
def log(tmp_path):
    lg = eventlog.open(tmp_path / "log")
    lg.create_topic("t", partitions=1)
    yield lg
    lg.close()


def test_init_transactions_times_out_while_the_lock_is_held_elsewhere_and_can_be_retried(log):
    holder = subprocess.Popen([sys.executable, "-c", HOLD_LOCK, log.path, "busy"],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    p = log.producer(transactional_id="busy")
    try:
        assert holder.stdout.readline().strip() == "held"
        with pytest.raises(KafkaTimeoutError, match="'busy' was busy"):
            p.init_transactions(timeout=0.1)
        assert p.producer_id is None
    finally:
        holder.stdin.close()
        holder.wait(30)
    p.init_transactions(timeout=10)
    assert p.producer_id is not None
    with pytest.raises(eventlog.errors.InvalidArgumentError, match="timeout"):
        log.producer(transactional_id="other").init_transactions(timeout=-1)
    p.close()


def test_a_transaction_that_sent_nothing_ends_without_the_coordinator(log):
    old = log.producer(transactional_id="tx")
    old.init_transactions()
    old.begin_transaction()
    new = log.producer(transactional_id="tx")
    new.init_transactions()                   # fences `old`
    old.commit_transaction()                  # empty: ends locally, as in Kafka's clients
    old.begin_transaction()
    old.abort_transaction()
    old.begin_transaction()
    old.send("t", value=b"x")
    with pytest.raises(ProducerFencedError):
        old.commit_transaction()
    assert log.transaction_coordinator().load("tx")["state"] == "EMPTY"
    old.close()
    new.close()
