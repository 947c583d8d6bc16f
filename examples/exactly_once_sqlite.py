"""Exactly-once processing into SQLite: results and consumed offsets in one transaction.

The consumer's position is stored in the same SQLite database as the processing results,
in the same transaction, instead of in the log's offset store. After a crash at any point,
the database holds either both the results of a record and the position past it, or
neither; on restart the consumer seeks to the stored position, so every record is
applied exactly once.

Run:  python examples/exactly_once_sqlite.py [log directory]
"""
import sqlite3
import sys
import tempfile

import eventlog
from eventlog import TopicPartition
from eventlog.clients.serde import json_deserializer, json_serializer

path = sys.argv[1] if len(sys.argv) > 1 else tempfile.mkdtemp(prefix="eventlog-eos-")
db = sqlite3.connect(f"{path}/results.db", isolation_level=None)
db.executescript("""
    CREATE TABLE IF NOT EXISTS balances (account TEXT PRIMARY KEY, amount INTEGER NOT NULL);
    CREATE TABLE IF NOT EXISTS offsets (topic TEXT, partition INTEGER, next_offset INTEGER,
                                        PRIMARY KEY (topic, partition));
""")


def stored_positions(tps):
    rows = db.execute("SELECT topic, partition, next_offset FROM offsets").fetchall()
    have = {TopicPartition(t, p): o for t, p, o in rows}
    return {tp: have.get(tp) for tp in tps}


def process_batch(records):
    """Apply a batch of records and store the next offsets, all in one transaction."""
    db.execute("BEGIN IMMEDIATE")
    try:
        nxt = {}
        for r in records:
            db.execute("INSERT INTO balances VALUES (?, ?) ON CONFLICT(account) "
                       "DO UPDATE SET amount = amount + excluded.amount",
                       (r.value["account"], r.value["amount"]))
            nxt[(r.topic, r.partition)] = r.offset + 1
        db.executemany("INSERT OR REPLACE INTO offsets VALUES (?, ?, ?)",
                       [(t, p, o) for (t, p), o in nxt.items()])
        db.execute("COMMIT")
    except BaseException:
        db.execute("ROLLBACK")
        raise


with eventlog.open(path) as log:
    if "payments" not in log.topics():
        log.create_topic("payments", partitions=2)
    with log.producer(value_serializer=json_serializer) as producer:
        for i in range(100):
            producer.send("payments", key=f"acct-{i % 4}".encode(), value={"account": f"acct-{i % 4}", "amount": 1})

    tps = [TopicPartition("payments", p) for p in range(2)]
    for run in range(2):  # the second run finds nothing new: nothing is applied twice
        with log.consumer(group_id=None, auto_offset_reset="earliest",
                          value_deserializer=json_deserializer) as consumer:
            consumer.assign(tps)
            for tp, offset in stored_positions(tps).items():
                if offset is not None:
                    consumer.seek(tp, offset)  # resume from the database, not the log
            applied = 0
            while records := consumer.poll(timeout=0.3):
                process_batch(records)
                applied += len(records)
        print(f"run {run}: applied {applied} records")

print("balances:", dict(db.execute("SELECT account, amount FROM balances ORDER BY account").fetchall()))
