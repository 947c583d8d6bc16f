"""Exactly-once consume-transform-produce with a transactional producer.

A worker reads "orders", writes one "enriched" record per order and commits its input
offsets in the same transaction. Whatever happens to the worker (an exception, kill -9), a
read_committed consumer of "enriched" sees each order's result exactly once: a transaction
the worker did not finish is aborted by its next incarnation's init_transactions() (or by
anyone after transaction_timeout_ms), and its input offsets were not committed, so the next
incarnation processes those orders again.

Run:  python examples/transactions.py [log directory]
"""
import sys
import tempfile

import eventlog
from eventlog import TopicPartition

path = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="eventlog-txn-")
log = eventlog.open(path)
if "orders" not in log.topics():
    log.create_topic("orders", partitions=2)
    log.create_topic("enriched", partitions=2)
    with log.producer() as p:
        for i in range(10):
            p.send("orders", key=b"customer-%d" % (i % 3), value=b"order-%d" % i)


def run_worker(fail_after=None):
    """Process orders in transactions of up to 4; raise after `fail_after` transactions."""
    producer = log.producer(transactional_id="enricher-1")
    producer.init_transactions()  # fences an older "enricher-1", finishes what it left
    consumer = log.consumer(group_id="enricher", auto_offset_reset="earliest", enable_auto_commit=False,
                            isolation_level="read_committed")
    consumer.subscribe(["orders"])
    done = 0
    try:
        while True:
            records = consumer.poll(1.0, max_records=4)
            if not records:
                return
            producer.begin_transaction()
            for r in records:
                producer.send("enriched", key=r.key, value=r.value + b" (enriched)")
            producer.send_offsets_to_transaction(
                {TopicPartition(r.topic, r.partition): r.offset + 1 for r in records},
                consumer.group_metadata())
            if fail_after is not None and done == fail_after:
                producer.flush()  # written, but never committed
                raise RuntimeError("worker crashed mid-transaction")
            producer.commit_transaction()
            done += 1
    finally:
        consumer.close(autocommit=False)
        producer.close()


try:
    run_worker(fail_after=1)
except RuntimeError as e:
    print("first worker:", e)
run_worker()  # the next incarnation aborts the open transaction and goes on

for isolation in ("read_uncommitted", "read_committed"):
    c = log.consumer(auto_offset_reset="earliest", isolation_level=isolation)
    c.assign([TopicPartition("enriched", p) for p in range(2)])
    values = sorted(r.value for r in c.poll(1.0, max_records=1000))
    c.close()
    print(f"{isolation}: {len(values)} records, {len(set(values))} distinct")
log.close()
